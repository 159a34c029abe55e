// The change log: the feed sync reads. Every committed create, edit and delete of a message (local
// or applied from a peer) has exactly one row, appended inside the transaction that made the
// change, so the log can never show a change that did not commit nor miss one that did.
import { asc, desc, gt, sql } from 'drizzle-orm';
import type { NodeQueryable } from './db/open.ts';
import { changeLog, type ChangeLogRow } from './db/schema.ts';

/** Changes after `afterSeq` in commit order: what a peer whose cursor is `afterSeq` has not seen. */
export function readChanges(db: NodeQueryable, afterSeq: number, limit: number): ChangeLogRow[] {
  return db
    .select()
    .from(changeLog)
    .where(gt(changeLog.seq, afterSeq))
    .orderBy(asc(changeLog.seq))
    .limit(limit)
    .all();
}

/** The newest `seq`, 0 for an empty log. */
export function lastSeq(db: NodeQueryable): number {
  return (
    db.select({ seq: changeLog.seq }).from(changeLog).orderBy(desc(changeLog.seq)).limit(1).get()
      ?.seq ?? 0
  );
}

/** The greatest HLC the node ever wrote or applied: where its clock resumes after a restart. */
export function greatestHlc(db: NodeQueryable): string | undefined {
  return (
    db
      .select({ hlc: sql<string | null>`max(${changeLog.hlc})` })
      .from(changeLog)
      .get()?.hlc ?? undefined
  );
}
