// Records a target's SyncReport in ONE transaction: the session's progress or outcome, a sync-log
// row per applied change, the message index, the quarantined versions, the pair's cursor and the
// nodes' lastSyncAt. Either all of it is visible or none, so the index never runs ahead of (or
// behind) the log. Only what the report may say is recorded (./reportScope.ts).
import { and, eq, sql } from 'drizzle-orm';
import type { HeldVersion, SyncReport } from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { retryOnConflict } from '../db/transactionRetry.ts';
import {
  distributedMessages,
  messageSyncLog,
  syncPairs,
  syncSessions,
  type SyncSessionRow,
} from '../db/schema.ts';
import { recordQuarantine } from './quarantineRecord.ts';
import { lockPair, markNodesSynced, raiseSourceHead } from './reportLocks.ts';
import { scopeReport, withoutRewrites, type RefusedEntry } from './reportScope.ts';

export interface RecordedReport {
  /** The session after the report; null when it was no longer IN_PROGRESS (only log and index changed). */
  readonly updated: SyncSessionRow | null;
  /** Entries central did not believe, and why: for the log. */
  readonly refused: readonly RefusedEntry[];
  /**
   * A session no longer IN_PROGRESS whose counts the report still changed (it quarantined or had
   * entries refused): changed all the same, so it is published.
   */
  readonly recounted: SyncSessionRow | null;
  /**
   * The report's sequence was recorded before (its answer was lost and the target sent it
   * again): nothing was recorded; the session's status now, to answer as the first time.
   */
  readonly repeatOf?: SyncSessionRow['status'];
}

export async function recordReport(
  db: CentralDatabase,
  session: SyncSessionRow,
  report: SyncReport,
  onRetry?: (error: unknown) => void,
): Promise<RecordedReport> {
  // The statements lock rows in the order reportLocks.ts describes; a deadlock with another kind
  // of writer is still possible, and then the whole transaction runs again.
  return retryOnConflict(
    () => recordReportOnce(db, session, report),
    onRetry === undefined ? {} : { onRetry },
  );
}

