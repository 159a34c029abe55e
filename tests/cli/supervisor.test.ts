// The demo's supervisor on real child processes (`node -e` scripts that stay up or exit at once):
// dead children are reported in one line and restarted with backoff, the others keep running,
// a child that keeps dying right after start is given up on, and stopping wins over a restart.
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { spawnChild } from '../../cli/childProcess.ts';
import { restartDelay, Supervised, type SupervisorOptions } from '../../cli/supervisor.ts';

const STAYS_UP = "console.log('ready'); setInterval(() => {}, 1 << 30);";
const DIES_AT_ONCE = 'process.exit(3);';

const running: Supervised[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((s) => s.stop(1000)));
});

function harness(overrides: Partial<SupervisorOptions> = {}) {
  const lines: string[] = [];
  let clock = 0;
  const options: SupervisorOptions = {
    initialDelayMs: 100,
    maxDelayMs: 1000,
    stableAfterMs: 60_000,
    maxQuickRestarts: 3,
    random: () => 0.5,
    now: () => clock,
    log: createLogger('demo', { write: (line) => lines.push(line) }),
    ...overrides,
  };
  const supervise = (name: string, scripts: (run: number) => string) => {
    let runs = 0;
    const spawned: number[] = [];
    const supervised = new Supervised(
      name,
      () => {
        runs += 1;
        const child = spawnChild(name, process.execPath, ['-e', scripts(runs)], {}, () => {});
        if (child.pid !== undefined) spawned.push(child.pid);
        return child;
      },
      /^ready$/,
      options,
    );
    running.push(supervised);
    return { supervised, spawned };
  };
  return {
    lines,
    supervise,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

/** Kills the running process and waits until the supervisor has a new one up and ready. */
async function killAndAwaitRestart(
  s: { supervised: Supervised; spawned: number[] },
  signal: NodeJS.Signals = 'SIGKILL',
): Promise<void> {
  const before = s.spawned.length;
  process.kill(s.supervised.current?.pid as number, signal);
  await expect.poll(() => s.spawned.length, { timeout: 30_000 }).toBe(before + 1);
  await s.supervised.current?.waitForLine(/^ready$/);
}

describe('restartDelay', () => {
  it('doubles from the initial delay, caps it, and spreads it by ±20%', () => {
    const options = { initialDelayMs: 1000, maxDelayMs: 30_000 };
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => restartDelay(n, options, () => 0.5))).toEqual([
      1000, 2000, 4000, 8000, 16_000, 30_000, 30_000,
    ]);
    expect(restartDelay(1, options, () => 0)).toBe(800);
    expect(restartDelay(1, options, () => 0.999_999)).toBe(1200);
    // The spread never goes past the cap.
    expect(restartDelay(9, options, () => 0.999_999)).toBe(30_000);
  });
});

describe('Supervised', () => {
  it('reports a dead child in one line and restarts it, while the others keep running', async () => {
    const h = harness();
    const a = h.supervise('node-a', () => STAYS_UP);
    const b = h.supervise('node-b', () => STAYS_UP);
    await Promise.all([a.supervised.ready, b.supervised.ready]);
    const [firstA] = a.spawned;
    const [firstB] = b.spawned;

    await killAndAwaitRestart(a);
    expect(a.spawned).toHaveLength(2);
    expect(a.supervised.current?.pid).toBe(a.spawned[1]);
    const reports = h.lines.filter((l) => l.includes('exited'));
    expect(reports).toEqual([
      `[demo] warn: node-a (pid ${firstA}) exited unexpectedly (killed by SIGKILL) after 0.0 s; restarting it in 0.1 s`,
    ]);
    // Every start names its pid: what an operator needs to find (or kill) a process.
    expect(h.lines).toContain(`[demo] node-a pid ${a.spawned[1]}`);
    expect(h.lines).toContain(`[demo] node-b pid ${firstB}`);
    expect(b.spawned).toEqual([firstB]);
    expect(b.supervised.current?.pid).toBe(firstB);

    // A clean exit nobody asked for (an operator's plain `kill`) is a death too.
    await killAndAwaitRestart(a, 'SIGTERM');
    expect(h.lines.filter((l) => l.includes('exited')).at(-1)).toContain('(killed by SIGTERM)');
  });

  it('doubles the delay for each quick death and starts over after a healthy run', async () => {
    const h = harness({ stableAfterMs: 10_000 });
    const a = h.supervise('node-a', () => STAYS_UP);
    await a.supervised.ready;
    await killAndAwaitRestart(a);
    await killAndAwaitRestart(a);
    h.advance(10_000);
    await killAndAwaitRestart(a);
    expect(
      h.lines
        .filter((l) => l.includes('exited'))
        .map((l) => /restarting it in (\S+ s)/.exec(l)?.[1]),
    ).toEqual(['0.1 s', '0.2 s', '0.1 s']);
  });

  it('gives up on a child that keeps dying right after start, in one line, and keeps the others', async () => {
    const h = harness({ maxQuickRestarts: 2 });
    const a = h.supervise('node-a', (run) => (run === 1 ? STAYS_UP : DIES_AT_ONCE));
    const b = h.supervise('node-b', () => STAYS_UP);
    await Promise.all([a.supervised.ready, b.supervised.ready]);
    process.kill(a.supervised.current?.pid as number, 'SIGKILL');

    await expect.poll(() => a.supervised.gaveUp, { timeout: 30_000 }).toBe(true);
    // The first run and two restarts, no more.
    expect(a.spawned).toHaveLength(3);
    expect(a.supervised.current).toBeUndefined();
    const givenUp = h.lines.filter((l) => l.includes('giving up'));
    expect(givenUp).toHaveLength(1);
    expect(givenUp[0]).toMatch(
      /^\[demo\] error: node-a \(pid \d+\) exited unexpectedly \(exit code 3\) after 0\.0 s; giving up on it: it died within 60\.0 s of starting 3 times in a row\. The other processes keep serving\.$/,
    );
    expect(b.supervised.current?.pid).toBe(b.spawned[0]);
  });

  it('stops a child waiting for its restart: nothing is started again', async () => {
    const h = harness({ initialDelayMs: 60_000, maxDelayMs: 60_000 });
    const a = h.supervise('node-a', () => STAYS_UP);
    await a.supervised.ready;
    process.kill(a.supervised.current?.pid as number, 'SIGKILL');
    await expect
      .poll(() => h.lines.some((l) => l.includes('restarting it in 60.0 s')), { timeout: 30_000 })
      .toBe(true);

    // Resolves at once (the test would time out on a 60 s wait), with no process started.
    await a.supervised.stop();
    expect(a.spawned).toHaveLength(1);
    expect(a.supervised.current).toBeUndefined();
  });

  it('stops a running child without restarting it', async () => {
    const h = harness();
    const a = h.supervise('node-a', () => STAYS_UP);
    await a.supervised.ready;
    const child = a.supervised.current;
    await a.supervised.stop();
    expect(await child?.exited).toBe('SIGTERM');
    expect(a.spawned).toHaveLength(1);
    expect(h.lines.filter((l) => l.includes('exited'))).toEqual([]);
  });

  it('leaves a first run that dies before it is ready to the caller: no restart', async () => {
    const h = harness();
    const a = h.supervise('central', () => DIES_AT_ONCE);
    await expect(a.supervised.ready).rejects.toThrow('central exited before it was ready');
    expect(a.spawned).toHaveLength(1);
    expect(h.lines.filter((l) => l.includes('exited'))).toEqual([]);
  });
});
