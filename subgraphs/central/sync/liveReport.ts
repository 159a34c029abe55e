// Records the reports of live windows (SYNC_LIVE_REPORT_PATH). A window is a SyncSession (trigger
// CHANGE, INCREMENTAL, id = the window's id) that its target opened without central: inserted with
// its first report, COMPLETED with its last. Each report is recorded in ONE transaction, with the
// same bulk statements and the same scope checks as a session's report (report.ts,
// reportScope.ts), and only once: the session keeps the sequence of the last report recorded, and
// a report at or below it (a retry after a lost answer) records nothing.
import { eq, sql } from 'drizzle-orm';
import { z } from 'zod';
import { appError } from '../../../lib/errors.ts';
import { UUID } from '../../../lib/ids.ts';
import {
  AppliedChangeSchema,
  type LiveReport,
  type SyncReport,
} from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { retryOnConflict } from '../db/transactionRetry.ts';
import { messageSyncLog, nodes, syncPairs, syncSessions, type NodeRow } from '../db/schema.ts';
import type { SyncSessionRow } from '../db/schema.ts';
import { recordQuarantined, releaseQuarantined, upsertIndex, type Tx } from './report.ts';
import { lockPair, markNodesSynced, raiseSourceHead } from './reportLocks.ts';
import { scopeReport, withoutRewrites, type RefusedEntry } from './reportScope.ts';
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

export async function recordLiveReport(
  db: CentralDatabase,
  target: NodeRow,
  report: LiveReport,
  onRetry?: (error: unknown) => void,
): Promise<RecordedLiveReport> {
  if (report.sourceNodeId === target.id) {
    throw appError('BAD_USER_INPUT', 'a node does not replicate from itself');
  }
  // Locks in the order reportLocks.ts describes; a deadlock with another kind of writer is still
  // possible, and then the whole transaction runs again (the sequence check makes that safe).
  return retryOnConflict(
    () => recordLiveReportOnce(db, target, report),
    onRetry === undefined ? {} : { onRetry },
  );
}

