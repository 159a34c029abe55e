// The lock order of a report's transaction (report.ts, liveReport.ts). On PostgreSQL two reports
// recorded at once (two targets of one source, a session and a live window of one pair, one report
// retried through another central) used to take row locks in different orders and deadlock: the
// head of the source was raised on all its pairs in whatever order the scan met them, after each
// report had already locked its own pair's row. Every report now locks, in this order and within
// each table in key order:
//
//   1. its pair, as an advisory lock (reports of one pair run one after another: the quarantine
//      rows, the pair's cursor and a retried report of the same session need nothing finer);
//      a request of several live windows (liveReport.ts) takes all its pairs' locks first, in the
//      order of their lock keys, which every such request follows;
//   2. the index rows it writes, by message id (upsertIndex sorts them);
//   3. its own session row, which no other report locks (a session's reports are of one pair), and
//      the log rows it inserts, which no one else waits for;
//   4. the sync_pairs rows of its source, by target id, in one statement (raiseSourceHead): those
//      behind the reported head, which it raises, and its own pair's row whatever its head, which
//      the cursor's upsert then writes; with several sources, source after source in id order
//      (raiseSourceHeads, one statement), each with its own pair among them. The own pair's row
//      is locked in that pass, not by the upsert after it: a row at or past the head (another
//      report raised it further) used to be skipped by the pass and locked last, after rows of
//      greater target ids, and a report raising the same source in target order that held it
//      then waited for one of those: "deadlock detected" (#15). An own pair without a row yet is
//      inserted by the upsert: no other report sees it before the commit, and only the pair's own
//      reports, which wait at step 1, could insert it too;
//   5. the nodes rows whose lastSyncAt it sets, by id (markNodesSynced).
//
// A transaction that waits only ever waits for one that is further along the same order, so no
// cycle can form among reports. What other writers may still cause (a liveness sweep updating
// several nodes rows) is retried (db/transactionRetry.ts).
import { and, eq, inArray, lt, or, sql } from 'drizzle-orm';
import { nodes, syncPairs } from '../db/schema.ts';
import type { Tx } from './report.ts';

// Any fixed number distinct from the migration (727_001) and scheduler (727_002) locks.
const PAIR_LOCK_SPACE = 727_003;

/** Step 1: held until the transaction ends. Two pairs hashing alike only wait for each other. */
export async function lockPair(tx: Tx, sourceNodeId: string, targetNodeId: string): Promise<void> {
  await tx.execute(
    sql`select pg_advisory_xact_lock(${PAIR_LOCK_SPACE}, hashtext(${`${sourceNodeId}>${targetNodeId}`}))`,
  );
}

/**
 * Step 1 for several pairs: their locks in the order of the lock keys, so that two requests
 * sharing pairs take them in the same order (and a single pair's lockPair is one of them). Pairs
 * whose keys collide are one lock, taken once.
 */
export async function lockPairs(
  tx: Tx,
  pairs: ReadonlyArray<{ readonly sourceNodeId: string; readonly targetNodeId: string }>,
): Promise<void> {
  if (pairs.length === 1 && pairs[0])
    return lockPair(tx, pairs[0].sourceNodeId, pairs[0].targetNodeId);
  if (pairs.length === 0) return;
  const keys = JSON.stringify(pairs.map((p) => `${p.sourceNodeId}>${p.targetNodeId}`));
  // The subquery's order is the order the locks are taken in: a plain scan of it, row by row.
  await tx.execute(sql`
    select pg_advisory_xact_lock(${PAIR_LOCK_SPACE}, k.h)
      from (select distinct hashtext(key) as h
              from json_array_elements_text(${keys}::json) as key
             order by h) as k`);
}

/**
 * Step 4: the source's newest seq is the same for every target pulling from it, so every pair of
 * the source that is behind it moves up ("how far behind" improves for the others too). One
 * statement locks, in target order, the rows behind `headSeq` and the row of the report's own pair
 * (`ownTargetNodeId`), whose cursor the caller upserts next; only the rows behind are written.
 */
export async function raiseSourceHead(
  tx: Tx,
  sourceNodeId: string,
  headSeq: number,
  ownTargetNodeId: string,
): Promise<void> {
  const locked = tx
    .select({ target: syncPairs.targetNodeId })
    .from(syncPairs)
    .where(
      and(
        sql`${syncPairs.sourceNodeId} = ${sourceNodeId}`,
        or(lt(syncPairs.sourceHeadSeq, headSeq), eq(syncPairs.targetNodeId, ownTargetNodeId)),
      ),
    )
    .orderBy(syncPairs.targetNodeId)
    .for('no key update');
  await tx
    .update(syncPairs)
    .set({ sourceHeadSeq: sql`greatest(${syncPairs.sourceHeadSeq}, ${headSeq})` })
    .where(
      and(
        sql`${syncPairs.sourceNodeId} = ${sourceNodeId}`,
        inArray(syncPairs.targetNodeId, locked),
        lt(syncPairs.sourceHeadSeq, headSeq),
      ),
    );
}

/**
 * Step 4 for several sources (a request of live windows, all of one target): one statement
 * whatever their number, locking in (source, target) order each source's rows behind its head and
 * its pair with `ownTargetNodeId`, which is the order the sources' raiseSourceHead calls one after
 * another would take.
 */
export async function raiseSourceHeads(
  tx: Tx,
  heads: ReadonlyArray<{ readonly sourceNodeId: string; readonly headSeq: number }>,
  ownTargetNodeId: string,
): Promise<void> {
  if (heads.length === 1 && heads[0])
    return raiseSourceHead(tx, heads[0].sourceNodeId, heads[0].headSeq, ownTargetNodeId);
  if (heads.length === 0) return;
  const rows = JSON.stringify(heads.map((h) => ({ s: h.sourceNodeId, h: h.headSeq })));
  const p = syncPairs;
  await tx.execute(sql`
    update ${p} set source_head_seq = greatest(${p.sourceHeadSeq}, x.h)
      from json_to_recordset(${rows}::json) as x(s text, h bigint)
     where ${p.sourceNodeId} = x.s and ${p.sourceHeadSeq} < x.h
       and (${p.sourceNodeId}, ${p.targetNodeId}) in (
             select b.source_node_id, b.target_node_id
               from ${p} as b
               join json_to_recordset(${rows}::json) as y(s text, h bigint)
                 on b.source_node_id = y.s
                and (b.source_head_seq < y.h or b.target_node_id = ${ownTargetNodeId})
              order by b.source_node_id, b.target_node_id
                for no key update of b)`);
}

/** Step 5: the rows locked by id, then updated. */
export async function markNodesSynced(
  tx: Tx,
  nodeIds: readonly string[],
  now: Date,
): Promise<void> {
  const rows = tx
    .select({ id: nodes.id })
    .from(nodes)
    .where(inArray(nodes.id, [...nodeIds]))
    .orderBy(nodes.id)
    .for('no key update');
  await tx.update(nodes).set({ lastSyncAt: now }).where(inArray(nodes.id, rows));
}
