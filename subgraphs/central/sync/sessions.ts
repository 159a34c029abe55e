// The sync_sessions rows and their transitions. Coalescing rests on two partial unique indexes
// (one PENDING and one IN_PROGRESS session per pair), so it holds whichever central replica
// enqueues or dispatches.
import { and, asc, eq, inArray, isNull, lt, ne, notInArray, or, sql, type SQL } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import type { SyncTrigger, SyncType } from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { isUniqueViolation } from '../db/errors.ts';
import {
  centralInstances,
  nodes,
  syncPairs,
  syncSessions,
  type SyncSessionRow,
} from '../db/schema.ts';

export interface Pair {
  readonly sourceNodeId: string;
  readonly targetNodeId: string;
}

export interface Enqueued {
  readonly session: SyncSessionRow;
  /** False when the request coalesced into the pair's PENDING session. */
  readonly created: boolean;
  /** The PENDING session was INCREMENTAL and became FULL: it changed, so it is published. */
  readonly upgraded: boolean;
}

export const pairKey = (pair: Pair): string => `${pair.sourceNodeId}>${pair.targetNodeId}`;

/**
 * Creates a PENDING session for the pair, or returns the one already PENDING (a FULL request
 * upgrades an INCREMENTAL one: FULL does everything INCREMENTAL would). A session that is
 * IN_PROGRESS does not absorb requests: the PENDING one runs after it, so changes committed while
 * it runs are not left for the next trigger.
 */
export async function enqueueSession(
  db: CentralDatabase,
  pair: Pair,
  syncType: SyncType,
  trigger: SyncTrigger,
): Promise<Enqueued> {
  // The PENDING row can be dispatched between the insert that found it and the select that reads
  // it; then the next insert succeeds. Three rounds are plenty.
  for (let attempt = 0; attempt < 3; attempt++) {
    const [created] = await db
      .insert(syncSessions)
      .values({
        id: uuidv7(),
        sourceNodeId: pair.sourceNodeId,
        targetNodeId: pair.targetNodeId,
        syncType,
        trigger,
        status: 'PENDING',
      })
      .onConflictDoNothing()
      .returning();
    if (created) return { session: created, created: true, upgraded: false };
    const [pending] = await db.select().from(syncSessions).where(pendingOf(pair));
    if (!pending) continue;
    if (syncType === 'FULL' && pending.syncType === 'INCREMENTAL') {
      const [upgraded] = await db
        .update(syncSessions)
        .set({ syncType: 'FULL', updatedAt: new Date() })
        .where(and(eq(syncSessions.id, pending.id), eq(syncSessions.status, 'PENDING')))
        .returning();
      if (upgraded) return { session: upgraded, created: false, upgraded: true };
      continue;
    }
    return { session: pending, created: false, upgraded: false };
  }
  throw new Error(`could not enqueue a session for ${pairKey(pair)}: it kept changing`);
}

function pendingOf(pair: Pair): SQL | undefined {
  return and(
    eq(syncSessions.sourceNodeId, pair.sourceNodeId),
    eq(syncSessions.targetNodeId, pair.targetNodeId),
    eq(syncSessions.status, 'PENDING'),
  );
}

/**
 * The target's PENDING sessions that could be claimed now: not those whose pair already runs a
 * session (claimSession would be refused by the unique index). The end of that session kicks the
 * dispatcher again; without the filter every kick retried each blocked claim, two statements and a
 * refused insert apiece, which grew with the number of peers a target has.
 */
export function pendingSessionsOf(
  db: CentralDatabase,
  targetNodeId: string,
): Promise<SyncSessionRow[]> {
  return db
    .select()
    .from(syncSessions)
    .where(
      and(
        eq(syncSessions.targetNodeId, targetNodeId),
        eq(syncSessions.status, 'PENDING'),
        sql`not exists (select 1 from ${syncSessions} as running where running.source_node_id = ${syncSessions.sourceNodeId} and running.target_node_id = ${syncSessions.targetNodeId} and running.status = 'IN_PROGRESS' and running.live_report_seq is null)`,
      ),
    )
    .orderBy(asc(syncSessions.startedAt), asc(syncSessions.id));
}

/**
 * PENDING -> IN_PROGRESS, recording the rooms the job names: the session's scope, the only rooms
 * central believes its reports about; and its owner, the central instance sending the job. Null
 * when the session is no longer PENDING or its pair already has a running session (the unique
 * index refuses a second one).
 */
