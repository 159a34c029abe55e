import { and, asc, count, eq, exists, or } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../../lib/errors.ts';
import type { Viewer } from '../../../lib/userAuth.ts';
import { requireAdmin, requireViewer, type CentralContext } from '../context.ts';
import { activeNode, nodes, roomMembers, rooms, type RoomRow, type UserRow } from '../db/schema.ts';
import { addMember, removeMember } from '../membership.ts';
import { noticeRemoval } from '../nodeNotices.ts';
import { replicaNodesOf } from '../placement.ts';
import { activeNodes, changePlacement } from '../placementChange.ts';
import {
  canSee,
  directPairKey,
  forgetMembership,
  isMember,
  visibleRoomOrNotFound,
} from '../roomAccess.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import * as valid from '../validation.ts';

async function userOrNotFound(ctx: CentralContext, rawId: string): Promise<UserRow> {
  const user = await ctx.loaders.user.load(valid.id(rawId, 'userId'));
  if (!user) throw appError('NOT_FOUND', `no user with id ${rawId}`);
  return user;
}

/** Every change of membership goes through here: history, loaders and the gateways' event. */
async function changeMembership(
  ctx: CentralContext,
  room: RoomRow,
  userId: string,
  change: 'add' | 'remove',
): Promise<void> {
  const changed = await ctx.db.transaction((tx) =>
    change === 'add' ? addMember(tx, room.id, userId) : removeMember(tx, room.id, userId),
  );
  forgetMembership(ctx, room.id, userId);
  // The gateways end subscriptions of whoever lost access on this event.
  if (changed) await ctx.events.publish({ type: 'roomChanged', roomId: room.id });
  if (changed && change === 'remove') {
    // The nodes drop their cached "member" answer before this returns: the next write is refused.
    const silent = await noticeRemoval(ctx, room, userId);
    if (silent.length > 0)
      ctx.log.warn(
        `room "${room.name}": ${silent.join(', ')} did not confirm a member's removal within ${ctx.membershipNoticeDeadlineMs} ms; they may take that user's writes for their --membership-cache-ms`,
      );
  }
}

/** Who may remove another member: an ADMIN, or the creator of a room that is not a direct one. */
function mayRemoveOthers(viewer: Viewer, room: RoomRow): boolean {
  return viewer.role === 'ADMIN' || (room.createdBy === viewer.id && room.directPairKey === null);
}

/** The ONLINE node homing the fewest rooms: new rooms spread over the cluster. */
async function leastLoadedOnlineNode(ctx: CentralContext): Promise<string> {
  const [row] = await ctx.db
    .select({ id: nodes.id, rooms: count(rooms.id) })
    .from(nodes)
    .leftJoin(rooms, eq(rooms.homeNodeId, nodes.id))
    .where(and(eq(nodes.status, 'ONLINE'), activeNode))
    .groupBy(nodes.id, nodes.name)
    .orderBy(asc(count(rooms.id)), asc(nodes.name))
    .limit(1);
  if (!row)
    throw appError('NODE_UNAVAILABLE', 'no chat node is online to home the room; pass homeNodeId');
  return row.id;
}

