// How the dashboard keeps the replication chart's data: the first answer covers 15 minutes, later
// ones only the newest buckets; merged, the chart has every bucket of the window, 0/s where a pair
// applied nothing and no lag point where no new message was measured.
import { describe, expect, it } from 'vitest';
import type { ReplicationStats } from '../../gateway/web/src/dashboard/queries.ts';
import {
  chartData,
  describeSkew,
  mergeReplication,
  refetchSince,
} from '../../gateway/web/src/dashboard/replication.ts';

const WINDOW = 15 * 60_000;
const T = Date.parse('2026-12-01T10:00:00.000Z');
const a = { id: 'a', name: 'node-a' };
const b = { id: 'b', name: 'node-b' };
const c = { id: 'c', name: 'node-c' };
const iso = (ms: number) => new Date(ms).toISOString();

function bucket(at: number, versions: number, lag: [number, number] | null = null) {
  return {
    at: iso(at),
    versions,
    versionsPerSecond: versions / 10,
    lagSamples: lag ? versions : 0,
    lagP50Ms: lag?.[0] ?? null,
    lagP99Ms: lag?.[1] ?? null,
  };
}

function answer(since: number, until: number, pairs: ReplicationStats['pairs']): ReplicationStats {
  return { since: iso(since), until: iso(until), bucketSeconds: 10, pairs };
}

describe('replication chart data', () => {
  const first = answer(T - WINDOW, T + 5_000, [
    {
      sourceNode: b,
      targetNode: a,
      buckets: [bucket(T - 60_000, 3, [120, 400])],
    },
    {
      sourceNode: a,
      targetNode: b,
      buckets: [bucket(T - 20_000, 5, [80, 300]), bucket(T, 2)],
    },
  ]);

  it('lays every bucket of the window out per pair, sorted by pair', () => {
    const history = mergeReplication(undefined, first, WINDOW);
    const data = chartData(history, WINDOW);
    expect(data.pairs.map((p) => `${p.sourceNode.name}>${p.targetNode.name}`)).toEqual([
      'node-a>node-b',
      'node-b>node-a',
    ]);
    // 15 minutes of 10 s buckets, both ends included, in seconds.
    expect(data.x).toHaveLength(91);
    expect(data.x.at(-1)).toBe(T / 1000);
    expect(data.x[0]).toBe((T - WINDOW) / 1000);
    const index = (at: number) => data.x.indexOf(at / 1000);
    expect(data.versionsPerSecond[0]?.[index(T - 20_000)]).toBe(0.5);
    expect(data.versionsPerSecond[0]?.[index(T - 10_000)]).toBe(0);
    expect(data.lagP99Ms[0]?.[index(T - 20_000)]).toBe(300);
    // A bucket of edits only: versions, but no lag point.
    expect(data.lagP50Ms[0]?.[index(T)]).toBeNull();
    expect(data.points).toBe(3);
    expect(data.versions).toBe(10);
    expect(data.lagPoints).toBe(2);
  });

  it('takes a refetch of the newest buckets as the truth from its since on', () => {
    const history = mergeReplication(undefined, first, WINDOW);
    const since = refetchSince(history);
    expect(since).toBe(iso(T - 10_000));
    const next = mergeReplication(
      history,
      answer(Date.parse(since), T + 12_000, [
        // a > b's bucket at T grew; b > a is absent: nothing since; a new pair appears.
        { sourceNode: a, targetNode: b, buckets: [bucket(T, 7), bucket(T + 10_000, 1, [50, 50])] },
        { sourceNode: c, targetNode: a, buckets: [bucket(T + 10_000, 4, [10, 20])] },
      ]),
      WINDOW,
    );
    const ab = next.pairs.get('a>b');
    expect(ab?.buckets.get(T)?.versions).toBe(7);
    expect(ab?.buckets.get(T - 20_000)?.versions).toBe(5);
    expect(next.pairs.get('b>a')?.buckets.get(T - 60_000)?.versions).toBe(3);
    expect(next.pairs.get('c>a')?.buckets.size).toBe(1);
    expect(chartData(next, WINDOW).x.at(-1)).toBe((T + 10_000) / 1000);
  });

  it('drops buckets, and then pairs, older than the window', () => {
    const history = mergeReplication(undefined, first, WINDOW);
    const later = mergeReplication(
      history,
      answer(T + WINDOW - 25_000, T + WINDOW - 15_000, []),
      WINDOW,
    );
    // b > a's only bucket (T - 60 s) left the window; a > b's at T - 20 s did too.
    expect([...later.pairs.keys()]).toEqual(['a>b']);
    expect([...(later.pairs.get('a>b')?.buckets.keys() ?? [])]).toEqual([T]);
  });

  it('words a skewed clock for the alert', () => {
    expect(describeSkew({ name: 'node-c', clockOffsetMs: -120_000, clockMaxDriftMs: 60_000 })).toBe(
      "node-c's clock is 120.0 s ahead of central's (allowed: 60.0 s): it refuses writes until it is back within.",
    );
    expect(describeSkew({ name: 'node-c', clockOffsetMs: 90_500, clockMaxDriftMs: null })).toBe(
      "node-c's clock is 90.5 s behind central's: it refuses writes until it is back within.",
    );
  });
});
