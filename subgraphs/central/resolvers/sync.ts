import { and, asc, count, desc, eq, exists, gt, or, sql, type SQL } from 'drizzle-orm';
import { appError } from '../../../lib/errors.ts';
import { createEventQueue } from '../../../lib/eventQueue.ts';
import { nodeLabel } from '../../../lib/syncProtocol.ts';
import { requireAdmin, requireViewer, type CentralContext } from '../context.ts';
import {
  distributedMessages,
  messageSyncLog,
  roomMembers,
  syncSessions,
  type NodeRow,
  type SyncSessionRow,
} from '../db/schema.ts';
import type { CentralEvent } from '../events.ts';
import { isMember, visibleRoomOrNotFound } from '../roomAccess.ts';
import { listSyncPairs } from '../sync/pairs.ts';
import { fromSnapshot } from '../sync/snapshot.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import * as valid from '../validation.ts';
import { latestSnapshots } from '../sync/snapshotOrder.ts';

const MAX_SESSIONS = 500;
const MAX_INDEX_PAGE = 500;
const MAX_LOG_PAGE = 1000;

function pageSize(value: number, what: string, max: number): number {
  if (!Number.isInteger(value) || value < 1 || value > max)
    throw appError('BAD_USER_INPUT', `${what} must be 1-${max}`);
  return value;
}

async function nodeOf(ctx: CentralContext, id: string): Promise<NodeRow> {
  const node = await ctx.loaders.node.load(id);
  if (!node) throw appError('NOT_FOUND', `node ${id} is not registered`);
  return node;
}

// The index is paged by (createdAt, id): opaque to clients, checked when it comes back.
function indexCursor(row: { createdAt: Date; id: string }): string {
  return Buffer.from(JSON.stringify([row.createdAt.getTime(), row.id])).toString('base64url');
}

function parseIndexCursor(raw: string): { createdAt: Date; id: string } {
  try {
    const value = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as unknown;
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      Number.isSafeInteger(value[0]) &&
      typeof value[1] === 'string'
    )
      return { createdAt: new Date(value[0] as number), id: value[1] };
  } catch {
    // reported below
  }
  throw appError('BAD_USER_INPUT', 'after is not a cursor of this connection');
}

