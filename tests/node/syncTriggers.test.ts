// The node's sync plumbing around the puller, with its real collaborators: the job listener over a
// real HTTP event stream (jobs, and the live peers central names).
import { createServer, type ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { SYNC_JOBS_PATH, type LivePeer, type SyncJob } from '../../lib/syncProtocol.ts';
import { createCentralClient } from '../../subgraphs/node/centralClient.ts';
import { readEvents } from '../../lib/sseReader.ts';
import { startJobListener } from '../../subgraphs/node/sync/jobListener.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

/** Resolves once `check` holds, re-checking whenever `changed` is called. */
function waitUntil(check: () => boolean): { promise: Promise<void>; changed: () => void } {
  let resolve: () => void = () => {};
  const promise = new Promise<void>((r) => (resolve = r));
  const changed = () => {
    if (check()) resolve();
  };
  return { promise, changed };
}

describe('job listener', () => {
  function job(sessionId: string): SyncJob {
    return {
      sessionId,
      syncType: 'INCREMENTAL',
      sourceNodeId: 'node-s',
      sourceUrl: 'http://127.0.0.1:1',
      roomIds: ['r1'],
      batchSize: 100,
      pullToken: `token-of-${sessionId}`,
      pullTokenExpiresAt: 1_800_000_000_000,
    };
  }

  it('hands every job of the stream to the puller, skips malformed ones, reconnects when cut', async () => {
    const streams: ServerResponse[] = [];
    const keys: string[] = [];
    let connected: () => void = () => {};
    // Stands in for central's job stream: the same wire format, written by the test.
    const server = createServer((req, res) => {
      keys.push(String(req.headers[NODE_KEY_HEADER]));
      if (req.url !== SYNC_JOBS_PATH) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      streams.push(res);
      connected();
    });
    const port = await listen(server, 0);
    leftovers.defer(() => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    });
    const central = createCentralClient({
      centralUrl: `http://127.0.0.1:${port}`,
      apiKey: 'sbk_the-nodes-key',
    });

    const jobs: SyncJob[] = [];
    const peerSets: LivePeer[][] = [];
    const received = (n: number) => waitUntil(() => jobs.length >= n);
    let waiting = received(2);
    let open = new Promise<void>((resolve) => (connected = resolve));
    const listener = startJobListener({
      central,
      onJob: (j) => {
        jobs.push(j);
        waiting.changed();
      },
      onPeers: (peers) => peerSets.push([...peers]),
      log: silentLogger,
      minBackoffMs: 5,
    });
    leftovers.defer(() => listener.close());

    await open;
    const stream = streams[0]!;
    const peer: LivePeer = {
      sourceNodeId: 'node-s',
      sourceUrl: 'http://127.0.0.1:1',
      roomIds: ['r1', 'r2'],
      pullToken: 'token-of-the-stream',
      pullTokenExpiresAt: 1_800_000_000_000,
    };
    stream.write(`event: peers\ndata: ${JSON.stringify({ peers: [peer] })}\n\n`);
    // A peer without rooms (or a token) could not be streamed from: the whole event is ignored.
    stream.write(
      `event: peers\ndata: ${JSON.stringify({ peers: [{ ...peer, roomIds: [] }] })}\n\n`,
    );
    stream.write(`event: job\ndata: ${JSON.stringify(job('s-1'))}\n\n`);
    stream.write('event: job\ndata: {"sessionId": 42}\n\n');
    // Without a pull token the job could not be pulled: malformed too.
    const { pullToken: _dropped, ...tokenless } = job('s-tokenless');
    stream.write(`event: job\ndata: ${JSON.stringify(tokenless)}\n\n`);
    stream.write('event: other\ndata: {}\n\n');
    // One event split across writes, with CRLF line ends.
    const text = `event: job\r\ndata: ${JSON.stringify(job('s-2'))}\r\n\r\n`;
    stream.write(text.slice(0, 20));
    stream.write(text.slice(20, text.length - 1));
    stream.write(text.slice(text.length - 1));
    await waiting.promise;
    expect(jobs.map((j) => j.sessionId)).toEqual(['s-1', 's-2']);
    expect(jobs[0]).toEqual(job('s-1'));
    expect(peerSets).toEqual([[peer]]);
    expect(keys).toEqual(['sbk_the-nodes-key']);

    // Central ends the stream (a restart): the listener opens a new one and goes on.
    waiting = received(3);
    open = new Promise<void>((resolve) => (connected = resolve));
    stream.end();
    await open;
    streams[1]!.write(`event: job\ndata: ${JSON.stringify(job('s-3'))}\n\n`);
    await waiting.promise;
    expect(jobs.map((j) => j.sessionId)).toEqual(['s-1', 's-2', 's-3']);

    // close() ends the stream it holds (central sees the connection go) and reconnects no more.
    const gone = new Promise((resolve) => streams[1]!.on('close', resolve));
    await listener.close();
    await gone;
    expect(streams).toHaveLength(2);
  });

  it('parses multi-line data and ignores comments', async () => {
    const events: Array<[string, string]> = [];
    const body = ': hello\nevent: job\ndata: line 1\ndata: line 2\n\ndata: plain\n\n';
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(body));
        controller.close();
      },
    });
    await readEvents(stream, (event, data) => events.push([event, data]));
    expect(events).toEqual([
      ['job', 'line 1\nline 2'],
      ['message', 'plain'],
    ]);
  });
});
