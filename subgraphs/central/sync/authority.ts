// Writer authority for the nodes' checks of synced versions (SYNC_AUTHORITY_PATH): which nodes
// store each room now, and whether each new message's sender was a member of its room when the
// message was made. Two queries whatever the size of the question, which is bounded; asked for
// `intervals`, one more: the senders' membership histories, which the node keeps to judge their
// later messages itself. A node's periodic refresh of its rooms (`roomMembers`) whose tag still
// matches is answered without any (roomMembersTags.ts).
import { inArray } from 'drizzle-orm';
import {
  AuthorityQuerySchema,
  type AuthorityAnswer,
  type AuthorityQuery,
} from '../../../lib/syncProtocol.ts';
import { describeField } from '../../../lib/wire.ts';
import type { CentralDatabase } from '../db/open.ts';
import { activeNode, nodes, roomMembershipHistory, rooms } from '../db/schema.ts';
import {
  MEMBERSHIP_CLOCK_MARGIN_MS,
  membershipHistories,
  wereMembers,
  type MembershipHistories,
} from '../membership.ts';
import { storageNodeIdsOf } from '../placement.ts';
import type { RoomMembersTags } from './roomMembersTags.ts';

export class InvalidAuthorityQueryError extends Error {
  override readonly name = 'InvalidAuthorityQueryError';
}

/**
 * Returns the query typed, or throws InvalidAuthorityQueryError naming what is wrong: the first
 * fault at its field, or at its list entry (`senders[2] must be ...`: a sender check is refused
 * whole, whichever of its fields is wrong).
 */
export function validateAuthorityQuery(value: unknown): AuthorityQuery {
  const result = AuthorityQuerySchema.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidAuthorityQueryError(describeField(result.error.issues[0], 'the query', 2));
}

export async function answerAuthority(
  db: CentralDatabase,
  query: AuthorityQuery,
  tags?: RoomMembersTags,
): Promise<AuthorityAnswer> {
  const asked = [...new Set(query.roomIds)];
  // A refresh of rooms nothing has changed in since its tag: nothing to read (roomMembersTags.ts).
  // Only a pure refresh: sender checks are answered from the history as always.
  if (
    tags !== undefined &&
    query.roomMembers === true &&
    query.roomMembersTag !== undefined &&
    query.senders.length === 0 &&
    asked.length > 0 &&
    tags.matches(query.roomMembersTag, asked)
  ) {
    return {
      storageNodes: {},
      senders: [],
      ...(query.intervals === true ? { memberships: [] } : {}),
      roomMembershipsUnchanged: true,
      roomMembersTag: query.roomMembersTag,
      asOf: tags.unchangedAsOf(),
      marginMs: MEMBERSHIP_CLOCK_MARGIN_MS,
    };
  }
  // Taken before the reads: an event during them leaves the tag already stale.
  const tag = query.roomMembers === true && asked.length > 0 ? tags?.begin(asked) : undefined;
  const [placed, allNodes, senders, histories, roomHistories] = await Promise.all([
    asked.length === 0
      ? Promise.resolve([])
      : db
          .select({
            id: rooms.id,
            homeNodeId: rooms.homeNodeId,
            replicaNodeIds: rooms.replicaNodeIds,
            formerHolderIds: rooms.formerHolderIds,
          })
          .from(rooms)
          .where(inArray(rooms.id, asked)),
    asked.length === 0
      ? Promise.resolve([])
      : db.select({ id: nodes.id }).from(nodes).where(activeNode),
    wereMembers(db, query.senders),
    query.intervals === true ? membershipHistories(db, distinctPairs(query)) : undefined,
    query.roomMembers === true && asked.length > 0 ? roomMembersOf(db, asked) : undefined,
  ]);
  const storageNodes: Record<string, string[]> = {};
  // A node that left the room (placementChange.ts) was a holder when it took its messages: they
  // stay valid origins.
  for (const room of placed)
    storageNodes[room.id] = [
      ...new Set([...storageNodeIdsOf(room, allNodes), ...room.formerHolderIds]),
    ];
  if (!histories && !roomHistories) return { storageNodes, senders };
  // One asOf for both lists: the older read's, which is true of both.
  const asOf = Math.min(
    histories?.asOf ?? Number.POSITIVE_INFINITY,
    roomHistories?.asOf ?? Number.POSITIVE_INFINITY,
  );
  return {
    storageNodes,
    senders,
    ...(histories ? { memberships: histories.histories } : {}),
    ...(roomHistories ? { roomMemberships: roomHistories.histories } : {}),
    ...(roomHistories && tag !== undefined ? { roomMembersTag: tag } : {}),
    asOf,
    marginMs: MEMBERSHIP_CLOCK_MARGIN_MS,
  };
}

/** The histories of every user with a membership row in the rooms: one query more than theirs. */
async function roomMembersOf(
  db: CentralDatabase,
  roomIds: readonly string[],
): Promise<MembershipHistories> {
  const pairs = await db
    .selectDistinct({
      roomId: roomMembershipHistory.roomId,
      userId: roomMembershipHistory.userId,
    })
    .from(roomMembershipHistory)
    .where(inArray(roomMembershipHistory.roomId, [...roomIds]));
  return membershipHistories(db, pairs);
}

function distinctPairs(query: AuthorityQuery): { roomId: string; userId: string }[] {
  const seen = new Map<string, { roomId: string; userId: string }>();
  for (const { roomId, userId } of query.senders) {
    const key = `${roomId}\n${userId}`;
    if (!seen.has(key)) seen.set(key, { roomId, userId });
  }
  return [...seen.values()];
}
