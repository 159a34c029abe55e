import { describe, expect, it } from 'vitest';
import {
  compareHlc,
  decodeHlc,
  encodeHlc,
  HlcDriftError,
  HlcError,
  HybridLogicalClock,
  type HlcTimestamp,
} from '../../subgraphs/node/hlc.ts';

/** A wall clock the test moves by hand. */
function manualClock(start: number) {
  let now = start;
  return {
    now: () => now,
    set: (value: number) => {
      now = value;
    },
  };
}

const T0 = 1_764_000_000_000;

describe('HLC encoding', () => {
  it('round-trips and sorts as strings exactly like (physical, logical, node) tuples', () => {
    const samples: HlcTimestamp[] = [];
    for (const physical of [0, 9, 10, T0, T0 + 1, 999_999_999_999_999]) {
      for (const logical of [0, 1, 9, 10, 99_999_999]) {
        for (const node of ['a', 'b', 'node-10', 'node-9', 'b:with:colons'])
          samples.push({ physical, logical, node });
      }
    }
    for (const ts of samples) expect(decodeHlc(encodeHlc(ts))).toEqual(ts);
    const byTuple = [...samples].sort(
      (x, y) =>
        x.physical - y.physical ||
        x.logical - y.logical ||
        (x.node < y.node ? -1 : x.node > y.node ? 1 : 0),
    );
    const byString = samples.map(encodeHlc).sort(compareHlc);
    expect(byString).toEqual(byTuple.map(encodeHlc));
  });

  it('breaks ties between equal physical and logical parts by node id', () => {
    const a = encodeHlc({ physical: T0, logical: 3, node: 'node-a' });
    const b = encodeHlc({ physical: T0, logical: 3, node: 'node-b' });
    expect(compareHlc(a, b)).toBeLessThan(0);
    expect(compareHlc(b, a)).toBeGreaterThan(0);
    expect(compareHlc(a, a)).toBe(0);
  });

  it('rejects malformed values and out-of-range parts', () => {
    for (const bad of [
      '',
      'x',
      '1:2:n',
      `${'1'.repeat(15)}:${'0'.repeat(8)}:`,
      `${'1'.repeat(16)}:${'0'.repeat(8)}:n`,
    ]) {
      expect(() => decodeHlc(bad)).toThrow(HlcError);
    }
    expect(() => encodeHlc({ physical: -1, logical: 0, node: 'n' })).toThrow(HlcError);
    expect(() => encodeHlc({ physical: 0, logical: 100_000_000, node: 'n' })).toThrow(HlcError);
    expect(() => encodeHlc({ physical: 0, logical: 0, node: '' })).toThrow(HlcError);
  });
});

