// Room membership and its history. Every join and leave changes room_members (who is a member now)
// and room_membership_history (who was, when) in one transaction, so the history never disagrees
// with the present. The history answers the nodes' writer checks: could this user post in this
// room at that time?
import { and, eq, isNull, sql } from 'drizzle-orm';
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
