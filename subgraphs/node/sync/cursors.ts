// The pair cursors, kept on the target: how far into a source's change log this node has applied,
// per room. `saveCursor` runs inside the transaction that applies the batch (applyRemote's
// `inTransaction`), so after a crash the cursors and the data agree and the next session resumes
// exactly there.
//
// A session covers several rooms but reads one feed: it starts after the LOWEST cursor of its
// rooms (a room never pulled from this source has 0) and moves every room's cursor to the batch's
// `nextAfter`. Versions of rooms that were further ahead are replayed, which applying makes a
// no-op; none are ever skipped.
import type { NodeQueryable } from '../db/open.ts';
import { syncCursors } from '../db/schema.ts';
import { and, eq, inArray, sql } from 'drizzle-orm';

/** Where a session over `roomIds` from `sourceNodeId` starts: the lowest of the rooms' cursors. */
export function readCursor(
  db: NodeQueryable,
  sourceNodeId: string,
  roomIds: readonly string[],
): number {
  const rooms = [...new Set(roomIds)];
  if (rooms.length === 0) return 0;
  const stored = db
    .select({ seq: syncCursors.seq })
    .from(syncCursors)
    .where(and(eq(syncCursors.sourceNodeId, sourceNodeId), inArray(syncCursors.roomId, rooms)))
    .all();
  if (stored.length < rooms.length) return 0;
  return Math.min(...stored.map((row) => row.seq));
}

/**
 * Moves the cursors of `roomIds` from `sourceNodeId` forward to `seq`. Call it inside the batch's
 * transaction. A cursor never moves back: a live stream and a scheduled session (or a FULL one,
 * which reads from 0) may write the same cursors, and the one behind must not undo the other's
 * progress. Only `reset` (the source's log was reset: its seqs start over) sets it lower.
 */
export function saveCursor(
  db: NodeQueryable,
  sourceNodeId: string,
  roomIds: readonly string[],
  seq: number,
  at: Date = new Date(),
  reset = false,
): void {
  const rooms = [...new Set(roomIds)];
  if (rooms.length === 0) return;
  // One statement for any number of rooms: the room list travels as one JSON parameter. (`WHERE
  // true` is SQLite's required disambiguation between an upsert's ON CONFLICT and a join's ON.)
  db.run(sql`
    INSERT INTO ${syncCursors} (source_node_id, room_id, seq, updated_at)
    SELECT ${sourceNodeId}, value, ${seq}, ${at.getTime()} FROM json_each(${JSON.stringify(rooms)})
    WHERE true
    ON CONFLICT (source_node_id, room_id) DO UPDATE SET
      seq = ${reset ? sql`excluded.seq` : sql`max(seq, excluded.seq)`},
      updated_at = excluded.updated_at`);
}
