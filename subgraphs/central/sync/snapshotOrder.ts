// A session's snapshots can reach a subscriber out of order: each change publishes after its own
// commit, and two changes of one session made concurrently (a FULL request upgrading the PENDING
// session while the dispatcher claims it) may publish in either order. A session only moves
// forward (PENDING, then IN_PROGRESS, then COMPLETED or FAILED; its counts only grow), so a
// snapshot behind one already delivered is stale and is not passed on: a subscriber never sees a
// session go back. Ordered by status and counts, not by `updatedAt`: centrals sharing one
// database stamp times with their own clocks.
import { LRUCache } from 'lru-cache';
import type { SyncSessionSnapshot } from './snapshot.ts';

const RANK: Readonly<Record<SyncSessionSnapshot['status'], number>> = {
  PENDING: 0,
  IN_PROGRESS: 1,
  COMPLETED: 2,
  FAILED: 2,
};

/** How far along a session is: status first, then what it examined. */
function progress(s: SyncSessionSnapshot): readonly [number, number] {
  return [RANK[s.status], s.messagesChecked];
}

/**
 * Returns a filter for one subscriber: true for a snapshot to deliver, false for one behind a
 * snapshot of the same session it already delivered. Remembers the latest `max` sessions.
 */
export function latestSnapshots(max = 10_000): (snapshot: SyncSessionSnapshot) => boolean {
  const delivered = new LRUCache<string, readonly [number, number]>({ max });
  return (snapshot) => {
    const now = progress(snapshot);
    const before = delivered.get(snapshot.id);
    if (before && (now[0] < before[0] || (now[0] === before[0] && now[1] < before[1])))
      return false;
    delivered.set(snapshot.id, now);
    return true;
  };
}
