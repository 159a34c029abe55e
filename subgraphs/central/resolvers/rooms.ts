import { asc, count, eq } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../../lib/errors.ts';
import { requireViewer, type CentralContext } from '../context.ts';
import { nodes, rooms, type RoomRow } from '../db/schema.ts';
import { addMember, removeMember } from '../membership.ts';
import { replicaNodesOf } from '../placement.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import * as valid from '../validation.ts';

async function roomOrNotFound(ctx: CentralContext, rawId: string): Promise<RoomRow> {
  const room = await ctx.loaders.room.load(valid.id(rawId, 'roomId'));
  if (!room) throw appError('NOT_FOUND', `no room with id ${rawId}`);
  return room;
}

/** The ONLINE node homing the fewest rooms: new rooms spread over the cluster. */
async function leastLoadedOnlineNode(ctx: CentralContext): Promise<string> {
  const [row] = await ctx.db
    .select({ id: nodes.id, rooms: count(rooms.id) })
    .from(nodes)
    .leftJoin(rooms, eq(rooms.homeNodeId, nodes.id))
    .where(eq(nodes.status, 'ONLINE'))
    .groupBy(nodes.id, nodes.name)
    .orderBy(asc(count(rooms.id)), asc(nodes.name))
    .limit(1);
  if (!row)
    throw appError('NODE_UNAVAILABLE', 'no chat node is online to home the room; pass homeNodeId');
  return row.id;
}

export const roomResolvers: Resolvers = {
  Query: {
    room: (_parent, args, ctx) => {
      requireViewer(ctx);
      return ctx.loaders.room.load(valid.id(args.id));
    },
    // Rooms are open to join, so every authenticated user sees the list; their messages are
    // private to members (enforced by the nodes).
    rooms: (_parent, _args, ctx) => {
      requireViewer(ctx);
      return ctx.db.select().from(rooms).orderBy(asc(rooms.createdAt), asc(rooms.id));
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
          .values({ id: uuidv7(), name, homeNodeId, replicaNodeIds, createdBy: viewer.id })
          .returning();
        if (!created) throw new Error('insert returned no room');
        await addMember(tx, created.id, viewer.id);
        return created;
      });
      await ctx.events.publish({ type: 'roomChanged', roomId: room.id });
      ctx.log.info(`room "${room.name}" created by ${viewer.username}`);
      return room;
    },
    joinRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await roomOrNotFound(ctx, args.roomId);
      const joined = await ctx.db.transaction((tx) => addMember(tx, room.id, viewer.id));
      if (joined) await ctx.events.publish({ type: 'roomChanged', roomId: room.id });
      ctx.loaders.roomMembers.clear(room.id);
      return room;
    },
    leaveRoom: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const room = await roomOrNotFound(ctx, args.roomId);
      const left = await ctx.db.transaction((tx) => removeMember(tx, room.id, viewer.id));
      if (left) await ctx.events.publish({ type: 'roomChanged', roomId: room.id });
      ctx.loaders.roomMembers.clear(room.id);
      return room;
    },
  },
  Room: {
    __resolveReference: (ref, ctx) => ctx.loaders.room.load(ref.id),
    homeNode: async (room, _args, ctx) => {
      const node = await ctx.loaders.node.load(room.homeNodeId);
      if (!node) throw new Error(`room ${room.id} names a missing home node ${room.homeNodeId}`);
      return node;
    },
    replicaNodes: async (room, _args, ctx) => replicaNodesOf(room, await ctx.loaders.allNodes()),
    members: (room, _args, ctx) => ctx.loaders.roomMembers.load(room.id),
  },
};
