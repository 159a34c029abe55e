// Reading a text/event-stream (Server-Sent Events, the WHATWG format) with eventsource-parser:
// fields split across chunks, CRLF/CR/LF line ends, comments and multi-line data are its job.

import { createParser } from 'eventsource-parser';

/** One dispatched event; `event` is 'message' when the server named none. */
export interface SseEvent {
  readonly event: string;
  readonly data: string;
  readonly id?: string;
}

/**
 * Reads `stream` to its end and calls `onEvent` per dispatched event, in order. Resolves when the
 * server ends the stream; rejects when reading fails (the connection dropped) or `onEvent` throws.
 */
export async function readEvents(
  stream: ReadableStream<Uint8Array>,
  onEvent: (event: string, data: string, id?: string) => void,
): Promise<void> {
  for await (const event of sseEvents(stream)) onEvent(event.event, event.data, event.id);
}

/** The events of `stream` as they arrive; stopping the iteration releases the stream. */
export async function* sseEvents(stream: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const ready: SseEvent[] = [];
  const parser = createParser({
    onEvent: (message) =>
      ready.push({
        event: message.event ?? 'message',
        data: message.data,
        ...(message.id === undefined ? {} : { id: message.id }),
      }),
  });
  const decoder = new TextDecoder();
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parser.feed(decoder.decode(value, { stream: true }));
      while (ready.length > 0) yield ready.shift() as SseEvent;
    }
  } finally {
    reader.releaseLock();
  }
}
