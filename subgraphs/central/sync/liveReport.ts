// Records the reports of live windows (SYNC_LIVE_REPORTS_PATH, and SYNC_LIVE_REPORT_PATH for one
// report, as nodes of an older release send them). A window is a SyncSession (trigger CHANGE,
// INCREMENTAL, id = the window's id) that its target opened without central: inserted with its
// first report, COMPLETED with its last. The reports of one request (one target, any sources, at
// most one per window) are recorded in ONE transaction of bulk statements, whatever their number,
// with the scope checks of a session's report (report.ts, reportScope.ts): central's cost is
// then per request, not per pair. Each report is judged on its own and only once: the session
// keeps the sequence of the last report recorded, a report at or below it (a retry after a lost
// answer) records nothing, and one that skips a sequence or names another node's window is
// refused (that report only; the others of the request are recorded).
import { inArray, sql } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { appError } from '../../../lib/errors.ts';
import { UUID } from '../../../lib/ids.ts';
import {
  AppliedChangeSchema,
  type AppliedChange,
  type LiveReport,
  type SyncReport,
} from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { retryOnConflict } from '../db/transactionRetry.ts';
import { messageSyncLog, nodes, syncPairs, syncSessions, type NodeRow } from '../db/schema.ts';
import type { SyncSessionRow } from '../db/schema.ts';
import { recordQuarantine } from './quarantineRecord.ts';
import { upsertIndexOf, type Tx } from './report.ts';
import { lockPairs, markNodesSynced, raiseSourceHeads } from './reportLocks.ts';
import {
  loadPlacement,
  scopeReport,
  withoutRewrites,
  type RefusedEntry,
  type ScopedReport,
} from './reportScope.ts';
import {
  boundedList,
  optionalCount,
  parseReport,
  quarantineLists,
  reportCount,
} from './validateReport.ts';

export class InvalidLiveReportError extends Error {
  override readonly name = 'InvalidLiveReportError';
}

/** A live report as it travels; its entries are a session report's, checked by the same rules. */
const LiveReportBodySchema = z.object(
  {
    windowId: z
      .string({ error: 'must be a window id (UUID)' })
      .regex(UUID, { error: 'must be a window id (UUID)' }),
    sourceNodeId: z
      .string({ error: 'must be a string of 1-128 characters' })
      .min(1, { error: 'must be a string of 1-128 characters' })
      .max(128, { error: 'must be a string of 1-128 characters' }),
    sequence: z
      .number({ error: 'must be a positive integer' })
      .refine((n) => Number.isSafeInteger(n) && n >= 1, { error: 'must be a positive integer' }),
    final: z.boolean({ error: 'must be a boolean' }),
    cursorBefore: z
      .number({ error: 'must be a non-negative integer' })
      .refine((n) => Number.isSafeInteger(n) && n >= 0, {
        error: 'must be a non-negative integer',
      }),
    cursor: reportCount,
    sourceHeadSeq: optionalCount,
    applied: boundedList(AppliedChangeSchema, 'changes', 'must be an array'),
    ...quarantineLists,
  },
  { error: 'must be a JSON object' },
);

/** Returns the report typed, or throws InvalidLiveReportError naming the field. */
export function validateLiveReport(value: unknown): LiveReport {
  const body = parseReport(
    LiveReportBodySchema,
    value,
    (message) => new InvalidLiveReportError(message),
  );
  const { quarantined, released } = body;
  return {
    windowId: body.windowId.toLowerCase(),
    sourceNodeId: body.sourceNodeId,
    sequence: body.sequence,
    final: body.final,
    cursorBefore: body.cursorBefore,
    cursor: body.cursor,
    sourceHeadSeq: body.sourceHeadSeq ?? body.cursor,
    applied: body.applied,
    ...(quarantined == null ? {} : { quarantined }),
    ...(released == null ? {} : { released }),
  };
}

export interface RecordedLiveReport {
  /** The window after the report; null when the report was recorded before (nothing changed). */
  readonly session: SyncSessionRow | null;
  readonly refused: readonly RefusedEntry[];
}

/** One report's outcome: recorded (or a retry), or refused as a whole with `error`. */
export type LiveReportOutcome =
  | (RecordedLiveReport & { readonly error?: undefined })
  | { readonly error: GraphQLError };

/** Records one report; its refusal is thrown (the single-report endpoint answers it as a status). */
export async function recordLiveReport(
  db: CentralDatabase,
  target: NodeRow,
  report: LiveReport,
  onRetry?: (error: unknown) => void,
): Promise<RecordedLiveReport> {
  const [outcome] = await recordLiveReports(db, target, [report], onRetry);
  if (!outcome) throw new Error('no outcome for the report');
  if (outcome.error) throw outcome.error;
  return outcome;
}

