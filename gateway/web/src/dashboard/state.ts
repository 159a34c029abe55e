// How the dashboard folds what it receives (query results, subscription events, mutation results)
// into what it shows. Pure functions: events and query answers can arrive in any order, so merging
// keeps whichever version of a session is further along.
import type { Session, SyncNode, SyncStatus, SyncTrigger } from './queries.ts';

const STATUS_RANK: Record<SyncStatus, number> = {
  PENDING: 0,
  IN_PROGRESS: 1,
  COMPLETED: 2,
  FAILED: 2,
};

/** The later of two versions of one session: sessions only move forward. */
export function laterSession(a: Session, b: Session): Session {
  const rank = STATUS_RANK[b.status] - STATUS_RANK[a.status];
  if (rank !== 0) return rank > 0 ? b : a;
  if (b.messagesChecked !== a.messagesChecked) return b.messagesChecked > a.messagesChecked ? b : a;
  // Same step: the newer arrival may carry what the older lacked (a total, an end time).
  return b;
}

function newestFirst(a: Session, b: Session): number {
  if (a.startedAt !== b.startedAt) return a.startedAt < b.startedAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/**
 * The `limit` newest sessions of each trigger after merging `incoming` into `current`: a burst of
 * CHANGE sessions must not push the MANUAL and SCHEDULE ones out of the list.
 */
export function mergeSessions(
  current: readonly Session[],
  incoming: readonly Session[],
  limit: number,
): Session[] {
  const byId = new Map(current.map((s) => [s.id, s]));
  for (const session of incoming) {
    const known = byId.get(session.id);
    byId.set(session.id, known ? laterSession(known, session) : session);
  }
  const kept = new Map<SyncTrigger, number>();
  return [...byId.values()].sort(newestFirst).filter((session) => {
    const count = kept.get(session.trigger) ?? 0;
    kept.set(session.trigger, count + 1);
    return count < limit;
  });
}

/** How many of `sessions` each trigger started. */
export function countByTrigger(sessions: readonly Session[]): Record<SyncTrigger, number> {
  const counts: Record<SyncTrigger, number> = { MANUAL: 0, SCHEDULE: 0, CHANGE: 0 };
  for (const session of sessions) counts[session.trigger] += 1;
  return counts;
}

export function pairKey(sourceId: string, targetId: string): string {
  return `${sourceId}>${targetId}`;
}

/**
 * Each pair's running (PENDING or IN_PROGRESS) session, kept from the live session events: the
 * pairs query is refetched only when a session ends, so between two refetches this map is what
 * knows a FULL sync's sessions are running. A pair has at most one PENDING and one IN_PROGRESS
 * session; the one further along wins.
 */
export function trackRunning(
  current: ReadonlyMap<string, Session>,
  incoming: readonly Session[],
): Map<string, Session> {
  const next = new Map(current);
  for (const session of incoming) {
    const key = pairKey(session.sourceNode.id, session.targetNode.id);
    const known = next.get(key);
    if (isFinished(session)) {
      if (known?.id === session.id) next.delete(key);
      continue;
    }
    if (!known) next.set(key, session);
    else if (known.id === session.id) next.set(key, laterSession(known, session));
    else if (STATUS_RANK[session.status] >= STATUS_RANK[known.status]) next.set(key, session);
  }
  return next;
}

export interface ActionState {
  readonly pending: boolean;
  readonly error?: string;
  readonly done?: string;
  /** The sessions the request started that have not ended yet: the note goes when none is left. */
  readonly waiting?: readonly string[];
}

/** Forgets `ended` sessions in every action's note, dropping a note whose sessions all ended. */
export function endSessions(
  actions: Record<string, ActionState>,
  ended: readonly Session[],
): Record<string, ActionState> {
  const endedIds = new Set(ended.filter(isFinished).map((s) => s.id));
  if (endedIds.size === 0) return actions;
  let changed = false;
  const next: Record<string, ActionState> = {};
  for (const [key, state] of Object.entries(actions)) {
    const waiting = state.waiting?.filter((id) => !endedIds.has(id));
    if (!state.waiting || waiting?.length === state.waiting.length) {
      next[key] = state;
      continue;
    }
    changed = true;
    next[key] =
      waiting && waiting.length > 0
        ? { ...state, waiting }
        : { pending: state.pending, ...(state.error ? { error: state.error } : {}) };
  }
  return changed ? next : actions;
}

/** Replaces the node with the same id (or adds it), keeping the list ordered by name. */
export function upsertNode(current: readonly SyncNode[] | undefined, node: SyncNode): SyncNode[] {
  const others = (current ?? []).filter((n) => n.id !== node.id);
  return [...others, node].sort((a, b) => a.name.localeCompare(b.name));
}

export function isFinished(session: Session): boolean {
  return session.status === 'COMPLETED' || session.status === 'FAILED';
}

/**
 * How far a session has come, 0 to 1, or undefined while the total is unknown (an indeterminate
 * bar). A session with nothing to pull (0 of 0) has no bar at all: `null`, shown as "0 / 0".
 */
export function progressOf(session: Session): number | null | undefined {
  if (session.messagesTotal === 0 && session.messagesChecked === 0) return null;
  if (session.status === 'COMPLETED') return 1;
  if (session.messagesTotal === null) return undefined;
  return Math.min(1, session.messagesChecked / Math.max(1, session.messagesTotal));
}

/** A timestamp as the page shows it: the time today, the date and time otherwise. */
export function formatTime(iso: string | null, now = new Date()): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}
