// The limit that bounds scrypt evaluations (lib/concurrencyLimit.ts): never more than `limit`
// tasks at once, waiters start in arrival order, and a raised limit starts waiters at once.
import { describe, expect, it } from 'vitest';
import { ConcurrencyLimit } from '../../lib/concurrencyLimit.ts';

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('ConcurrencyLimit', () => {
  it('runs at most `limit` tasks, then the waiting ones in arrival order', async () => {
    const limit = new ConcurrencyLimit(2);
    const gates = [deferred(), deferred(), deferred(), deferred()];
    const started: number[] = [];
    const runs = gates.map((gate, i) =>
      limit.run(async () => {
        started.push(i);
        await gate.promise;
        return i;
      }),
    );
    await expect.poll(() => started).toEqual([0, 1]);
    expect([limit.running, limit.waiting]).toEqual([2, 2]);
    gates[1]?.resolve();
    await expect.poll(() => started).toEqual([0, 1, 2]);
    expect([limit.running, limit.waiting]).toEqual([2, 1]);
    limit.setLimit(3);
    await expect.poll(() => started).toEqual([0, 1, 2, 3]);
    for (const gate of gates) gate.resolve();
    expect(await Promise.all(runs)).toEqual([0, 1, 2, 3]);
    expect([limit.running, limit.waiting]).toEqual([0, 0]);
  });

  it('frees the slot of a task that fails', async () => {
    const limit = new ConcurrencyLimit(1);
    await expect(limit.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limit.run(() => Promise.resolve('next'))).toBe('next');
    expect(() => new ConcurrencyLimit(0)).toThrow(RangeError);
  });
});
