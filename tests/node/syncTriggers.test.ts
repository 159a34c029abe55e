// The node's sync plumbing around the puller, each with its real collaborators: change detection
// on a real message store, the job listener over a real HTTP event stream.
import { createServer, type ServerResponse } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { SYNC_JOBS_PATH, type SyncJob } from '../../lib/syncProtocol.ts';
import {
  CentralUnavailableError,
  createCentralClient,
} from '../../subgraphs/node/centralClient.ts';
import { openNodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../../subgraphs/node/messageStore.ts';
import { startChangeNotifier } from '../../subgraphs/node/sync/changeNotifier.ts';
import { readEvents, startJobListener } from '../../subgraphs/node/sync/jobListener.ts';
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

async function newStore(): Promise<{ store: MessageStore; events: MessageEvents }> {
  const dir = await leftovers.tempDir('switchboard-notifier-');
  const db = leftovers.add(openNodeDb(`${dir}/n.sqlite`), (d) => d.close());
  const events = new MessageEvents(silentLogger);
  const clock = new HybridLogicalClock({ nodeId: 'node-n' });
  return { store: new MessageStore({ db: db.db, clock, events }), events };
}

describe('change notifier', () => {
  it('sends the rooms of local writes once per debounce window, never versions from peers', async () => {
    const { store, events } = await newStore();
    const calls: string[][] = [];
    let waiter = waitUntil(() => calls.length >= 1);
    const notifier = startChangeNotifier({
      events,
      central: {
        roomsChanged: (roomIds) => {
          calls.push([...roomIds].sort());
          waiter.changed();
          return Promise.resolve();
        },
      },
      log: silentLogger,
      debounceMs: 50,
    });
    leftovers.defer(() => notifier.close());

    const m = store.post({ roomId: 'r1', senderId: 'u', content: 'one' });
    store.post({ roomId: 'r2', senderId: 'u', content: 'two' });
    store.edit(m.id, 'one, edited');
    // Applied from a peer: not a local change, nothing to tell central.
    const other = await newStore();
    const remote = other.store.post({ roomId: 'r3', senderId: 'u', content: 'from a peer' });
    store.applyRemote([remote]);
    await waiter.promise;
    expect(calls).toEqual([['r1', 'r2']]);

    waiter = waitUntil(() => calls.length >= 2);
    store.delete(m.id);
    await waiter.promise;
    expect(calls[1]).toEqual(['r1']);
  });

  it('keeps the rooms of a failed call and sends them with the next write; the write never fails', async () => {
    const { store, events } = await newStore();
    const calls: string[][] = [];
    let failing = true;
    let attempted: () => void = () => {};
    const firstAttempt = new Promise<void>((resolve) => (attempted = resolve));
    const sent = waitUntil(() => calls.length >= 1);
    const notifier = startChangeNotifier({
      events,
      central: {
        roomsChanged: (roomIds) => {
          attempted();
          if (failing) return Promise.reject(new CentralUnavailableError('central is down (test)'));
          calls.push([...roomIds].sort());
          sent.changed();
          return Promise.resolve();
        },
      },
      log: silentLogger,
      debounceMs: 5,
      // Far away: the retry this test sees is the one the next write triggers.
      retryMs: 60_000,
    });
    leftovers.defer(() => notifier.close());

    const first = store.post({ roomId: 'lost-1', senderId: 'u', content: 'while central is down' });
    expect(store.get(first.id)?.content).toBe('while central is down');
    await firstAttempt;
    // Let the failed call settle before central comes back.
    await new Promise((resolve) => setImmediate(resolve));
    failing = false;
    store.post({ roomId: 'later', senderId: 'u', content: 'central is back' });
    await sent.promise;
    expect(calls).toEqual([['later', 'lost-1']]);
  });

  it('retries a failed call after retryMs without any new write', async () => {
    const { store, events } = await newStore();
    let attempts = 0;
    const done = waitUntil(() => attempts >= 2);
    const notifier = startChangeNotifier({
      events,
      central: {
        roomsChanged: () => {
          attempts += 1;
          done.changed();
          return attempts === 1
            ? Promise.reject(new CentralUnavailableError('central is down (test)'))
            : Promise.resolve();
        },
      },
      log: silentLogger,
      debounceMs: 1,
      retryMs: 20,
    });
    leftovers.defer(() => notifier.close());
    store.post({ roomId: 'r', senderId: 'u', content: 'x' });
    await done.promise;
    expect(attempts).toBe(2);
  });
});

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
    const received = (n: number) => waitUntil(() => jobs.length >= n);
    let waiting = received(2);
    let open = new Promise<void>((resolve) => (connected = resolve));
    const listener = startJobListener({
      central,
      onJob: (j) => {
        jobs.push(j);
        waiting.changed();
      },
      log: silentLogger,
      minBackoffMs: 5,
    });
    leftovers.defer(() => listener.close());

    await open;
    const stream = streams[0]!;
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
