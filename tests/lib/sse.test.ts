import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readEvents } from '../../lib/sseReader.ts';
import { openSseStream } from '../../lib/sseWriter.ts';

/** A stream that delivers `chunks` as they are, to split fields and line ends anywhere. */
const streamOf = (...chunks: string[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(new TextEncoder().encode(chunk));
      controller.close();
    },
  });

describe('SSE', () => {
  let server: Server;
  let url: string;
  let closed = 0;
  beforeAll(async () => {
    server = createServer((req, res) => {
      const stream = openSseStream(req, res, { keepAliveMs: 10, onClose: () => (closed += 1) });
      stream.send({ text: 'line one\nline two' }, 'job');
      stream.send([1, 2]);
      // Keep-alive comments go out meanwhile; the reader skips them.
      setTimeout(() => stream.end(), 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('reads what the writer sends: named and unnamed events, JSON on one line, comments skipped', async () => {
    const response = await fetch(url);
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events: Array<[string, unknown]> = [];
    await readEvents(response.body!, (event, data) => events.push([event, JSON.parse(data)]));
    expect(events).toEqual([
      ['job', { text: 'line one\nline two' }],
      ['message', [1, 2]],
    ]);
    await expect.poll(() => closed).toBe(1);
  });

  it('reads fields split across chunks, CRLF and CR line ends, multi-line data and ids', async () => {
    const events: Array<[string, string, string | undefined]> = [];
    await readEvents(
      streamOf(
        ': hello\r\n\r\nev',
        'ent: peers\r',
        '\ndata: a\rdata: b\r\nid: 7\n',
        '\n',
        'data: c\n\n',
      ),
      (event, data, id) => events.push([event, data, id]),
    );
    expect(events).toEqual([
      ['peers', 'a\nb', '7'],
      ['message', 'c', undefined],
    ]);
  });
});
