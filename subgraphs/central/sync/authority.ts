// Writer authority for the nodes' checks of synced versions (SYNC_AUTHORITY_PATH): which nodes
// store each room now, and whether each new message's sender was a member of its room when the
// message was made. Two queries whatever the size of the question, which is bounded; asked for
// `intervals`, one more: the senders' membership histories, which the node keeps to judge their
// later messages itself.
import { inArray } from 'drizzle-orm';
import type { AuthorityAnswer, AuthorityQuery } from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { activeNode, nodes, roomMembershipHistory, rooms } from '../db/schema.ts';
import {
  MEMBERSHIP_CLOCK_MARGIN_MS,
  membershipHistories,
  wereMembers,
  type MembershipHistories,
} from '../membership.ts';
import { storageNodeIdsOf } from '../placement.ts';

export const MAX_AUTHORITY_ROOMS = 1000;
export const MAX_AUTHORITY_SENDERS = 5000;
const MAX_ID = 128;

export class InvalidAuthorityQueryError extends Error {
  override readonly name = 'InvalidAuthorityQueryError';
}

const isId = (value: unknown): value is string =>
  typeof value === 'string' && value.length > 0 && value.length <= MAX_ID;

/** Returns the query typed, or throws InvalidAuthorityQueryError naming what is wrong. */
export function validateAuthorityQuery(value: unknown): AuthorityQuery {
  const fail = (what: string): never => {
    throw new InvalidAuthorityQueryError(what);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail('the query must be a JSON object { roomIds, senders }');
  const body = value as Record<string, unknown>;
  const intervals = body['intervals'];
  if (intervals !== undefined && typeof intervals !== 'boolean')
    fail('intervals must be a boolean when given');
  const roomMembers = body['roomMembers'];
  if (roomMembers !== undefined && typeof roomMembers !== 'boolean')
    fail('roomMembers must be a boolean when given');
  const roomIds = body['roomIds'];
  if (!Array.isArray(roomIds) || roomIds.length > MAX_AUTHORITY_ROOMS)
    fail(`roomIds must be an array of at most ${MAX_AUTHORITY_ROOMS} room ids`);
  (roomIds as unknown[]).forEach((id, i) => {
    if (!isId(id)) fail(`roomIds[${i}] must be a string of 1-${MAX_ID} characters`);
  });
  const senders = body['senders'];
  if (!Array.isArray(senders) || senders.length > MAX_AUTHORITY_SENDERS)
    fail(`senders must be an array of at most ${MAX_AUTHORITY_SENDERS} checks`);
  const checks = (senders as unknown[]).map((check, i) => {
    const c = (typeof check === 'object' && check !== null ? check : {}) as Record<string, unknown>;
    const at = c['at'];
    if (
      !isId(c['roomId']) ||
      !isId(c['userId']) ||
      typeof at !== 'number' ||
      !Number.isSafeInteger(at) ||
      at < 0
    )
      fail(`senders[${i}] must be { roomId, userId, at } with at in epoch milliseconds`);
    return { roomId: c['roomId'] as string, userId: c['userId'] as string, at: at as number };
  });
  return {
    roomIds: roomIds as string[],
    senders: checks,
    ...(intervals === true ? { intervals: true } : {}),
    ...(roomMembers === true ? { roomMembers: true } : {}),
  };
}

export async function answerAuthority(
  db: CentralDatabase,
  query: AuthorityQuery,
): Promise<AuthorityAnswer> {
  const asked = [...new Set(query.roomIds)];
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
