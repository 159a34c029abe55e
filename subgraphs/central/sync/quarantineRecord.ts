// Records what reports say about quarantine: the versions a target set aside, and the messages it
// released (it applied a newer, valid version from the same source). Several reports go in one
// call (liveReport.ts records every window of a request at once) and in two bulk statements,
// whatever their number; the outcome is the one the reports' statements would have had run one
// report after the other, in the given order: a report quarantines, then releases (the order its
// target saw them in within one report is not on the wire), and a later report's quarantine of a
// message an earlier one released stays aside. Release runs first, then the insert; what each
// report's rows end as is worked out here beforehand, per (pair, message).
import { sql } from 'drizzle-orm';
import type { QuarantinedVersion } from '../../../lib/syncProtocol.ts';
import { quarantinedVersions, type SyncSessionRow } from '../db/schema.ts';
import type { Tx } from './report.ts';

/** A session's quarantined versions and released messages, as one report gives them. */
export interface QuarantineChange {
  readonly session: SyncSessionRow;
  readonly quarantined: readonly QuarantinedVersion[];
  readonly released: readonly string[];
}

/** A row to insert, and whether a later report of the call already released it. */
interface AsideRow {
  readonly id: string;
  readonly src: string;
  readonly tgt: string;
  readonly m: string;
  readonly r: string;
  readonly s: number;
  readonly h: string;
  readonly why: string;
  rel: boolean;
  /**
   * Quarantined before the call's first release of its message: a row of the same version still
   * aside from before the call would have absorbed it (on conflict do nothing).
   */
  readonly beforeRelease: boolean;
}

interface MessagePlan {
  readonly src: string;
  readonly tgt: string;
  readonly m: string;
  released: boolean;
  /** Rows inserted by the call and not released since, by HLC: a repeat of one adds nothing. */
  readonly open: Map<string, AsideRow>;
}

/** The reports' effects folded per (pair, message), in order. */
function planQuarantine(changes: readonly QuarantineChange[]): {
  readonly aside: readonly AsideRow[];
  readonly released: ReadonlyArray<{ src: string; tgt: string; m: string }>;
} {
  const plans = new Map<string, MessagePlan>();
  const planOf = (session: SyncSessionRow, m: string): MessagePlan => {
    const key = JSON.stringify([session.sourceNodeId, session.targetNodeId, m]);
    let plan = plans.get(key);
    if (!plan) {
      plan = {
        src: session.sourceNodeId,
        tgt: session.targetNodeId,
        m,
        released: false,
        open: new Map(),
      };
      plans.set(key, plan);
    }
    return plan;
  };
  const aside: AsideRow[] = [];
  for (const { session, quarantined, released } of changes) {
    for (const q of quarantined) {
      const plan = planOf(session, q.messageId);
      if (plan.open.has(q.hlc)) continue;
      const row: AsideRow = {
        id: session.id,
        src: plan.src,
        tgt: plan.tgt,
        m: q.messageId,
        r: q.roomId,
        s: q.seq,
        h: q.hlc,
        why: q.reason,
        rel: false,
        beforeRelease: !plan.released,
      };
      plan.open.set(q.hlc, row);
      aside.push(row);
    }
    for (const m of released) {
      const plan = planOf(session, m);
      plan.released = true;
      for (const row of plan.open.values()) row.rel = true;
      plan.open.clear();
    }
  }
  return {
    aside,
    released: [...plans.values()]
      .filter((plan) => plan.released)
      .map(({ src, tgt, m }) => ({ src, tgt, m })),
  };
}

/**
 * Records the reports' quarantine in at most two statements: the released messages' rows still
 * aside from before are released, then the quarantined versions are inserted, those a later
 * report released as released already. A version already aside for the pair is not recorded
 * twice.
 */
export async function recordQuarantine(
  tx: Tx,
  changes: readonly QuarantineChange[],
  now: Date,
): Promise<void> {
  const qv = quarantinedVersions;
  const plan = planQuarantine(changes);
  const at = now.toISOString();
  // The versions this call released that were aside before it: quarantined again before the
  // release, they were still aside then, and add no row.
  const releasedBefore = new Set<string>();
  if (plan.released.length > 0) {
    const result = await tx.execute(sql`
      update ${qv} set released_at = ${at}::timestamptz
        from json_to_recordset(${JSON.stringify(plan.released)}::json)
             as x(src text, tgt text, m text)
       where ${qv.sourceNodeId} = x.src and ${qv.targetNodeId} = x.tgt
         and ${qv.messageId} = x.m and ${qv.releasedAt} is null
      returning ${qv.sourceNodeId} as src, ${qv.targetNodeId} as tgt, ${qv.messageId} as m,
                ${qv.hlc} as h`);
    // PGlite and node-postgres both answer { rows }; drizzle types the raw result per driver.
    const { rows } = result as { rows: Array<{ src: string; tgt: string; m: string; h: string }> };
    for (const row of rows) releasedBefore.add(JSON.stringify([row.src, row.tgt, row.m, row.h]));
  }
  const aside = plan.aside.filter(
    (row) =>
      !(row.beforeRelease && releasedBefore.has(JSON.stringify([row.src, row.tgt, row.m, row.h]))),
  );
  if (aside.length > 0)
    await tx.execute(sql`
      insert into ${qv} (session_id, source_node_id, target_node_id, message_id, room_id, seq, hlc,
                         reason, quarantined_at, released_at)
      select x.id, x.src, x.tgt, x.m, x.r, x.s, x.h, x.why, ${at}::timestamptz,
             case when x.rel then ${at}::timestamptz end
        from json_to_recordset(${JSON.stringify(aside)}::json)
             as x(id text, src text, tgt text, m text, r text, s bigint, h text, why text,
                  rel boolean)
      on conflict (source_node_id, target_node_id, message_id, hlc) where released_at is null
      do nothing`);
}