export const roomResolvers: Resolvers = {
  Query: {
    room: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await ctx.loaders.room.load(valid.id(args.id));
      return room && (await canSee(ctx, viewer, room)) ? room : null;
    },
    // PUBLIC rooms are open to join, so every user sees them (their messages stay private to
    // members, enforced by the nodes); PRIVATE ones only their members (and ADMINs).
    rooms: (_parent, _args, ctx) => {
      const viewer = requireViewer(ctx);
      const visible =
        viewer.role === 'ADMIN'
          ? undefined
          : or(
              eq(rooms.visibility, 'PUBLIC'),
              exists(
                ctx.db
                  .select({ one: roomMembers.userId })
                  .from(roomMembers)
                  .where(and(eq(roomMembers.roomId, rooms.id), eq(roomMembers.userId, viewer.id))),
              ),
            );
      return ctx.db
        .select()
        .from(rooms)
        .where(visible)
        .orderBy(asc(rooms.createdAt), asc(rooms.id));
    },
  },
  Mutation: {
    createRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const name = valid.roomName(args.name);
      let homeNodeId: string;
      if (args.homeNodeId !== undefined && args.homeNodeId !== null) {
        const node = await ctx.loaders.node.load(valid.id(args.homeNodeId, 'homeNodeId'));
        if (!node) throw appError('NOT_FOUND', `no node with id ${args.homeNodeId}`);
        homeNodeId = node.id;
      } else {
        homeNodeId = await leastLoadedOnlineNode(ctx);
      }
      let replicaNodeIds: string[] | null = null;
      if (args.replicaNodeIds !== undefined && args.replicaNodeIds !== null) {
        const ids = [...new Set(args.replicaNodeIds.map((id) => valid.id(id, 'replicaNodeIds')))];
        const found = await ctx.loaders.node.loadMany(ids);
        const missing = ids.filter((_, i) => !found[i] || found[i] instanceof Error);
        if (missing.length > 0)
          throw appError('NOT_FOUND', `no node with id ${missing.join(', ')}`);
        replicaNodeIds = ids.filter((id) => id !== homeNodeId);
      }
      const room = await ctx.db.transaction(async (tx) => {
        const [created] = await tx
          .insert(rooms)
          .values({
            id: uuidv7(),
            name,
            homeNodeId,
            replicaNodeIds,
            createdBy: viewer.id,
            visibility: args.visibility ?? 'PUBLIC',
          })
          .returning();
        if (!created) throw new Error('insert returned no room');
        await addMember(tx, created.id, viewer.id);
        return created;
      });
      forgetMembership(ctx, room.id, viewer.id);
      await ctx.events.publish({ type: 'roomChanged', roomId: room.id });
      ctx.log.info(`room "${room.name}" (${room.visibility}) created by ${viewer.username}`);
      return room;
    },
    updateRoom: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const room = await ctx.loaders.room.load(valid.id(args.roomId, 'roomId'));
      if (!room) throw appError('NOT_FOUND', `no room with id ${args.roomId}`);
      const all = await activeNodes(ctx);
      const known = new Set(all.map((n) => n.id));
      let homeNodeId = room.homeNodeId;
      if (args.homeNodeId !== undefined && args.homeNodeId !== null) {
        homeNodeId = valid.id(args.homeNodeId, 'homeNodeId');
        if (!known.has(homeNodeId)) throw appError('NOT_FOUND', `no node with id ${homeNodeId}`);
      }
      let replicaNodeIds = room.replicaNodeIds;
      if (args.replicaNodeIds !== undefined && args.replicaNodeIds !== null) {
        const ids = [...new Set(args.replicaNodeIds.map((id) => valid.id(id, 'replicaNodeIds')))];
        const missing = ids.filter((id) => !known.has(id));
        if (missing.length > 0)
          throw appError('NOT_FOUND', `no node with id ${missing.join(', ')}`);
        replicaNodeIds = ids;
      }
      if (replicaNodeIds !== null)
        replicaNodeIds = replicaNodeIds.filter((id) => id !== homeNodeId);
      const updated = await changePlacement(ctx, room, { homeNodeId, replicaNodeIds }, 'refuse');
      ctx.loaders.room.clear(room.id);
      return updated;
    },
    joinRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await visibleRoomOrNotFound(ctx, viewer, args.roomId);
      if (room.visibility === 'PRIVATE' && !(await isMember(ctx, viewer.id, room.id))) {
        // Only an ADMIN gets here (anyone else was told NOT_FOUND): even they join by invitation,
        // so that every member of a PRIVATE room was let in by one.
        throw appError('FORBIDDEN', 'a PRIVATE room is joined by invitation (inviteToRoom)');
      }
      await changeMembership(ctx, room, viewer.id, 'add');
      return room;
    },
    leaveRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await visibleRoomOrNotFound(ctx, viewer, args.roomId);
      await changeMembership(ctx, room, viewer.id, 'remove');
      return room;
    },
    inviteToRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await visibleRoomOrNotFound(ctx, viewer, args.roomId);
      if (viewer.role !== 'ADMIN' && !(await isMember(ctx, viewer.id, room.id)))
        throw appError('FORBIDDEN', 'only members of the room (or an ADMIN) may invite to it');
      if (room.directPairKey !== null)
        throw appError('FORBIDDEN', 'a direct conversation stays between its two users');
      const invited = await userOrNotFound(ctx, args.userId);
      await changeMembership(ctx, room, invited.id, 'add');
      ctx.log.info(`${invited.username} invited to room "${room.name}" by ${viewer.username}`);
      return room;
    },
    removeFromRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await visibleRoomOrNotFound(ctx, viewer, args.roomId);
      const removed = await userOrNotFound(ctx, args.userId);
      if (removed.id !== viewer.id && !mayRemoveOthers(viewer, room))
        throw appError(
          'FORBIDDEN',
          "only an ADMIN or the room's creator may remove another member (direct conversations: nobody)",
        );
      await changeMembership(ctx, room, removed.id, 'remove');
      ctx.log.info(`${removed.username} removed from room "${room.name}" by ${viewer.username}`);
      return room;
    },
    openDirectRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const other = await userOrNotFound(ctx, args.userId);
      if (other.id === viewer.id)
        throw appError('BAD_USER_INPUT', 'a direct conversation needs another user than yourself');
      const key = directPairKey(viewer.id, other.id);
      const [existing] = await ctx.db.select().from(rooms).where(eq(rooms.directPairKey, key));
      if (existing) {
        await changeMembership(ctx, existing, viewer.id, 'add');
        return existing;
      }
      const homeNodeId = await leastLoadedOnlineNode(ctx);
      const [first, second] = [viewer.username, other.username].sort();
      const room = await ctx.db.transaction(async (tx) => {
        // The unique pair key decides between concurrent calls: the later insert waits for the
        // earlier one's commit, inserts nothing, and reads the room it made.
        const [created] = await tx
          .insert(rooms)
          .values({
            id: uuidv7(),
            name: `${first} & ${second}`,
            homeNodeId,
            createdBy: viewer.id,
            visibility: 'PRIVATE',
            directPairKey: key,
          })
          .onConflictDoNothing({ target: rooms.directPairKey })
          .returning();
        if (!created) {
          const [raced] = await tx.select().from(rooms).where(eq(rooms.directPairKey, key));
          if (!raced) throw new Error(`direct room ${key} conflicted but cannot be read`);
          await addMember(tx, raced.id, viewer.id);
          return raced;
        }
        await addMember(tx, created.id, viewer.id);
        await addMember(tx, created.id, other.id);
        ctx.log.info(`direct room opened by ${viewer.username} with ${other.username}`);
        return created;
      });
      forgetMembership(ctx, room.id, viewer.id);
      forgetMembership(ctx, room.id, other.id);
      await ctx.events.publish({ type: 'roomChanged', roomId: room.id });
      return room;
    },
  },
  User: {
    rooms: async (user, _args, ctx) => {
      const viewer = requireViewer(ctx);
      const all = await ctx.loaders.userRooms.load(user.id);
      if (user.id === viewer.id || viewer.role === 'ADMIN') return all;
      const seen = await Promise.all(all.map((room) => canSee(ctx, viewer, room)));
      return all.filter((_, i) => seen[i]);
    },
  },
  Room: {
    // A PRIVATE room reaches no one else by reference either (e.g. from a node's Message.room).
    __resolveReference: async (ref, ctx) => {
      const room = await ctx.loaders.room.load(ref.id);
      return room && (await canSee(ctx, ctx.viewer, room)) ? room : null;
    },
    homeNode: async (room, _args, ctx) => {
      const node = await ctx.loaders.node.load(room.homeNodeId);
      if (!node) throw new Error(`room ${room.id} names a missing home node ${room.homeNodeId}`);
      return node;
    },
    replicaNodes: async (room, _args, ctx) => replicaNodesOf(room, await ctx.loaders.allNodes()),
    members: (room, _args, ctx) => ctx.loaders.roomMembers.load(room.id),
    isMember: (room, _args, ctx) => {
      const viewer = requireViewer(ctx);
      return isMember(ctx, viewer.id, room.id);
    },
    visibility: (room) => room.visibility,
  },
};