/**
 * Records the reports (their outcomes in the same order). Locks in the order reportLocks.ts
 * describes, every pair's advisory lock first; a deadlock with another kind of writer is still
 * possible, and then the whole transaction runs again (the sequence checks make that safe).
 */
export async function recordLiveReports(
  db: CentralDatabase,
  target: NodeRow,
  reports: readonly LiveReport[],
  onRetry?: (error: unknown) => void,
): Promise<LiveReportOutcome[]> {
  const outcomes: Array<LiveReportOutcome | undefined> = reports.map(() => undefined);
  const windows = new Set<string>();
  const taken: Array<{ index: number; report: LiveReport }> = [];
  for (const [index, report] of reports.entries()) {
    if (report.sourceNodeId === target.id)
      outcomes[index] = {
        error: appError('BAD_USER_INPUT', 'a node does not replicate from itself'),
      };
    else if (windows.has(report.windowId))
      outcomes[index] = {
        error: appError(
          'BAD_USER_INPUT',
          `window ${report.windowId} has more than one report in the request`,
        ),
      };
    else {
      windows.add(report.windowId);
      taken.push({ index, report });
    }
  }
  if (taken.length > 0) {
    const recorded = await retryOnConflict(
      () =>
        recordOnce(
          db,
          target,
          taken.map((t) => t.report),
        ),
      onRetry === undefined ? {} : { onRetry },
    );
    for (const [i, { index }] of taken.entries()) outcomes[index] = recorded[i];
  }
  return outcomes.map((outcome) => {
    if (!outcome) throw new Error('a live report without an outcome');
    return outcome;
  });
}

interface Accepted {
  readonly report: LiveReport;
  readonly session: SyncSessionRow;
  scoped: ScopedReport;
}

function recordOnce(
  db: CentralDatabase,
  target: NodeRow,
  reports: readonly LiveReport[],
): Promise<LiveReportOutcome[]> {
  return db.transaction(async (tx) => {
    const outcomes: Array<LiveReportOutcome | undefined> = reports.map(() => undefined);
    const refuse = (i: number, error: GraphQLError) => {
      outcomes[i] = { error };
    };
    const sourceIds = [...new Set(reports.map((r) => r.sourceNodeId))].sort();
    await lockPairs(
      tx,
      sourceIds.map((sourceNodeId) => ({ sourceNodeId, targetNodeId: target.id })),
    );
    const now = new Date();
    const known = new Set(
      (await tx.select({ id: nodes.id }).from(nodes).where(inArray(nodes.id, sourceIds))).map(
        (n) => n.id,
      ),
    );
    for (const [i, report] of reports.entries())
      if (!known.has(report.sourceNodeId))
        refuse(i, appError('NOT_FOUND', `no node ${report.sourceNodeId}`));
    // A window is made by its first report: a later one of a window central never saw is a gap
    // (below), and inserting it would leave an empty window behind.
    const opening = reports.filter((r, i) => outcomes[i] === undefined && r.sequence === 1);
    if (opening.length > 0)
      await tx
        .insert(syncSessions)
        .values(
          [...opening]
            .sort((a, b) => (a.windowId < b.windowId ? -1 : 1))
            .map((report) => ({
              id: report.windowId,
              sourceNodeId: report.sourceNodeId,
              targetNodeId: target.id,
              status: 'IN_PROGRESS' as const,
              syncType: 'INCREMENTAL' as const,
              trigger: 'CHANGE' as const,
              startedAt: now,
              dispatchedAt: now,
              cursorBefore: report.cursorBefore,
              liveReportSeq: 0,
            })),
        )
        .onConflictDoNothing({ target: syncSessions.id });
    const wanted = reports.filter((_, i) => outcomes[i] === undefined).map((r) => r.windowId);
    const sessions = new Map(
      wanted.length === 0
        ? []
        : (
            await tx
              .select()
              .from(syncSessions)
              .where(inArray(syncSessions.id, wanted))
              .orderBy(syncSessions.id)
              .for('update')
          ).map((row) => [row.id, row]),
    );
    const accepted: Accepted[] = [];
    const acceptedAt: number[] = [];
    for (const [i, report] of reports.entries()) {
      if (outcomes[i] !== undefined) continue;
      const session = sessions.get(report.windowId);
      const verdict = judge(target, report, session);
      if (verdict === 'recorded') outcomes[i] = { session: null, refused: [] };
      else if (verdict instanceof GraphQLError) refuse(i, verdict);
      else if (session) {
        accepted.push({ report, session, scoped: emptyScope });
        acceptedAt.push(i);
      }
    }
    if (accepted.length === 0) return finish(outcomes);

    // roomIds is null on a window: scope = the rooms both nodes store now, read once for all.
    const placement = await loadPlacement(
      tx,
      accepted.flatMap(({ report }) => [
        ...report.applied.map((c) => c.roomId),
        ...(report.quarantined ?? []).map((q) => q.roomId),
      ]),
    );
    for (const item of accepted)
      item.scoped = await scopeReport(tx, item.session, asSyncReport(item), placement);
    agreeAcrossWindows(accepted);
    const rewrites = await upsertIndexOf(
      tx,
      accepted.map(({ scoped, session }) => ({
        versions: scoped.applied,
        holders: [session.sourceNodeId, target.id],
      })),
    );
    for (const item of accepted) item.scoped = withoutRewrites(item.scoped, rewrites);
    await insertLog(tx, accepted, now);
    await recordQuarantine(
      tx,
      accepted.map(({ session, scoped, report }) => ({
        session,
        quarantined: scoped.quarantined,
        released: report.released ?? [],
      })),
      now,
    );
    const updated = await updateWindows(tx, accepted, now);
    await recordPairs(tx, target.id, accepted, now);
    for (const [k, i] of acceptedAt.entries()) {
      const item = accepted[k];
      const row = updated[k];
      if (item && row) outcomes[i] = { session: row, refused: item.scoped.refused };
    }
    return finish(outcomes);
  });
}

