import { describe, expect, it } from 'vitest';
import { Backoff, fullJitterDelay } from '../../lib/backoff.js';

/** A fixed sequence of "random" numbers, repeated. */
const sequence = (...values: number[]) => {
  let i = 0;
  return () => values[i++ % values.length] as number;
};

describe('backoff', () => {
  it('full jitter stays within [0, min(max, initial * 2^attempt)]', () => {
    const options = { initialMs: 100, maxMs: 1000 };
    expect(fullJitterDelay(0, { ...options, random: () => 0.999 })).toBe(100);
    expect(fullJitterDelay(3, { ...options, random: () => 0.5 })).toBe(400);
    expect(fullJitterDelay(20, { ...options, random: () => 0.999 })).toBe(999);
    expect(fullJitterDelay(5000, { ...options, random: () => 0.999 })).toBe(999);
    expect(fullJitterDelay(2, { ...options, random: () => 0 })).toBe(0);
  });

  it('decorrelated jitter never goes below the first delay nor above the cap', () => {
    const backoff = new Backoff({ initialMs: 200, maxMs: 5000 });
    const delays = Array.from({ length: 200 }, () => backoff.next());
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(200);
    expect(Math.max(...delays)).toBeLessThanOrEqual(5000);
    // With random numbers, clients that fail together do not retry on the same schedule.
    const other = new Backoff({ initialMs: 200, maxMs: 5000 });
    expect(Array.from({ length: 20 }, () => other.next())).not.toEqual(delays.slice(0, 20));
  });

  it('decorrelated jitter grows from the previous delay, up to three times it', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => 0.999999 });
    expect([backoff.next(), backoff.next(), backoff.next(), backoff.next()]).toEqual([
      300, 900, 2700, 8100,
    ]);
    expect(backoff.next()).toBe(10_000);
    expect(backoff.attempts).toBe(5);
  });

  it('reset after a success starts again from the first delay', () => {
    const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, random: sequence(0.999999) });
    backoff.next();
    backoff.next();
    backoff.reset();
    expect(backoff.attempts).toBe(0);
    expect(backoff.next()).toBe(300);
  });

  it('full jitter through the class grows with the attempts and resets', () => {
    const backoff = new Backoff({
      initialMs: 50,
      maxMs: 400,
      jitter: 'full',
      random: () => 0.999999,
    });
    expect([
      backoff.next(),
      backoff.next(),
      backoff.next(),
      backoff.next(),
      backoff.next(),
    ]).toEqual([50, 100, 200, 400, 400]);
    backoff.reset();
    expect(backoff.next()).toBe(50);
  });

  it('refuses a cap below the first delay', () => {
    expect(() => new Backoff({ initialMs: 500, maxMs: 100 })).toThrow(RangeError);
    expect(() => new Backoff({ initialMs: 0, maxMs: 100 })).toThrow(RangeError);
  });
});