export async function claimSession(
  db: CentralDatabase,
  session: SyncSessionRow,
  roomIds: readonly string[],
  ownerInstanceId: string,
): Promise<SyncSessionRow | null> {
  try {
    const [pair] = await db
      .select({ cursor: syncPairs.cursor })
      .from(syncPairs)
      .where(
        and(
          eq(syncPairs.sourceNodeId, session.sourceNodeId),
          eq(syncPairs.targetNodeId, session.targetNodeId),
        ),
      );
    const now = new Date();
    const [claimed] = await db
      .update(syncSessions)
      .set({
        status: 'IN_PROGRESS',
        dispatchedAt: now,
        updatedAt: now,
        cursorBefore: pair?.cursor ?? 0,
        roomIds: [...roomIds],
        ownerInstanceId,
      })
      .where(and(eq(syncSessions.id, session.id), eq(syncSessions.status, 'PENDING')))
      .returning();
    return claimed ?? null;
  } catch (error) {
    if (isUniqueViolation(error)) return null;
    throw error;
  }
}

/** PENDING -> COMPLETED without a job: the two nodes store no room in common (any more). */
export async function completeEmpty(
  db: CentralDatabase,
  session: SyncSessionRow,
): Promise<SyncSessionRow | null> {
  const now = new Date();
  const [done] = await db
    .update(syncSessions)
    .set({ status: 'COMPLETED', completedAt: now, updatedAt: now, messagesTotal: 0 })
    .where(and(eq(syncSessions.id, session.id), eq(syncSessions.status, 'PENDING')))
    .returning();
  return done ?? null;
}

/**
 * Fails the IN_PROGRESS sessions matched by `where` and returns them. Live windows are never
 * among them: no job stream carries them, and their target goes on reporting them whatever
 * happens to central or to the stream (its outbox keeps the reports).
 */
export function failRunning(
  db: CentralDatabase,
  where: SQL | undefined,
  reason: string,
): Promise<SyncSessionRow[]> {
  const now = new Date();
  return db
    .update(syncSessions)
    .set({ status: 'FAILED', error: reason, completedAt: now, updatedAt: now })
    .where(and(eq(syncSessions.status, 'IN_PROGRESS'), isNull(syncSessions.liveReportSeq), where))
    .returning();
}

export const runningOfTarget = (targetNodeId: string, except: readonly string[]) =>
  and(
    eq(syncSessions.targetNodeId, targetNodeId),
    except.length === 0 ? undefined : notInArray(syncSessions.id, [...except]),
  );

export const sessionsById = (ids: readonly string[]) =>
  ids.length === 0 ? sql`false` : inArray(syncSessions.id, [...ids]);

/**
 * Sessions whose owner is dead: no central instance with a running lease by that id (it crashed,
 * was stopped, or the session predates owners). With `onlyOwner`, sessions of any owner but it:
 * a central alone on its database (embedded PGlite) knows every other owner is a past run.
 * Rows another central is failing at the same moment are skipped, not waited for.
 */
export function orphaned(ownerInstanceId: string, alone: boolean): SQL {
  const s = syncSessions;
  const liveOwners = sql`select ${centralInstances.id} from ${centralInstances}
    where ${centralInstances.leaseExpiresAt} > now()`;
  const owner = alone
    ? or(isNull(s.ownerInstanceId), ne(s.ownerInstanceId, ownerInstanceId))
    : or(isNull(s.ownerInstanceId), sql`${s.ownerInstanceId} not in (${liveOwners})`);
  return sql`${s.id} in (select ${s.id} from ${s}
    where ${s.status} = 'IN_PROGRESS' and ${s.liveReportSeq} is null and ${owner}
    for no key update skip locked)`;
}

/**
 * Sessions running without a word from their target for longer than `silentMs`, while the target
 * is ONLINE (it heartbeats, so it is not gone: it gave the session up, e.g. after central refused
 * its reports, or it never got the job). A target that is away keeps its sessions until its job
 * stream comes back, as before. Times are this central's clock, as `updated_at` is written.
 */
export function stuck(silentMs: number): SQL {
  const s = syncSessions;
  const before = new Date(Date.now() - silentMs);
  const onlineTargets = sql`select ${nodes.id} from ${nodes} where ${nodes.status} = 'ONLINE'`;
  return sql`${s.id} in (select ${s.id} from ${s}
    where ${s.status} = 'IN_PROGRESS' and ${s.liveReportSeq} is null
      and ${lt(s.updatedAt, before)} and ${s.targetNodeId} in (${onlineTargets})
    for no key update skip locked)`;
}

export const stuckReason = (silentMs: number): string =>
  `no report from the target for over ${Math.round(silentMs / 1000)} s while it is ONLINE; resumed in a new session`;