function recordReportOnce(
  db: CentralDatabase,
  session: SyncSessionRow,
  report: SyncReport,
): Promise<RecordedReport> {
  return db.transaction(async (tx) => {
    await lockPair(tx, session.sourceNodeId, session.targetNodeId);
    // Every report of the session takes the pair's lock first, so the sequence read here is the
    // last one recorded until this transaction ends: a repeat can never be recorded twice.
    if (report.sequence !== undefined) {
      const [current] = await tx
        .select({ reportSeq: syncSessions.reportSeq, status: syncSessions.status })
        .from(syncSessions)
        .where(eq(syncSessions.id, session.id));
      if (current && current.reportSeq !== null && report.sequence <= current.reportSeq)
        return { updated: null, refused: [], recounted: null, repeatOf: current.status };
    }
    const now = new Date();
    const terminal = report.status !== 'IN_PROGRESS';
    const inScope = await scopeReport(tx, session, report);
    // What the target applied is true whatever central thinks of the session now (e.g. it was
    // failed when the target's stream dropped): record it, so log and index match the nodes.
    // Held versions (FULL) index without a log row: they repair what a lost report left out.
    // The index is written first: the same statement finds the entries that would rewrite an
    // indexed message, and those get no log row either.
    const rewrites = await upsertIndex(
      tx,
      [...inScope.applied, ...inScope.held],
      [session.sourceNodeId, session.targetNodeId],
    );
    const scoped = withoutRewrites(inScope, rewrites);
    // The rows travel as one JSON parameter and are expanded by the database: building a
    // thousand-row VALUES list with its bind parameters per report cost more than the insert.
    if (scoped.applied.length > 0) {
      const entries = JSON.stringify(
        scoped.applied.map((change) => ({ m: change.messageId, a: change.action })),
      );
      await tx.execute(sql`
        insert into ${messageSyncLog} (session_id, message_id, action, synced_at)
        select ${session.id}, x.m, x.a::sync_action, ${now.toISOString()}::timestamptz
          from json_to_recordset(${entries}::json) as x(m text, a text)`);
    }
    const counters = {
      messagesQuarantined: sql`${syncSessions.messagesQuarantined} + ${scoped.quarantined.length}`,
      entriesRefused: sql`${syncSessions.entriesRefused} + ${scoped.refused.length}`,
    };
    const [updated] = await tx
      .update(syncSessions)
      .set({
        ...counters,
        ...(report.sequence === undefined ? {} : { reportSeq: report.sequence }),
        status: report.status,
        messagesSynced: report.messagesSynced,
        // A report without it comes from a node whose messagesSynced counted what it examined.
        messagesChecked: report.messagesChecked ?? report.messagesSynced,
        ...(report.messagesTotal === undefined ? {} : { messagesTotal: report.messagesTotal }),
        cursorAfter: report.cursor,
        updatedAt: now,
        ...(terminal ? { completedAt: now } : {}),
        ...(report.status === 'FAILED'
          ? { error: report.error ?? 'the target reported a failure without a reason' }
          : {}),
        ...(report.digestsMatch === undefined ? {} : { digestsMatch: report.digestsMatch }),
      })
      .where(and(eq(syncSessions.id, session.id), eq(syncSessions.status, 'IN_PROGRESS')))
      .returning();
    await recordQuarantine(
      tx,
      [{ session, quarantined: scoped.quarantined, released: report.released ?? [] }],
      now,
    );
    if (!updated) {
      // A late report's counts still belong to the session that carried it. One with a sequence
      // comes from a target reporting what it applied before central heard (it was killed, or
      // central was away when the session ended): its counters, cumulative over the session, are
      // true, and a session failed meanwhile would otherwise keep the smaller ones of the last
      // report it had. Its sequence is kept so that a repeat of it records nothing.
      const late = report.sequence !== undefined;
      if (!late && scoped.quarantined.length === 0 && scoped.refused.length === 0)
        return { updated: null, refused: scoped.refused, recounted: null };
      const [recounted] = await tx
        .update(syncSessions)
        .set({
          ...counters,
          ...(late
            ? {
                reportSeq: report.sequence,
                messagesSynced: sql`greatest(${syncSessions.messagesSynced}, ${report.messagesSynced})`,
                messagesChecked: sql`greatest(${syncSessions.messagesChecked}, ${report.messagesChecked ?? report.messagesSynced})`,
                updatedAt: now,
              }
            : {}),
        })
        .where(eq(syncSessions.id, session.id))
        .returning();
      return { updated: null, refused: scoped.refused, recounted: recounted ?? null };
    }
    const completed = report.status === 'COMPLETED';
    // The source's rows, the pair's own among them, are locked in target order before the pair's
    // upsert writes its own (reportLocks.ts step 4); without a head the upsert is the only one.
    if (report.sourceHeadSeq !== undefined)
      await raiseSourceHead(tx, session.sourceNodeId, report.sourceHeadSeq, session.targetNodeId);
    await tx
      .insert(syncPairs)
      .values({
        sourceNodeId: session.sourceNodeId,
        targetNodeId: session.targetNodeId,
        cursor: report.cursor,
        sourceHeadSeq: Math.max(report.sourceHeadSeq ?? 0, report.cursor),
        digestsMatch: completed ? (report.digestsMatch ?? null) : null,
        lastSyncAt: completed ? now : null,
        updatedAt: now,
      })
      .onConflictDoUpdate({
        target: [syncPairs.sourceNodeId, syncPairs.targetNodeId],
        set: {
          cursor: report.cursor,
          sourceHeadSeq: sql`greatest(${syncPairs.sourceHeadSeq}, excluded.source_head_seq)`,
          updatedAt: now,
          ...(completed ? { lastSyncAt: now } : {}),
          ...(completed && report.digestsMatch !== undefined
            ? { digestsMatch: report.digestsMatch }
            : {}),
        },
      });
    if (completed) await markNodesSynced(tx, [session.sourceNodeId, session.targetNodeId], now);
    return { updated, refused: scoped.refused, recounted: null };
  });
}

export type Tx = Parameters<Parameters<CentralDatabase['transaction']>[0]>[0];

/**
 * Whether version `b` replaces `a` in the index: a tombstone is never replaced by a live version
 * (the nodes never resurrect either); otherwise the greater HLC wins, or the later updatedAt when
 * a side has no HLC.
 */
function replaces(a: HeldVersion, b: HeldVersion): boolean {
  if (a.deleted !== b.deleted) return b.deleted;
  if (a.hlc !== undefined && b.hlc !== undefined) return b.hlc > a.hlc;
  return b.updatedAt > a.updatedAt;
}

/**
 * Writes the index and answers, from the same statement, the messages whose indexed room, sender
 * or createdAt the versions would change (messageId -> the fields): those are not written.
 *
 * The originating node is the winning version's: a retry-safe post (clientMessageId) retried on
 * another storage node makes the same message id there, with that node as origin, and the nodes
 * keep whichever copy wins the conflict resolution (messageStore.ts `newerVersion`: a tombstone,
 * else the greater HLC), whole. The index decides by the same rule, so it names the same origin
 * as every node once they converged, whatever order the reports arrive in.
 */
export async function upsertIndex(
  tx: Tx,
  applied: readonly HeldVersion[],
  holders: readonly string[],
): Promise<Map<string, string>> {
  return upsertIndexOf(tx, [{ versions: applied, holders }]);
}

/**
 * upsertIndex for several reports at once (live windows of one request, liveReport.ts): each
 * group's versions are held by its own nodes. One statement, rows locked in id order across all
 * groups (reportLocks.ts step 2); a message in several groups is written once, with the winning
 * version and every group's holders. The groups must agree on each message's room, sender and
 * createdAt (scopeReport and liveReport.ts refuse entries that do not).
 */
