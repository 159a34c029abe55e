// The pieces of the gateway's health view on their own: the hedged fan-out's rules (who is asked
// when, what is cancelled), the health states and their probes, and log lines per state change.
// Nodes are stand-ins answering when the test says so (deferreds), so no timing is assumed.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { RoutingNode } from '../../gateway/centralLink.ts';
import { hedgedFanout, type FanoutHooks } from '../../gateway/hedgedFanout.ts';
import { NodeHealth, type ProbeResult } from '../../gateway/nodeHealth.ts';
import { NodeUnreachableError, sendToNode } from '../../gateway/nodeClient.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { TransitionLog } from '../../lib/transitionLog.ts';

const node = (name: string): RoutingNode => ({ id: `id-${name}`, name, url: '', status: 'ONLINE' });
const [a, b, c] = [node('a'), node('b'), node('c')] as [RoutingNode, RoutingNode, RoutingNode];

function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function capture(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  return { lines, log: createLogger('test', { level: 'debug', write: (l) => lines.push(l) }) };
}

/** A fan-out whose nodes answer when told; records who was asked and who was cancelled. */
function harness(
  candidates: RoutingNode[][],
  options: { hedgeAfterMs?: (n: RoutingNode) => number; first?: FanoutHooks['first'] } = {},
) {
  const answers = candidates.map(() => [] as string[]);
  const asked: string[] = [];
  const cancelled: string[] = [];
  const calls = new Map<string, ReturnType<typeof deferred<void>>>();
  const askedEvent = new Map<string, ReturnType<typeof deferred<void>>>();
  const eventOf = (name: string) => {
    const d = askedEvent.get(name) ?? deferred<void>();
    askedEvent.set(name, d);
    return d;
  };
  /** Resolves once the node has been asked (already or later). */
  const waitAsked = (name: string) => eventOf(name).promise;
  const done = hedgedFanout(candidates, {
    first: options.first ?? ((list) => list.slice(0, 1)),
    ask: async (n, slots, cancel) => {
      asked.push(n.name);
      const call = deferred<void>();
      calls.set(n.name, call);
      cancel.addEventListener('abort', () => {
        cancelled.push(n.name);
        call.reject(new Error('cancelled'));
      });
      eventOf(n.name).resolve();
      await call.promise;
      for (const slot of slots) answers[slot]?.push(n.name);
    },
    failed: () => {},
    answered: (slot) => (answers[slot]?.length ?? 0) > 0,
    hedgeAfterMs: options.hedgeAfterMs ?? (() => 10),
  });
  return { done, asked, cancelled, answers, answer: (name: string) => calls.get(name), waitAsked };
}

describe('hedged fan-out', () => {
  it('asks the next node when the first is slower than its bound; the first answer wins, the other is cancelled', async () => {
    const h = harness([[a, b]]);
    await h.waitAsked('b'); // only after a's bound passed
    h.answer('b')?.resolve();
    await h.done;
    expect(h.answers[0]).toEqual(['b']);
    expect(h.cancelled).toEqual(['a']);
  });

  it('waits for every node asked while they are within their bound, so their answers merge', async () => {
    const h = harness([[a, b]], { first: (list) => list, hedgeAfterMs: () => 60_000 });
    await h.waitAsked('b');
    h.answer('a')?.resolve();
    let finished = false;
    void h.done.then(() => (finished = true));
    await Promise.resolve();
    expect(finished).toBe(false);
    h.answer('b')?.resolve();
    await h.done;
    expect(h.answers[0]).toEqual(['a', 'b']);
    expect(h.cancelled).toEqual([]);
  });

  it('stops waiting for a node past its bound once another answered', async () => {
    const bounds = new Map([
      [a.id, 60_000],
      [b.id, 5],
    ]);
    const h = harness([[a, b]], {
      first: (list) => list,
      hedgeAfterMs: (n) => bounds.get(n.id) ?? 0,
    });
    await h.waitAsked('b');
    h.answer('a')?.resolve();
    await h.done; // b is past its bound: not waited for
    expect(h.answers[0]).toEqual(['a']);
    expect(h.cancelled).toEqual(['b']);
  });

  it('fails over to the next node when one fails, and gives up when none is left', async () => {
    const h = harness([[a, b, c]], { hedgeAfterMs: () => 60_000 });
    await h.waitAsked('a');
    h.answer('a')?.reject(new Error('refused'));
    await h.waitAsked('b');
    h.answer('b')?.reject(new Error('refused'));
    await h.waitAsked('c');
    h.answer('c')?.reject(new Error('refused'));
    await h.done;
    expect(h.asked).toEqual(['a', 'b', 'c']);
    expect(h.answers[0]).toEqual([]);
  });

  it('hedges only the slots the slow node serves alone, grouped per node', async () => {
    // Slot 0: a then b; slot 1: c alone (nothing to hedge to).
    const h = harness([[a, b], [c]], { hedgeAfterMs: (n) => (n === a ? 5 : 60_000) });
    await h.waitAsked('b');
    h.answer('b')?.resolve();
    h.answer('c')?.resolve();
    await h.done;
    expect(h.answers).toEqual([['b'], ['c']]);
    expect(h.cancelled).toEqual(['a']);
  });
});

