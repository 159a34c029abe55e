// The replication chart's data: what replicationStats answered, merged as the page refetches the
// recent buckets, and laid out as uPlot wants it (one x array, one y array per series). Pure
// functions, so the merging is tested without a browser (tests/web/dashboardState.test.ts).
import type { NodeRef, ReplicationBucket, ReplicationStats } from './queries.ts';

export interface PairHistory {
  readonly key: string;
  readonly sourceNode: NodeRef;
  readonly targetNode: NodeRef;
  /** Bucket start (epoch ms) -> bucket. */
  readonly buckets: ReadonlyMap<number, ReplicationBucket>;
}

export interface ReplicationHistory {
  readonly bucketSeconds: number;
  /** Central's time of the newest answer, epoch ms: the right end of the chart. */
  readonly until: number;
  readonly pairs: ReadonlyMap<string, PairHistory>;
}

export function replicationPairKey(source: NodeRef, target: NodeRef): string {
  return `${source.id}>${target.id}`;
}

/**
 * Folds an answer in: from its `since` on it is the whole truth (a pair or bucket it lacks had no
 * versions), before that the buckets already held stay. Buckets older than `windowMs` before the
 * newest answer go.
 */
export function mergeReplication(
  current: ReplicationHistory | undefined,
  answer: ReplicationStats,
  windowMs: number,
): ReplicationHistory {
  const since = Date.parse(answer.since);
  const until = Math.max(current?.until ?? 0, Date.parse(answer.until));
  const oldest = until - windowMs;
  const pairs = new Map<
    string,
    { sourceNode: NodeRef; targetNode: NodeRef; buckets: Map<number, ReplicationBucket> }
  >();
  for (const [key, pair] of current?.pairs ?? []) {
    const kept = new Map([...pair.buckets].filter(([at]) => at < since && at >= oldest));
    pairs.set(key, { sourceNode: pair.sourceNode, targetNode: pair.targetNode, buckets: kept });
  }
  for (const pair of answer.pairs) {
    const key = replicationPairKey(pair.sourceNode, pair.targetNode);
    const entry = pairs.get(key) ?? {
      sourceNode: pair.sourceNode,
      targetNode: pair.targetNode,
      buckets: new Map<number, ReplicationBucket>(),
    };
    for (const bucket of pair.buckets) {
      const at = Date.parse(bucket.at);
      if (at >= oldest) entry.buckets.set(at, bucket);
    }
    pairs.set(key, entry);
  }
  const result = new Map<string, PairHistory>();
  for (const [key, pair] of [...pairs].sort(([, a], [, b]) =>
    pairLabel(a).localeCompare(pairLabel(b)),
  )) {
    if (pair.buckets.size > 0) result.set(key, { key, ...pair });
  }
  return { bucketSeconds: answer.bucketSeconds, until, pairs: result };
}

/** Where the next refetch starts: the bucket before the newest, which may have grown since. */
export function refetchSince(history: ReplicationHistory): string {
  const size = history.bucketSeconds * 1000;
  return new Date(Math.floor(history.until / size) * size - size).toISOString();
}

export function pairLabel(pair: { sourceNode: NodeRef; targetNode: NodeRef }): string {
  return `${pair.sourceNode.name} → ${pair.targetNode.name}`;
}

export interface ChartData {
  /** Bucket starts, in seconds (uPlot's time scale), every bucket of the window. */
  readonly x: number[];
  readonly pairs: readonly PairHistory[];
  /** Per pair, per bucket: versions/s (0 for a bucket without versions). */
  readonly versionsPerSecond: number[][];
  /** Per pair, per bucket: lag percentiles in ms (null where no new message was measured). */
  readonly lagP50Ms: (number | null)[][];
  readonly lagP99Ms: (number | null)[][];
  /** Buckets holding versions, over every pair: what the chart draws points for. */
  readonly points: number;
  /** Versions applied in the window, over every pair. */
  readonly versions: number;
  /** Buckets holding a lag measurement, over every pair. */
  readonly lagPoints: number;
}

export function chartData(history: ReplicationHistory, windowMs: number): ChartData {
  const size = history.bucketSeconds * 1000;
  const last = Math.floor(history.until / size) * size;
  const x: number[] = [];
  for (let at = last - Math.floor(windowMs / size) * size; at <= last; at += size) x.push(at);
  const pairs = [...history.pairs.values()];
  let points = 0;
  let versions = 0;
  let lagPoints = 0;
  const versionsPerSecond = pairs.map((pair) =>
    x.map((at) => {
      const bucket = pair.buckets.get(at);
      if (bucket && bucket.versions > 0) {
        points++;
        versions += bucket.versions;
      }
      return bucket?.versionsPerSecond ?? 0;
    }),
  );
  const lag = (pick: (b: ReplicationBucket) => number | null) =>
    pairs.map((pair) =>
      x.map((at) => {
        const bucket = pair.buckets.get(at);
        return bucket ? pick(bucket) : null;
      }),
    );
  const lagP50Ms = lag((b) => b.lagP50Ms);
  for (const series of lagP50Ms) lagPoints += series.filter((v) => v !== null).length;
  return {
    x: x.map((at) => at / 1000),
    pairs,
    versionsPerSecond,
    lagP50Ms,
    lagP99Ms: lag((b) => b.lagP99Ms),
    points,
    versions,
    lagPoints,
  };
}

/** "2.4 s", "350 ms": a lag as the page prints it. */
export function formatLag(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

/** An alert line for a node whose clock is beyond its bound: how far, which way, the bound. */
export function describeSkew(node: {
  name: string;
  clockOffsetMs: number | null;
  clockMaxDriftMs: number | null;
}): string {
  const offset = node.clockOffsetMs ?? 0;
  // The offset is central's clock minus the node's: negative means the node's runs ahead.
  const way = offset < 0 ? 'ahead of' : 'behind';
  const bound =
    node.clockMaxDriftMs === null ? '' : ` (allowed: ${formatLag(node.clockMaxDriftMs)})`;
  return `${node.name}'s clock is ${formatLag(Math.abs(offset))} ${way} central's${bound}: it refuses writes until it is back within.`;
}