export async function upsertIndexOf(
  tx: Tx,
  groups: ReadonlyArray<{
    readonly versions: readonly HeldVersion[];
    readonly holders: readonly string[];
  }>,
): Promise<Map<string, string>> {
  // One INSERT ... ON CONFLICT may not touch a row twice: fold repeated ids first.
  const versions = new Map<string, { version: HeldVersion; holders: Set<string> }>();
  for (const group of groups) {
    for (const change of group.versions) {
      const seen = versions.get(change.messageId);
      if (!seen)
        versions.set(change.messageId, { version: change, holders: new Set(group.holders) });
      else {
        if (replaces(seen.version, change)) seen.version = change;
        for (const nodeId of group.holders) seen.holders.add(nodeId);
      }
    }
  }
  if (versions.size === 0) return new Map();
  const rows = JSON.stringify(
    [...versions.values()].map(({ version: change, holders }) => ({
      id: change.messageId,
      room: change.roomId,
      sender: change.senderId,
      hash: change.contentHash,
      origin: change.originNode,
      created: change.createdAt,
      updated: change.updatedAt,
      deleted: change.deleted,
      hlc: change.hlc ?? null,
      held: [...holders].sort(),
    })),
  );
  const dm = distributedMessages;
  const wins = sql`(case
    when ${dm.deleted} <> excluded.deleted then excluded.deleted
    when ${dm.hlc} is not null and excluded.hlc is not null then excluded.hlc > ${dm.hlc}
    else excluded.updated_at > ${dm.updatedAt} end)`;
  // Times are epoch milliseconds; to_timestamp keeps them exactly (microsecond precision), and
  // createdAt is compared the way it was stored.
  // Room, sender and createdAt never change once indexed: `bad` finds the versions that would,
  // they are not written, and the WHERE holds it against a concurrent report too. Since every entry here is of a room the session covers and its target stores, a
  // tombstone in the index always comes from a version a storage node holds.
  const result = await tx.execute(sql`
    with x as (
      select * from json_to_recordset(${rows}::json) as x(id text, room text, sender text,
             hash text, origin text, created double precision, updated double precision,
             deleted boolean, hlc text, held json)),
    bad as (
      select x.id, concat_ws(', ',
               case when ${dm.roomId} <> x.room then 'roomId' end,
               case when ${dm.senderId} <> x.sender then 'senderId' end,
               case when ${dm.createdAt} <> to_timestamp(x.created / 1000.0) then 'createdAt' end
             ) as changed
        from x join ${dm} on ${dm.id} = x.id
       where ${dm.roomId} <> x.room or ${dm.senderId} <> x.sender
          or ${dm.createdAt} <> to_timestamp(x.created / 1000.0)),
    written as (
      insert into ${dm} (id, room_id, sender_id, content_hash, originating_node_id,
                         storage_node_ids, created_at, updated_at, deleted, hlc)
      select x.id, x.room, x.sender, x.hash, x.origin,
             array(select json_array_elements_text(x.held))::text[],
             to_timestamp(x.created / 1000.0), to_timestamp(x.updated / 1000.0), x.deleted, x.hlc
        from x where x.id not in (select id from bad)
       -- Rows are locked in id order, whatever order the report listed them in: two reports
       -- sharing messages then never wait for each other in a cycle (reportLocks.ts).
       order by x.id
      on conflict (id) do update set
        content_hash = case when ${wins} then excluded.content_hash else ${dm.contentHash} end,
        updated_at = case when ${wins} then excluded.updated_at else ${dm.updatedAt} end,
        hlc = case when ${wins} then excluded.hlc else ${dm.hlc} end,
        originating_node_id = case when ${wins} then excluded.originating_node_id
                                   else ${dm.originatingNodeId} end,
        deleted = ${dm.deleted} or excluded.deleted,
        storage_node_ids = array(select distinct unnest(${dm.storageNodeIds} || excluded.storage_node_ids) order by 1)
      where ${dm.roomId} = excluded.room_id and ${dm.senderId} = excluded.sender_id
        and ${dm.createdAt} = excluded.created_at
        -- A version the index already has, on nodes it already lists (a FULL sync's held
        -- versions, mostly), changes nothing: writing the row again anyway cost a new tuple and
        -- an entry in each of its indexes, more than inserting it had.
        and (${wins} or not ${dm.storageNodeIds} @> excluded.storage_node_ids)
      returning 1)
    select id, changed from bad`);
  // PGlite and node-postgres both answer { rows }; drizzle types the raw result per driver.
  const { rows: found } = result as { rows: Array<{ id: string; changed: string }> };
  return new Map(found.map((row) => [row.id, row.changed]));
}
