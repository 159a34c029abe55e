// How the dashboard folds what it receives (query results, subscription events, mutation results)
// into what it shows. Pure functions: events and query answers can arrive in any order, so merging
// keeps whichever version of a session is further along.
import type { Session, SyncNode, SyncStatus } from './queries.ts';

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

/** The `limit` newest sessions after merging `incoming` into `current`. */
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
  return [...byId.values()].sort(newestFirst).slice(0, limit);
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
 * bar). A finished session is full, whatever the counts say.
 */
export function progressOf(session: Session): number | undefined {
  if (session.status === 'COMPLETED') return 1;
  if (session.messagesTotal === null) return undefined;
  if (session.messagesTotal === 0) return session.status === 'PENDING' ? 0 : 1;
  return Math.min(1, session.messagesChecked / session.messagesTotal);
}

/** A timestamp as the page shows it: the time today, the date and time otherwise. */
export function formatTime(iso: string | null, now = new Date()): string {
  if (!iso) return '—';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const sameDay = date.toDateString() === now.toDateString();
  return sameDay ? date.toLocaleTimeString() : date.toLocaleString();
}