function recordLiveReportOnce(
  db: CentralDatabase,
  target: NodeRow,
  report: LiveReport,
): Promise<RecordedLiveReport> {
  return db.transaction(async (tx) => {
    await lockPair(tx, report.sourceNodeId, target.id);
    const now = new Date();
    const [source] = await tx
      .select({ id: nodes.id })
      .from(nodes)
      .where(eq(nodes.id, report.sourceNodeId));
    if (!source) throw appError('NOT_FOUND', `no node ${report.sourceNodeId}`);
    await tx
      .insert(syncSessions)
      .values({
        id: report.windowId,
        sourceNodeId: report.sourceNodeId,
        targetNodeId: target.id,
        status: 'IN_PROGRESS',
        syncType: 'INCREMENTAL',
        trigger: 'CHANGE',
        startedAt: now,
        dispatchedAt: now,
        cursorBefore: report.cursorBefore,
        liveReportSeq: 0,
      })
      .onConflictDoNothing({ target: syncSessions.id });
    const [session] = await tx
      .select()
      .from(syncSessions)
      .where(eq(syncSessions.id, report.windowId))
      .for('update');
    if (!session) throw new Error(`window ${report.windowId} vanished while being recorded`);
    if (session.targetNodeId !== target.id) {
      throw appError(
        'FORBIDDEN',
        `session ${session.id} is pulled by another node; only its target may report on it`,
      );
    }
    if (session.liveReportSeq === null || session.sourceNodeId !== report.sourceNodeId) {
      throw appError(
        'CONFLICT',
        `session ${session.id} is not a live window from ${report.sourceNodeId}`,
      );
    }
    // Recorded already: the answer to it was lost, and the target sends it again as it was.
    if (report.sequence <= session.liveReportSeq) return { session: null, refused: [] };
    if (report.sequence !== session.liveReportSeq + 1) {
      throw appError(
        'CONFLICT',
        `window ${session.id} expects report ${session.liveReportSeq + 1}, not ${report.sequence}`,
      );
    }
    const asReport: SyncReport = {
      sessionId: session.id,
      status: report.final ? 'COMPLETED' : 'IN_PROGRESS',
      messagesSynced: 0,
      applied: report.applied,
      cursor: report.cursor,
      sourceHeadSeq: report.sourceHeadSeq,
      ...(report.quarantined === undefined ? {} : { quarantined: report.quarantined }),
      ...(report.released === undefined ? {} : { released: report.released }),
    };
    // roomIds is null on a window: scope = the rooms both nodes store now.
    const inScope = await scopeReport(tx, session, asReport);
    const rewrites = await upsertIndex(tx, inScope.applied, [session.sourceNodeId, target.id]);
    const scoped = withoutRewrites(inScope, rewrites);
    await insertLog(tx, session.id, scoped.applied, now);
    await recordQuarantined(tx, session, scoped.quarantined, now);
    await releaseQuarantined(tx, session, report.released ?? [], now);
    const synced = session.messagesSynced + scoped.applied.length;
    // A window records the versions that changed the target or were refused: those are the ones
    // it examined that count (a replayed one the target already held is not recorded).
    const checked =
      session.messagesChecked + report.applied.length + (report.quarantined?.length ?? 0);
    const [updated] = await tx
      .update(syncSessions)
      .set({
        status: report.final ? 'COMPLETED' : 'IN_PROGRESS',
        messagesSynced: synced,
        messagesChecked: checked,
        messagesTotal: checked,
        messagesQuarantined: sql`${syncSessions.messagesQuarantined} + ${scoped.quarantined.length}`,
        entriesRefused: sql`${syncSessions.entriesRefused} + ${scoped.refused.length}`,
        cursorAfter: report.cursor,
        liveReportSeq: report.sequence,
        updatedAt: now,
        // A window the sweep closed (windowSweep.ts) whose target still held it is open again.
        error: null,
        completedAt: report.final ? now : null,
      })
      .where(eq(syncSessions.id, session.id))
      .returning();
    await recordPair(tx, session, report, now);
    return { session: updated ?? null, refused: scoped.refused };
  });
}

async function insertLog(
  tx: Tx,
  sessionId: string,
  applied: SyncReport['applied'],
  now: Date,
): Promise<void> {
  if (applied.length === 0) return;
  const entries = JSON.stringify(applied.map((c) => ({ m: c.messageId, a: c.action })));
  await tx.execute(sql`
    insert into ${messageSyncLog} (session_id, message_id, action, synced_at)
    select ${sessionId}, x.m, x.a::sync_action, ${now.toISOString()}::timestamptz
      from json_to_recordset(${entries}::json) as x(m text, a text)`);
}

/** The pair's cursor and the source's head, as a session's report moves them. */
async function recordPair(
  tx: Tx,
  session: SyncSessionRow,
  report: LiveReport,
  now: Date,
): Promise<void> {
  // The source's rows first, in one order, then the pair's own (reportLocks.ts).
  await raiseSourceHead(tx, session.sourceNodeId, report.sourceHeadSeq);
  await tx
    .insert(syncPairs)
    .values({
      sourceNodeId: session.sourceNodeId,
      targetNodeId: session.targetNodeId,
      cursor: report.cursor,
      sourceHeadSeq: Math.max(report.sourceHeadSeq, report.cursor),
      lastSyncAt: report.final ? now : null,
      updatedAt: now,
    })
    .onConflictDoUpdate({
      target: [syncPairs.sourceNodeId, syncPairs.targetNodeId],
      set: {
        cursor: sql`greatest(${syncPairs.cursor}, excluded.cursor)`,
        sourceHeadSeq: sql`greatest(${syncPairs.sourceHeadSeq}, excluded.source_head_seq)`,
        updatedAt: now,
        ...(report.final ? { lastSyncAt: now } : {}),
      },
    });
  if (report.final) await markNodesSynced(tx, [session.sourceNodeId, session.targetNodeId], now);
}
