// Replication throughput and lag per ordered node pair, in 10-second buckets, read from what
// central records anyway: one sync-log row per version a target applied (its `synced_at` is when
// central recorded the target's report) and the message index's `created_at` (the message's
// creation on its origin node, which no report may rewrite). A read only: nothing is written per
// version or per report for it.
//
// Lag is measured on new messages only (CREATE entries): an edit's or delete's own time is not
// kept once a newer version is indexed, and createdAt is. It is the message's age when its copy on
// the target was recorded: the write, the pull, the apply and the target's report (live windows
// report every 250 ms or so). Two clocks meet in it (origin node's, central's), each within the
// node's drift bound; a negative difference counts as 0.
import { sql } from 'drizzle-orm';
import type { CentralDatabase } from '../db/open.ts';
import { distributedMessages, messageSyncLog, syncSessions } from '../db/schema.ts';

export const REPLICATION_BUCKET_SECONDS = 10;
/** How far back `since` may reach: the query stays a scan of recent sessions' log rows. */
export const REPLICATION_MAX_WINDOW_MS = 60 * 60 * 1000;
/** What the dashboard's chart shows when `since` is not given. */
export const REPLICATION_DEFAULT_WINDOW_MS = 15 * 60 * 1000;

export interface ReplicationBucketView {
  readonly at: Date;
  readonly versions: number;
  readonly versionsPerSecond: number;
  readonly lagSamples: number;
  readonly lagP50Ms: number | null;
  readonly lagP99Ms: number | null;
}

export interface ReplicationPairView {
  readonly sourceNodeId: string;
  readonly targetNodeId: string;
  readonly buckets: readonly ReplicationBucketView[];
}

export interface ReplicationStatsView {
  readonly since: Date;
  readonly until: Date;
  readonly bucketSeconds: number;
  readonly pairs: readonly ReplicationPairView[];
}

/** `since` rounded down to a bucket boundary, so that every reader's buckets line up. */
export function bucketStart(at: Date): Date {
  const size = REPLICATION_BUCKET_SECONDS * 1000;
  return new Date(Math.floor(at.getTime() / size) * size);
}

interface Row {
  readonly source: string;
  readonly target: string;
  readonly bucket: number;
  readonly versions: number;
  readonly lag_samples: number;
  readonly p50: number | null;
  readonly p99: number | null;
}

export async function readReplicationStats(
  db: CentralDatabase,
  since: Date,
  now = new Date(),
): Promise<ReplicationStatsView> {
  const from = bucketStart(since);
  const size = REPLICATION_BUCKET_SECONDS;
  const s = syncSessions;
  const log = messageSyncLog;
  const dm = distributedMessages;
  // The sessions first, by their updated_at index: every report that writes log rows also moves
  // its session's updated_at (a report on a session central had already failed, which does not,
  // is the exception and is left out). Then their log rows by the (session, id) index.
  const lag = sql`greatest(0, extract(epoch from (${log.syncedAt} - ${dm.createdAt})) * 1000)`;
  const created = sql`${log.action} = 'CREATE' and ${dm.createdAt} is not null`;
  const result = await db.execute(sql`
    with recent as (
      select ${s.id} as id, ${s.sourceNodeId} as source, ${s.targetNodeId} as target
        from ${s} where ${s.updatedAt} >= ${from.toISOString()}::timestamptz
    )
    select recent.source, recent.target,
           (floor(extract(epoch from ${log.syncedAt}) / ${size}) * ${size})::float8 as bucket,
           count(*)::int as versions,
           (count(*) filter (where ${created}))::int as lag_samples,
           (percentile_cont(0.5) within group (order by ${lag}) filter (where ${created}))::float8 as p50,
           (percentile_cont(0.99) within group (order by ${lag}) filter (where ${created}))::float8 as p99
      from recent
      join ${log} on ${log.sessionId} = recent.id
      left join ${dm} on ${dm.id} = ${log.messageId}
     where ${log.syncedAt} >= ${from.toISOString()}::timestamptz
     group by 1, 2, 3
     order by 1, 2, 3`);
  // PGlite and node-postgres both answer { rows }; drizzle types the raw result per driver.
  const { rows } = result as { rows: Row[] };
  const pairs = new Map<
    string,
    { sourceNodeId: string; targetNodeId: string; buckets: ReplicationBucketView[] }
  >();
  for (const row of rows) {
    const key = `${row.source}>${row.target}`;
    let pair = pairs.get(key);
    if (!pair) {
      pair = { sourceNodeId: row.source, targetNodeId: row.target, buckets: [] };
      pairs.set(key, pair);
    }
    const versions = Number(row.versions);
    pair.buckets.push({
      at: new Date(Number(row.bucket) * 1000),
      versions,
      versionsPerSecond: versions / size,
      lagSamples: Number(row.lag_samples),
      lagP50Ms: row.p50 === null ? null : Math.round(Number(row.p50)),
      lagP99Ms: row.p99 === null ? null : Math.round(Number(row.p99)),
    });
  }
  return { since: from, until: now, bucketSeconds: size, pairs: [...pairs.values()] };
}