const emptyScope: ScopedReport = { applied: [], held: [], quarantined: [], refused: [] };

function finish(outcomes: ReadonlyArray<LiveReportOutcome | undefined>): LiveReportOutcome[] {
  return outcomes.map((outcome) => {
    if (!outcome) throw new Error('a live report left unjudged');
    return outcome;
  });
}

/** Whether the report is the window's next: 'next', 'recorded' (a retry), or why it is refused. */
function judge(
  target: NodeRow,
  report: LiveReport,
  session: SyncSessionRow | undefined,
): 'next' | 'recorded' | GraphQLError {
  if (!session) {
    return appError(
      'CONFLICT',
      `window ${report.windowId} expects report 1, not ${report.sequence}`,
    );
  }
  if (session.targetNodeId !== target.id) {
    return appError(
      'FORBIDDEN',
      `session ${session.id} is pulled by another node; only its target may report on it`,
    );
  }
  if (session.liveReportSeq === null || session.sourceNodeId !== report.sourceNodeId) {
    return appError(
      'CONFLICT',
      `session ${session.id} is not a live window from ${report.sourceNodeId}`,
    );
  }
  // Recorded already: the answer to it was lost, and the target sends it again as it was.
  if (report.sequence <= session.liveReportSeq) return 'recorded';
  if (report.sequence !== session.liveReportSeq + 1) {
    return appError(
      'CONFLICT',
      `window ${session.id} expects report ${session.liveReportSeq + 1}, not ${report.sequence}`,
    );
  }
  return 'next';
}

function asSyncReport({ report, session }: Accepted): SyncReport {
  return {
    sessionId: session.id,
    status: report.final ? 'COMPLETED' : 'IN_PROGRESS',
    messagesSynced: 0,
    applied: report.applied,
    cursor: report.cursor,
    sourceHeadSeq: report.sourceHeadSeq,
    ...(report.quarantined === undefined ? {} : { quarantined: report.quarantined }),
    ...(report.released === undefined ? {} : { released: report.released }),
  };
}

/**
 * Within a report, a message's later entries must agree with its first on room, sender and
 * createdAt (scopeReport); across the windows of one request too, since the index is written
 * once for all of them: an entry that disagrees with an earlier window's is refused.
 */
function agreeAcrossWindows(accepted: readonly Accepted[]): void {
  const first = new Map<string, AppliedChange>();
  for (const item of accepted) {
    const refused = [...item.scoped.refused];
    const applied = item.scoped.applied.filter((change) => {
      const seen = first.get(change.messageId);
      if (!seen) {
        first.set(change.messageId, change);
        return true;
      }
      const changed = IMMUTABLE.filter((field) => seen[field] !== change[field]);
      if (changed.length === 0) return true;
      refused.push({
        list: 'applied',
        messageId: change.messageId,
        roomId: change.roomId,
        why: `changes ${changed.join(', ')} of another window's entry`,
      });
      return false;
    });
    if (applied.length !== item.scoped.applied.length)
      item.scoped = { ...item.scoped, applied, refused };
  }
}

const IMMUTABLE = ['roomId', 'senderId', 'createdAt'] as const;

/** The log rows of every window: one statement. */
async function insertLog(tx: Tx, accepted: readonly Accepted[], now: Date): Promise<void> {
  const rows = accepted.flatMap(({ session, scoped }) =>
    scoped.applied.map((c) => ({ s: session.id, m: c.messageId, a: c.action })),
  );
  if (rows.length === 0) return;
  await tx.execute(sql`
    insert into ${messageSyncLog} (session_id, message_id, action, synced_at)
    select x.s, x.m, x.a::sync_action, ${now.toISOString()}::timestamptz
      from json_to_recordset(${JSON.stringify(rows)}::json) as x(s text, m text, a text)`);
}