describe('HybridLogicalClock', () => {
  it('follows the wall clock while it moves forward', () => {
    const wall = manualClock(T0);
    const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
    expect(decodeHlc(clock.now())).toEqual({ physical: T0, logical: 0, node: 'n1' });
    wall.set(T0 + 5);
    expect(decodeHlc(clock.now())).toEqual({ physical: T0 + 5, logical: 0, node: 'n1' });
  });

  it('stays strictly monotonic when the wall clock stands still or runs backwards', () => {
    const wall = manualClock(T0);
    const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
    const issued = [clock.now(), clock.now()];
    wall.set(T0 - 10_000); // NTP stepped the clock back ten seconds
    for (let i = 0; i < 50; i++) issued.push(clock.now());
    wall.set(T0 - 5_000);
    issued.push(clock.now());
    for (let i = 1; i < issued.length; i++)
      expect(compareHlc(issued[i - 1] ?? '', issued[i] ?? '')).toBeLessThan(0);
    // The physical part never went back: the counter carried the order.
    expect(decodeHlc(issued.at(-1) ?? '')).toEqual({ physical: T0, logical: 52, node: 'n1' });
    wall.set(T0 + 1);
    expect(decodeHlc(clock.now())).toEqual({ physical: T0 + 1, logical: 0, node: 'n1' });
  });

  it('borrows the next millisecond rather than overflow its counter', () => {
    const wall = manualClock(T0);
    const clock = new HybridLogicalClock({
      nodeId: 'n1',
      now: wall.now,
      resumeFrom: encodeHlc({ physical: T0, logical: 99_999_999, node: 'n1' }),
    });
    expect(decodeHlc(clock.now())).toEqual({ physical: T0 + 1, logical: 0, node: 'n1' });
  });

  describe('receive', () => {
    const remote = (physical: number, logical: number) =>
      encodeHlc({ physical, logical, node: 'peer' });

    it('jumps to a remote clock that is ahead, and stays ahead of it', () => {
      const wall = manualClock(T0);
      const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
      clock.now();
      const theirs = remote(T0 + 30_000, 7);
      const merged = clock.receive(theirs);
      expect(decodeHlc(merged)).toEqual({ physical: T0 + 30_000, logical: 8, node: 'n1' });
      expect(compareHlc(clock.now(), theirs)).toBeGreaterThan(0);
    });

    it('merges counters when local and remote share the same physical time', () => {
      const wall = manualClock(T0);
      const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
      clock.now();
      clock.now(); // local (T0, 1)
      wall.set(T0 - 100);
      expect(decodeHlc(clock.receive(remote(T0, 5)))).toEqual({
        physical: T0,
        logical: 6,
        node: 'n1',
      });
      expect(decodeHlc(clock.receive(remote(T0, 2)))).toEqual({
        physical: T0,
        logical: 7,
        node: 'n1',
      });
    });

    it('only ticks its counter for a remote clock that is behind', () => {
      const wall = manualClock(T0);
      const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
      clock.now();
      wall.set(T0 - 1); // wall clock behind the last timestamp: the local part wins
      expect(decodeHlc(clock.receive(remote(T0 - 500, 40)))).toEqual({
        physical: T0,
        logical: 1,
        node: 'n1',
      });
    });

    it('takes the wall clock when it is ahead of both', () => {
      const wall = manualClock(T0);
      const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
      clock.now();
      wall.set(T0 + 1_000);
      expect(decodeHlc(clock.receive(remote(T0 + 10, 3)))).toEqual({
        physical: T0 + 1_000,
        logical: 0,
        node: 'n1',
      });
    });

    it('refuses a remote clock further in the future than the bound, leaving the clock unchanged', () => {
      const wall = manualClock(T0);
      const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now });
      const before = clock.now();
      expect(() => clock.receive(remote(T0 + 60_001, 0))).toThrow(HlcDriftError);
      expect(encodeHlc(clock.current)).toBe(before);
      // Exactly at the default bound (60 s) is still accepted.
      expect(decodeHlc(clock.receive(remote(T0 + 60_000, 0))).physical).toBe(T0 + 60_000);
    });

    it('uses the configured bound', () => {
      const wall = manualClock(T0);
      const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now, maxDriftMs: 1_000 });
      const error = (() => {
        try {
          clock.receive(remote(T0 + 1_001, 0));
        } catch (caught) {
          return caught;
        }
        return undefined;
      })();
      expect(error).toBeInstanceOf(HlcDriftError);
      expect((error as HlcDriftError).message).toMatch(/1001 ms ahead.*at most 1000 ms/);
      expect(decodeHlc(clock.receive(remote(T0 + 999, 0))).physical).toBe(T0 + 999);
    });
  });

  it('resumes above the greatest timestamp it had, even if the wall clock went back while it was down', () => {
    const wall = manualClock(T0 - 3_600_000);
    const last = encodeHlc({ physical: T0, logical: 4, node: 'n1' });
    const clock = new HybridLogicalClock({ nodeId: 'n1', now: wall.now, resumeFrom: last });
    expect(compareHlc(clock.now(), last)).toBeGreaterThan(0);
  });
});