export const syncResolvers: Resolvers = {
  Query: {
    syncSession: async (_parent, args, ctx) => {
      requireViewer(ctx);
      const [session] = await ctx.db
        .select()
        .from(syncSessions)
        .where(eq(syncSessions.id, valid.id(args.id)));
      return session ?? null;
    },
    syncSessions: (_parent, args, ctx) => {
      requireViewer(ctx);
      const last = pageSize(args.last, 'last', MAX_SESSIONS);
      const filters: Array<SQL | undefined> = [];
      if (args.nodeId !== undefined && args.nodeId !== null) {
        const nodeId = valid.id(args.nodeId, 'nodeId');
        filters.push(
          or(eq(syncSessions.sourceNodeId, nodeId), eq(syncSessions.targetNodeId, nodeId)),
        );
      }
      if (args.status !== undefined && args.status !== null)
        filters.push(eq(syncSessions.status, args.status));
      return ctx.db
        .select()
        .from(syncSessions)
        .where(and(...filters))
        .orderBy(desc(syncSessions.startedAt), desc(syncSessions.id))
        .limit(last);
    },
    messageIndex: async (_parent, args, ctx) => {
      const viewer = requireViewer(ctx);
      const roomId = valid.id(args.roomId, 'roomId');
      const first = pageSize(args.first, 'first', MAX_INDEX_PAGE);
      const after =
        args.after === undefined || args.after === null ? undefined : parseIndexCursor(args.after);
      // A PRIVATE room the caller is not in is NOT_FOUND, as if it did not exist.
      const room = await visibleRoomOrNotFound(ctx, viewer, roomId);
      if (viewer.role !== 'ADMIN' && !(await isMember(ctx, viewer.id, room.id)))
        throw appError('FORBIDDEN', 'only members of the room (or an ADMIN) may read its index');
      const dm = distributedMessages;
      const rows = await ctx.db
        .select()
        .from(dm)
        .where(
          and(
            eq(dm.roomId, roomId),
            after === undefined
              ? undefined
              : sql`(${dm.createdAt}, ${dm.id}) > (${after.createdAt.toISOString()}::timestamptz, ${after.id})`,
          ),
        )
        .orderBy(asc(dm.createdAt), asc(dm.id))
        .limit(first + 1);
      const page = rows.slice(0, first);
      const edges = page.map((node) => ({ cursor: indexCursor(node), node }));
      return {
        edges,
        pageInfo: {
          hasNextPage: rows.length > first,
          hasPreviousPage: after !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
    syncPairs: (_parent, _args, ctx) => {
      requireAdmin(ctx);
      return listSyncPairs(ctx.db);
    },
  },
  Mutation: {
    triggerSync: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const syncType = args.syncType ?? 'FULL';
      let nodeId: string | undefined;
      let label = 'every online node';
      if (args.nodeId !== undefined && args.nodeId !== null) {
        const node = await ctx.loaders.node.load(valid.id(args.nodeId, 'nodeId'));
        if (!node) throw appError('NOT_FOUND', `no node with id ${args.nodeId}`);
        if (node.status !== 'ONLINE')
          throw appError(
            'NODE_UNAVAILABLE',
            `node ${node.name} is ${node.status}: it cannot sync now`,
          );
        nodeId = node.id;
        label = `node ${nodeLabel(node)}`;
      }
      const sessions = await ctx.sync.trigger(nodeId, syncType, 'MANUAL');
      ctx.log.info(`triggerSync ${syncType} (${label}): ${sessions.length} session(s)`);
      return sessions;
    },
  },
  Subscription: {
    syncSessionUpdated: {
      subscribe: (_parent, args, ctx) => {
        requireViewer(ctx);
        const nodeId =
          args.nodeId === undefined || args.nodeId === null
            ? undefined
            : valid.id(args.nodeId, 'nodeId');
        const queue = createEventQueue<CentralEvent>(() => unsubscribe());
        // A session never goes back: a snapshot published late (behind a newer one) is dropped.
        const latest = latestSnapshots();
        const unsubscribe = ctx.events.subscribe((event) => {
          if (event.type !== 'syncSessionUpdated') return;
          const { sourceNodeId, targetNodeId } = event.session;
          if (nodeId !== undefined && nodeId !== sourceNodeId && nodeId !== targetNodeId) return;
          if (latest(event.session)) queue.push(event);
        });
        return queue;
      },
      // The event carries the session as it was at that change (see events.ts).
      resolve: (event: CentralEvent): SyncSessionRow => {
        if (event.type !== 'syncSessionUpdated') throw new Error('unexpected event');
        return fromSnapshot(event.session);
      },
    },
  },
  SyncSession: {
    __resolveReference: async (ref, ctx) => {
      const [session] = await ctx.db.select().from(syncSessions).where(eq(syncSessions.id, ref.id));
      return session ?? null;
    },
    sourceNode: (session, _args, ctx) => nodeOf(ctx, session.sourceNodeId),
    targetNode: (session, _args, ctx) => nodeOf(ctx, session.targetNodeId),
    log: async (session, args, ctx) => {
      const first = pageSize(args.first, 'first', MAX_LOG_PAGE);
      let after: number | undefined;
      if (args.after !== undefined && args.after !== null) {
        if (!/^\d{1,15}$/.test(args.after))
          throw appError('BAD_USER_INPUT', 'after is not a cursor of this connection');
        after = Number(args.after);
      }
      const viewer = requireViewer(ctx);
      const log = messageSyncLog;
      // A non-ADMIN sees the entries of their own rooms only: message ids and timings of other
      // rooms (PRIVATE ones above all) are none of their business.
      const mine =
        viewer.role === 'ADMIN'
          ? undefined
          : exists(
              ctx.db
                .select({ one: distributedMessages.id })
                .from(distributedMessages)
                .innerJoin(
                  roomMembers,
                  and(
                    eq(roomMembers.roomId, distributedMessages.roomId),
                    eq(roomMembers.userId, viewer.id),
                  ),
                )
                .where(eq(distributedMessages.id, log.messageId)),
            );
      const [rows, [total]] = await Promise.all([
        ctx.db
          .select()
          .from(log)
          .where(
            and(
              eq(log.sessionId, session.id),
              mine,
              after === undefined ? undefined : gt(log.id, after),
            ),
          )
          .orderBy(asc(log.id))
          .limit(first + 1),
        ctx.db
          .select({ n: count() })
          .from(log)
          .where(and(eq(log.sessionId, session.id), mine)),
      ]);
      const edges = rows.slice(0, first).map((node) => ({ cursor: String(node.id), node }));
      return {
        edges,
        totalCount: total?.n ?? 0,
        pageInfo: {
          hasNextPage: rows.length > first,
          hasPreviousPage: after !== undefined,
          startCursor: edges[0]?.cursor ?? null,
          endCursor: edges.at(-1)?.cursor ?? null,
        },
      };
    },
  },
  MessageSyncLog: {
    id: (row) => String(row.id),
  },
  DistributedMessage: {
    room: async (message, _args, ctx) => {
      const room = await ctx.loaders.room.load(message.roomId);
      if (!room) throw appError('NOT_FOUND', `room ${message.roomId} no longer exists`);
      return room;
    },
    sender: async (message, _args, ctx) => {
      const user = await ctx.loaders.user.load(message.senderId);
      if (!user) throw appError('NOT_FOUND', `user ${message.senderId} no longer exists`);
      return user;
    },
    originatingNode: (message, _args, ctx) => nodeOf(ctx, message.originatingNodeId),
    storageNodes: async (message, _args, ctx) => {
      const found = await ctx.loaders.node.loadMany(message.storageNodeIds);
      return found.filter((n): n is NodeRow => n !== null && !(n instanceof Error));
    },
  },
  SyncPair: {
    sourceNode: (pair) => pair.source,
    targetNode: (pair) => pair.target,
  },
};