/**
 * Every window's row in one statement. The rows are locked (FOR UPDATE above), so their new
 * counters are computed here and the rows answered without being read again.
 */
async function updateWindows(
  tx: Tx,
  accepted: readonly Accepted[],
  now: Date,
): Promise<SyncSessionRow[]> {
  const updated = accepted.map(({ report, session, scoped }): SyncSessionRow => {
    // A window records the versions that changed the target or were refused: those are the ones
    // it examined that count (a replayed one the target already held is not recorded).
    const checked =
      session.messagesChecked + report.applied.length + (report.quarantined?.length ?? 0);
    return {
      ...session,
      status: report.final ? 'COMPLETED' : 'IN_PROGRESS',
      messagesSynced: session.messagesSynced + scoped.applied.length,
      messagesChecked: checked,
      messagesTotal: checked,
      messagesQuarantined: session.messagesQuarantined + scoped.quarantined.length,
      entriesRefused: session.entriesRefused + scoped.refused.length,
      cursorAfter: report.cursor,
      liveReportSeq: report.sequence,
      updatedAt: now,
      // A window the sweep closed (windowSweep.ts) whose target still held it is open again.
      error: null,
      completedAt: report.final ? now : null,
    };
  });
  const rows = JSON.stringify(
    updated.map((row) => ({
      id: row.id,
      status: row.status,
      synced: row.messagesSynced,
      checked: row.messagesChecked,
      quarantined: row.messagesQuarantined,
      refused: row.entriesRefused,
      cursor: row.cursorAfter,
      seq: row.liveReportSeq,
      done: row.completedAt !== null,
    })),
  );
  const s = syncSessions;
  await tx.execute(sql`
    update ${s} set
      status = x.status::sync_status,
      messages_synced = x.synced,
      messages_checked = x.checked,
      messages_total = x.checked,
      messages_quarantined = x.quarantined,
      entries_refused = x.refused,
      cursor_after = x.cursor,
      live_report_seq = x.seq,
      updated_at = ${now.toISOString()}::timestamptz,
      error = null,
      completed_at = case when x.done then ${now.toISOString()}::timestamptz end
      from json_to_recordset(${rows}::json) as x(id text, status text, synced integer,
           checked integer, quarantined integer, refused integer, cursor bigint, seq integer,
           done boolean)
     where ${s.id} = x.id`);
  return updated;
}

/**
 * The pairs' cursors and their sources' heads, as the windows' reports move them: the sources'
 * rows, the pairs' own among them, locked in (source, target) order first, then the pairs' own
 * upserted (reportLocks.ts step 4), then the nodes of the windows ending (step 5).
 */
async function recordPairs(
  tx: Tx,
  targetNodeId: string,
  accepted: readonly Accepted[],
  now: Date,
): Promise<void> {
  const bySource = new Map<string, { cursor: number; head: number; final: boolean }>();
  for (const { report } of accepted) {
    const seen = bySource.get(report.sourceNodeId);
    bySource.set(report.sourceNodeId, {
      cursor: Math.max(seen?.cursor ?? 0, report.cursor),
      head: Math.max(seen?.head ?? 0, report.sourceHeadSeq),
      final: (seen?.final ?? false) || report.final,
    });
  }
  const sources = [...bySource.keys()].sort();
  await raiseSourceHeads(
    tx,
    sources.map((sourceNodeId) => ({
      sourceNodeId,
      headSeq: bySource.get(sourceNodeId)?.head ?? 0,
    })),
    targetNodeId,
  );
  await tx
    .insert(syncPairs)
    .values(
      sources.map((sourceNodeId) => {
        const pair = bySource.get(sourceNodeId) ?? { cursor: 0, head: 0, final: false };
        return {
          sourceNodeId,
          targetNodeId,
          cursor: pair.cursor,
          sourceHeadSeq: Math.max(pair.head, pair.cursor),
          lastSyncAt: pair.final ? now : null,
          updatedAt: now,
        };
      }),
    )
    .onConflictDoUpdate({
      target: [syncPairs.sourceNodeId, syncPairs.targetNodeId],
      set: {
        cursor: sql`greatest(${syncPairs.cursor}, excluded.cursor)`,
        sourceHeadSeq: sql`greatest(${syncPairs.sourceHeadSeq}, excluded.source_head_seq)`,
        updatedAt: now,
        lastSyncAt: sql`coalesce(excluded.last_sync_at, ${syncPairs.lastSyncAt})`,
      },
    });
  const finished = sources.filter((id) => bySource.get(id)?.final === true);
  if (finished.length > 0) await markNodesSynced(tx, [...finished, targetNodeId], now);
}
