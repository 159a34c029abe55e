// The pair cursor, kept on the target: how far into a source's change log this node has applied.
// `saveCursor` runs inside the transaction that applies the batch (applyRemote's `inTransaction`),
// so after a crash the cursor and the data agree and the next session resumes exactly there.
import { eq } from 'drizzle-orm';
import type { NodeQueryable } from '../db/open.ts';
import { syncCursors } from '../db/schema.ts';

/** The last seq of `sourceNodeId` applied here; 0 when this node never pulled from it. */
export function readCursor(db: NodeQueryable, sourceNodeId: string): number {
  return (
    db
      .select({ seq: syncCursors.seq })
      .from(syncCursors)
      .where(eq(syncCursors.sourceNodeId, sourceNodeId))
      .get()?.seq ?? 0
  );
}

/** Stores the cursor of `sourceNodeId`. Call it inside the transaction that applied the batch. */
export function saveCursor(
  db: NodeQueryable,
  sourceNodeId: string,
  seq: number,
  at: Date = new Date(),
): void {
  db.insert(syncCursors)
    .values({ sourceNodeId, seq, updatedAt: at })
    .onConflictDoUpdate({ target: syncCursors.sourceNodeId, set: { seq, updatedAt: at } })
    .run();
}
