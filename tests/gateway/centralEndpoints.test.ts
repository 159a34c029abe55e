// Several centrals behind one `--central-url` (lib/centralEndpoints.ts): the list is checked at
// start with a reason naming the entry at fault, and the choice of central is sticky, moves on
// connection failures, timeouts and 5xx (never on a 4xx), sends a request that must not be
// repeated elsewhere only when it never left, and backs off with jitter between full rounds.
import { describe, expect, it } from 'vitest';
import { CentralEndpoints, parseCentralUrls } from '../../lib/centralEndpoints.ts';
import { ConfigError, parseConfig } from '../../lib/config.ts';
import { gatewayOptions } from '../../gateway/index.ts';
import { nodeOptions } from '../../subgraphs/node/index.ts';

const refused = () => {
  const error = new TypeError('fetch failed', {
    cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
  });
  return Promise.reject(error);
};
const reset = () =>
  Promise.reject(
    new TypeError('fetch failed', {
      cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }),
    }),
  );
class Answer extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
  }
}
const answered = (error: unknown) => error instanceof Answer && error.status < 500;

describe('--central-url', () => {
  it('takes one URL or several, comma-separated, as base URLs', () => {
    expect(parseCentralUrls('http://c1:4001')).toEqual(['http://c1:4001']);
    expect(parseCentralUrls(' http://c1:4001/ , https://c2.example ')).toEqual([
      'http://c1:4001',
      'https://c2.example',
    ]);
    const gateway = parseConfig(
      gatewayOptions,
      ['--central-url', 'http://c1:4001,http://c2:4001', '--gateway-secret', 'x'.repeat(16)],
      {},
    );
    expect(gateway.centralUrl).toBe('http://c1:4001,http://c2:4001');
    const node = parseConfig(nodeOptions, ['--name', 'n', '--api-key', 'k'], {
      SWITCHBOARD_CENTRAL_URL: 'http://c1:4001,http://c2:4001/',
    });
    expect(node.centralUrl).toBe('http://c1:4001,http://c2:4001');
  });

  it.each([
    ['http://c1:4001,,http://c2:4001', 'has an empty entry'],
    ['http://c1:4001,', 'has an empty entry'],
    ['c1:4001', 'is not an http(s) URL'],
    ['not a url', 'is not a URL'],
    ['ftp://c1', 'is not an http(s) URL'],
    ['http://c1:4001/central', 'must be a base URL'],
    ['http://c1:4001?x=1', 'must be a base URL'],
    ['http://c1:4001,http://c1:4001/', 'names http://c1:4001 twice'],
  ])('refuses %j at start with a one-line reason', (raw, reason) => {
    expect(() => parseCentralUrls(raw)).toThrow(ConfigError);
    expect(() => parseCentralUrls(raw)).toThrow(reason);
    expect(() =>
      parseConfig(gatewayOptions, ['--central-url', raw, '--gateway-secret', 'x'.repeat(16)], {}),
    ).toThrow(`--central-url`);
  });
});

describe('CentralEndpoints', () => {
  const urls = ['http://c1:1', 'http://c2:2', 'http://c3:3'];

  it('stays on the central that answers and moves on a failure, for every later request', async () => {
    const central = new CentralEndpoints(urls);
    const asked: string[] = [];
    const result = await central.call(
      (url) => {
        asked.push(url);
        return url === 'http://c1:1' ? Promise.reject(new Answer(503)) : Promise.resolve(url);
      },
      { idempotent: true, answered },
    );
    expect(result).toBe('http://c2:2');
    expect(asked).toEqual(['http://c1:1', 'http://c2:2']);
    expect(central.current).toBe('http://c2:2');
    // Sticky: the next request starts at c2, even though c1 may be back.
    asked.length = 0;
    await central.call((url) => (asked.push(url), Promise.resolve(url)), { idempotent: true });
    expect(asked).toEqual(['http://c2:2']);
  });

  it('never moves on a 4xx: it is central answering', async () => {
    const central = new CentralEndpoints(urls);
    const asked: string[] = [];
    await expect(
      central.call((url) => (asked.push(url), Promise.reject(new Answer(400))), {
        idempotent: true,
        answered,
      }),
    ).rejects.toThrow('HTTP 400');
    expect(asked).toEqual(['http://c1:1']);
    expect(central.current).toBe('http://c1:1');
    expect(central.lastAnswerAt).toBeDefined();
  });

  it('sends a request that must not be repeated to the next central only when it never left', async () => {
    const central = new CentralEndpoints(urls);
    const asked: string[] = [];
    // Refused: it never left, so c2 gets it.
    await central.call(
      (url) => (asked.push(url), url === 'http://c1:1' ? refused() : Promise.resolve(url)),
      { idempotent: false },
    );
    expect(asked).toEqual(['http://c1:1', 'http://c2:2']);
    // Reset after it was sent, or a 5xx: c2 may have acted on it. Not repeated, but everyone
    // moves on to c3.
    asked.length = 0;
    await expect(
      central.call((url) => (asked.push(url), reset()), { idempotent: false }),
    ).rejects.toThrow('fetch failed');
    expect(asked).toEqual(['http://c2:2']);
    expect(central.current).toBe('http://c3:3');
  });

  it('fails after one full round, then waits longer between rounds, with jitter', async () => {
    let random = 0;
    const central = new CentralEndpoints(urls, {
      minBackoffMs: 100,
      maxBackoffMs: 1000,
      random: () => random,
    });
    expect(central.retryDelay()).toBe(0);
    const asked: string[] = [];
    await expect(
      central.call((url) => (asked.push(url), refused()), { idempotent: true }),
    ).rejects.toThrow('fetch failed');
    expect(asked).toEqual(urls);
    expect(central.allFailing()).toBe(true);
    expect(central.describeFailures()).toContain('http://c2:2 (fetch failed: connect ECONNREFUSED');
    // Half to all of 100, 200, 400, 800, then 1000 at most.
    const delays = [0, 1, 0, 1, 1, 1].map((r) => {
      // Each pause ends a round: the next one comes once all three failed again.
      for (const url of urls) central.failed(url, 'refused');
      random = r;
      return central.retryDelay();
    });
    expect(central.retryDelay()).toBe(0);
    expect(delays).toEqual([50, 200, 200, 800, 1000, 1000]);
    // One answer ends the outage: no more waiting.
    central.answered('http://c2:2');
    expect(central.allFailing()).toBe(false);
    expect(central.current).toBe('http://c2:2');
    expect(central.retryDelay()).toBe(0);
  });

  it('tells listeners when everyone moves to another central', () => {
    const central = new CentralEndpoints(urls);
    const moves: string[] = [];
    central.onSwitch((url) => moves.push(url));
    central.failed('http://c2:2', 'not current: nothing moves');
    central.failed('http://c1:1', 'timed out');
    // c2 failed last time: c3 is tried before it.
    expect(moves).toEqual(['http://c3:3']);
  });
});
