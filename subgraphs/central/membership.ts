// Room membership and its history. Every join and leave changes room_members (who is a member now)
// and room_membership_history (who was, when) in one transaction, so the history never disagrees
// with the present. The history answers the nodes' writer checks: could this user post in this
// room at that time?
import { and, eq, isNull, sql } from 'drizzle-orm';
import type { MembershipHistory, MembershipInterval } from '../../lib/syncProtocol.ts';
import type { CentralDatabase } from './db/open.ts';
import { roomMembers, roomMembershipHistory, settings } from './db/schema.ts';

type Tx = Parameters<Parameters<CentralDatabase['transaction']>[0]>[0];
type Db = CentralDatabase | Tx;

/**
 * Margin around a membership when judging a message's time: the message's createdAt comes from
 * its node's clock (up to a minute off central's, the nodes' --max-clock-drift-ms), and a node
 * reuses a positive membership answer for a few seconds (--membership-cache-ms), so a post made
 * just after leaving, or stamped by a slow clock just before joining, is still honest.
 */
export const MEMBERSHIP_CLOCK_MARGIN_MS = 60_000;

/** The setting, written by the migration that created the history, holding its start (epoch ms). */
const HISTORY_SINCE_KEY = 'membership_history_since';

/** Makes `userId` a member; false if it already was. */
export async function addMember(tx: Tx, roomId: string, userId: string): Promise<boolean> {
  const [joined] = await tx
    .insert(roomMembers)
    .values({ roomId, userId })
    .onConflictDoNothing()
    .returning({ joinedAt: roomMembers.joinedAt });
  if (!joined) return false;
  await tx.insert(roomMembershipHistory).values({ roomId, userId, joinedAt: joined.joinedAt });
  return true;
}

/** Ends `userId`'s membership; false if it was not a member. */
export async function removeMember(tx: Tx, roomId: string, userId: string): Promise<boolean> {
  const removed = await tx
    .delete(roomMembers)
    .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
    .returning({ userId: roomMembers.userId });
  if (removed.length === 0) return false;
  await tx
    .update(roomMembershipHistory)
    .set({ leftAt: sql`now()` })
    .where(
      and(
        eq(roomMembershipHistory.roomId, roomId),
        eq(roomMembershipHistory.userId, userId),
        isNull(roomMembershipHistory.leftAt),
      ),
    );
  return true;
}

export interface MembershipCheck {
  readonly roomId: string;
  readonly userId: string;
  /** Epoch milliseconds. */
  readonly at: number;
}

/**
 * Whether each user was a member of its room at its time (in the order asked), in one query. A
 * time before the history began counts as membership if the user and the room exist: there is
 * nothing to check it against, and refusing would quarantine every older message.
 */
export async function wereMembers(db: Db, checks: readonly MembershipCheck[]): Promise<boolean[]> {
  if (checks.length === 0) return [];
  const rows = JSON.stringify(checks.map((c, i) => ({ i, r: c.roomId, u: c.userId, t: c.at })));
  const h = roomMembershipHistory;
  const margin = MEMBERSHIP_CLOCK_MARGIN_MS;
  // The history's start is read in the same statement: one round trip per question.
  const since = sql`(select (${settings.value} #>> '{}')::double precision from ${settings}
                      where ${settings.key} = ${HISTORY_SINCE_KEY})`;
  const result = await db.execute(sql`
    select x.i, (
      (x.t < coalesce(${since}, 0) and exists (select 1 from users u where u.id = x.u)
                      and exists (select 1 from rooms r where r.id = x.r))
      or exists (
        select 1 from ${h}
         where ${h.roomId} = x.r and ${h.userId} = x.u
           and ${h.joinedAt} <= to_timestamp((x.t + ${margin}) / 1000.0)
           and (${h.leftAt} is null or ${h.leftAt} >= to_timestamp((x.t - ${margin}) / 1000.0)))
    ) as ok
      from json_to_recordset(${rows}::json) as x(i int, r text, u text, t double precision)`);
  const answers = new Array<boolean>(checks.length).fill(false);
  // PGlite and node-postgres both answer { rows }; drizzle types the raw result per driver.
  const { rows: found } = result as { rows: Array<{ i: number; ok: boolean }> };
  for (const row of found) answers[Number(row.i)] = row.ok === true;
  return answers;
}

