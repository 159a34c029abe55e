// The sessions' client of a source's feed, against a real HTTP server that misbehaves the way a
// busy source's sockets do: a connection dropped under a read is tried again, a refused one not.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PullTokens,
  SourceClient,
  SourceDropped,
  SourceError,
} from '../../subgraphs/node/sync/sourceClient.ts';

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(
    servers.splice(0).map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
  );
});

/** Destroys the socket of the first `drops` requests, then answers `{ ok: n }`. */
async function flakySource(drops: number): Promise<{ url: string; requests: () => number }> {
  let requests = 0;
  const server = createServer((request, response) => {
    requests += 1;
    if (requests <= drops) {
      request.socket.destroy();
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ ok: requests }));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, requests: () => requests };
}

function client(sourceUrl: string): SourceClient {
  const tokens = new PullTokens({
    central: { pullToken: () => Promise.reject(new Error('not asked: the token lasts')) },
    sourceNodeId: 'source',
    roomIds: ['room'],
    initial: { token: 't', expiresAt: Date.now() + 3_600_000 },
    sourceLabel: 'node-s (source)',
  });
  return new SourceClient({
    sourceUrl,
    sourceLabel: 'node-s (source)',
    tokens,
    signal: new AbortController().signal,
    timeoutMs: 5000,
  });
}

describe('SourceClient.get', () => {
  it('sends a read again when the connection drops under it, and answers with the retry', async () => {
    const source = await flakySource(2);
    await expect(client(source.url).get('/internal/sync/digests', 3)).resolves.toEqual({ ok: 3 });
    expect(source.requests()).toBe(3);
  });

  it('gives up after its attempts, saying the connection dropped', async () => {
    const source = await flakySource(5);
    const failure = client(source.url).get('/internal/sync/digests', 2);
    await expect(failure).rejects.toBeInstanceOf(SourceDropped);
    await expect(failure).rejects.toThrow(
      /node-s \(source\) at http:\/\/127\.0\.0\.1:\d+ is unreachable/,
    );
    expect(source.requests()).toBe(2);
  });

  it('does not retry a source that refuses the connection', async () => {
    const source = await flakySource(0);
    const url = source.url;
    await new Promise<void>((resolve) => servers.pop()!.close(() => resolve()));
    const failure = client(url).get('/internal/sync/digests', 3);
    await expect(failure).rejects.toBeInstanceOf(SourceError);
    await expect(failure).rejects.not.toBeInstanceOf(SourceDropped);
  });
});