describe('node health', () => {
  function healthWith(probe: (id: string) => Promise<ProbeResult>) {
    const { log, lines } = capture();
    const health = new NodeHealth({ probe, log, probeIntervalMs: 1 });
    health.track(a.id, 'a');
    return { health, lines };
  }

  it('marks a node down at its first failure, logs it once however often it fails, and takes it back on a probe', async () => {
    const probed = deferred<void>();
    const result = deferred<ProbeResult>();
    const { health, lines } = healthWith(() => {
      probed.resolve();
      return result.promise;
    });
    for (let i = 0; i < 50; i++) health.failed(a.id, 'down', 'unreachable');
    expect(health.state(a.id)).toBe('down');
    await probed.promise;
    result.resolve('ok');
    await expect.poll(() => health.state(a.id)).toBe('healthy');
    expect(lines).toEqual([
      expect.stringMatching(/node a down \(unreachable\)/),
      expect.stringMatching(/node a healthy again .*probe/),
    ]);
    health.close();
  });

  it('turns a suspect (slow) node down when it does not answer its probe either', async () => {
    const { health, lines } = healthWith(() => Promise.resolve('failed'));
    health.failed(a.id, 'suspect', 'slower than 300 ms');
    await expect.poll(() => health.state(a.id)).toBe('down');
    expect(lines.at(-1)).toMatch(/node a down \(no answer to a health probe\)/);
    health.close();
  });

  it('hedges after the p95 of recent answers, within the clamps', () => {
    const { health } = healthWith(() => Promise.resolve('ok'));
    expect(health.hedgeAfterMs(a.id)).toBe(300); // too few answers yet: the upper clamp
    for (let i = 1; i <= 100; i++) health.answered(a.id, i);
    expect(health.hedgeAfterMs(a.id)).toBe(95);
    for (let i = 0; i < 100; i++) health.answered(a.id, 1);
    expect(health.hedgeAfterMs(a.id)).toBe(50);
    for (let i = 0; i < 100; i++) health.answered(a.id, 5000);
    expect(health.hedgeAfterMs(a.id)).toBe(300);
    health.close();
  });
});

describe('transition log', () => {
  it('writes one line when a source starts failing and one when it recovers', () => {
    const { log, lines } = capture();
    const feeds = new TransitionLog(log);
    for (let i = 0; i < 169; i++) feeds.failing('node-a', 'feeds from node-a end');
    feeds.failing('node-b', 'feeds from node-b end');
    feeds.recovered('node-a', 'feeds from node-a deliver again');
    feeds.recovered('node-c', 'never failed');
    expect(lines).toEqual([
      '[test] warn: feeds from node-a end',
      '[test] warn: feeds from node-b end',
      expect.stringMatching(/^\[test\] feeds from node-a deliver again \(after/),
    ]);
  });
});

describe('which failures prove a request never left', () => {
  async function listening(server: Server): Promise<string> {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  async function failureOf(url: string): Promise<NodeUnreachableError> {
    const error = await sendToNode({ ...node('x'), url }, { query: '{ __typename }' }, {}, 5000)
      .then(() => undefined)
      .catch((e: unknown) => e);
    if (!(error instanceof NodeUnreachableError)) throw new Error(`no failure: ${String(error)}`);
    return error;
  }

  it('a refused connection: never sent, so a write may go elsewhere', async () => {
    const server = createServer();
    const url = await listening(server);
    await new Promise((resolve) => server.close(resolve));
    const error = await failureOf(url);
    expect(error.kind).toBe('unreachable');
    expect(error.neverSent).toBe(true);
  });

  it('a connection reset after the request went out: maybe applied, never retried', async () => {
    const server = createServer((req) => req.socket.destroy());
    const url = await listening(server);
    try {
      const error = await failureOf(url);
      expect(error.kind).toBe('connection failed');
      expect(error.neverSent).toBe(false);
      expect(error.summary).toBe('x: connection failed');
    } finally {
      server.close();
    }
  });
});