/**
 * How long a join or leave may take between its stamp (its transaction's start, `now()`) and its
 * commit: one still uncommitted when a history is read is stamped at most this long before the
 * read. A few statements each; seconds are ample.
 */
export const MEMBERSHIP_WRITE_SLACK_MS = 5_000;

export interface MembershipHistories {
  /** In the order asked. */
  readonly histories: MembershipHistory[];
  /** Epoch ms: every join or leave missing from `histories` is stamped after this. */
  readonly asOf: number;
}

/**
 * Each (room, user)'s membership as the intervals of message times `wereMembers` counts as a
 * member's, in one query: a time is a member's by `wereMembers` iff one of its intervals covers
 * it. The history's rows become intervals widened by the margin; the time before the history
 * began is one more interval when the user and the room exist.
 */
export async function membershipHistories(
  db: Db,
  pairs: readonly { readonly roomId: string; readonly userId: string }[],
): Promise<MembershipHistories> {
  if (pairs.length === 0) return { histories: [], asOf: Date.now() - MEMBERSHIP_WRITE_SLACK_MS };
  const rows = JSON.stringify(pairs.map((p, i) => ({ i, r: p.roomId, u: p.userId })));
  const h = roomMembershipHistory;
  const margin = MEMBERSHIP_CLOCK_MARGIN_MS;
  const since = sql`(select (${settings.value} #>> '{}')::double precision from ${settings}
                      where ${settings.key} = ${HISTORY_SINCE_KEY})`;
  // Timestamps are microseconds, message times integer milliseconds: `joined_at <= t + margin`
  // holds from ceil(joined_at) - margin on, `left_at >= t - margin` up to floor(left_at) +
  // margin, and `t < since` up to ceil(since) - 1: the same answers as wereMembers's, exactly.
  const result = await db.execute(sql`
    select x.i,
      (select coalesce(json_agg(json_build_array(
                 ceil(extract(epoch from ${h.joinedAt}) * 1000) - ${margin}::bigint,
                 floor(extract(epoch from ${h.leftAt}) * 1000) + ${margin}::bigint)
               order by ${h.joinedAt}), '[]'::json)
         from ${h} where ${h.roomId} = x.r and ${h.userId} = x.u) as spans,
      (case when exists (select 1 from users u where u.id = x.u)
             and exists (select 1 from rooms r where r.id = x.r)
            then ceil(coalesce(${since}, 0)) - 1 end) as before,
      floor(extract(epoch from statement_timestamp()) * 1000) as read_at
      from json_to_recordset(${rows}::json) as x(i int, r text, u text)`);
  const { rows: found } = result as {
    rows: Array<{ i: number; spans: unknown; before: unknown; read_at: unknown }>;
  };
  const histories: MembershipHistory[] = pairs.map((p) => ({ ...p, intervals: [] }));
  let readAt = Date.now();
  for (const row of found) {
    readAt = Number(row.read_at);
    const intervals: MembershipInterval[] = [];
    const before = row.before === null ? -1 : Number(row.before);
    if (before >= 0) intervals.push({ from: 0, until: before });
    const spans = (typeof row.spans === 'string' ? JSON.parse(row.spans) : row.spans) as Array<
      [number | string, number | string | null]
    >;
    for (const [from, until] of spans) {
      intervals.push({ from: Number(from), until: until === null ? null : Number(until) });
    }
    const pair = pairs[Number(row.i)]!;
    histories[Number(row.i)] = { roomId: pair.roomId, userId: pair.userId, intervals };
  }
  return { histories, asOf: readAt - MEMBERSHIP_WRITE_SLACK_MS };
}
