// Writing a text/event-stream (Server-Sent Events): the headers, a first comment so clients know
// the stream is open, a comment every `keepAliveMs` so proxies and clients see it is alive, and
// events whose data is JSON on one line.
import type { IncomingMessage, ServerResponse } from 'node:http';

export interface SseWriterOptions {
  /** Between keep-alive comments. @default 15000 */
  readonly keepAliveMs?: number;
  /** Called once when the client goes away or the stream is ended. */
  readonly onClose?: () => void;
}

export interface SseWriter {
  /** Sends `data` as JSON, under the event name `event` when given; nothing once closed. */
  send(data: unknown, event?: string): void;
  /** Ends the stream from the server's side. */
  end(): void;
  readonly open: boolean;
}

export function openSseStream(
  req: IncomingMessage,
  res: ServerResponse,
  options: SseWriterOptions = {},
): SseWriter {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.write(': connected\n\n');
  let open = true;
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), options.keepAliveMs ?? 15_000);
  keepAlive.unref();
  const stop = () => {
    if (!open) return;
    open = false;
    clearInterval(keepAlive);
    options.onClose?.();
  };
  req.on('close', stop);
  res.on('close', stop);
  return {
    send(data, event) {
      if (!open) return;
      // JSON.stringify escapes newlines inside strings, so the data is always one line.
      res.write(
        `${event === undefined ? '' : `event: ${event}\n`}data: ${JSON.stringify(data)}\n\n`,
      );
    },
    end() {
      res.end();
    },
    get open() {
      return open;
    },
  };
}
