import { asc, eq } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../../lib/errors.ts';
import { createEventQueue } from '../../../lib/eventQueue.ts';
import { generateApiKey, hashApiKey } from '../../../lib/nodeKeys.ts';
import { nodeLabel } from '../../../lib/syncProtocol.ts';
import { requireAdmin, requireViewer, type CentralContext } from '../context.ts';
import { isUniqueViolation } from '../db/errors.ts';
import { nodes, type NodeRow } from '../db/schema.ts';
import type { CentralEvent } from '../events.ts';
import { decommission } from '../placementChange.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import * as valid from '../validation.ts';

export const nodeResolvers: Resolvers = {
  Query: {
    node: (_parent, args, ctx) => {
      requireViewer(ctx);
      return ctx.loaders.node.load(valid.id(args.id));
    },
    nodes: (_parent, _args, ctx) => {
      requireViewer(ctx);
      return ctx.loaders.allNodes();
    },
  },
  Mutation: {
    registerNode: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const name = valid.nodeName(args.name);
      const url = valid.nodeUrl(args.url);
      const apiKey = generateApiKey();
      try {
        const [node] = await ctx.db
          .insert(nodes)
          .values({ id: uuidv7(), name, url, apiKeyHash: hashApiKey(apiKey) })
          .returning();
        if (!node) throw new Error('insert returned no node');
        await ctx.events.publish({ type: 'nodeChanged', nodeId: node.id });
        ctx.log.info(`node ${nodeLabel(node)} registered at ${url}`);
        return { node, apiKey };
      } catch (error) {
        if (isUniqueViolation(error))
          throw appError('CONFLICT', `a node named "${name}" is already registered`);
        throw error;
      }
    },
    rotateNodeApiKey: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const apiKey = generateApiKey();
      const [node] = await ctx.db
        .update(nodes)
        .set({ apiKeyHash: hashApiKey(apiKey) })
        .where(eq(nodes.id, valid.id(args.nodeId, 'nodeId')))
        .returning();
      if (!node) throw appError('NOT_FOUND', `no node with id ${args.nodeId}`);
      // The old key is refused here from now on, and by other centrals when the event reaches them.
      ctx.nodeAuth.forget(node.id);
      await ctx.events.publish({ type: 'nodeChanged', nodeId: node.id });
      ctx.log.info(`node ${nodeLabel(node)}: API key rotated; the old key no longer works`);
      return { node, apiKey };
    },
    updateNode: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const changes: Partial<Pick<NodeRow, 'syncEnabled' | 'autoSyncInterval'>> = {};
      if (args.syncEnabled !== undefined && args.syncEnabled !== null)
        changes.syncEnabled = args.syncEnabled;
      if (args.autoSyncInterval !== undefined && args.autoSyncInterval !== null)
        changes.autoSyncInterval = valid.autoSyncInterval(args.autoSyncInterval);
      const id = valid.id(args.id);
      const [node] =
        Object.keys(changes).length === 0
          ? await ctx.db.select().from(nodes).where(eq(nodes.id, id))
          : await ctx.db.update(nodes).set(changes).where(eq(nodes.id, id)).returning();
      if (!node) throw appError('NOT_FOUND', `no node with id ${args.id}`);
      if (Object.keys(changes).length > 0) {
        ctx.nodeAuth.forget(node.id);
        await ctx.events.publish({ type: 'nodeChanged', nodeId: node.id });
      }
      return node;
    },
    removeNode: async (_parent, args, ctx) => {
      requireAdmin(ctx);
      const node = await ctx.loaders.node.load(valid.id(args.nodeId, 'nodeId'));
      if (!node || node.removedAt !== null)
        throw appError('NOT_FOUND', `no node with id ${args.nodeId}`);
      const removed = await decommission(ctx, node);
      ctx.loaders.node.clear(node.id);
      return removed;
    },
  },
  Subscription: {
    nodeStatusChanged: {
      subscribe: (_parent, _args, ctx) => {
        requireViewer(ctx);
        const queue = createEventQueue<CentralEvent>(() => unsubscribe());
        const unsubscribe = ctx.events.subscribe((event) => {
          if (event.type === 'nodeStatusChanged') queue.push(event);
        });
        return queue;
      },
      // Read fresh for each event: a per-connection DataLoader cache would serve stale rows.
      resolve: async (event: CentralEvent, _args: unknown, ctx: CentralContext) => {
        if (event.type !== 'nodeStatusChanged') throw new Error('unexpected event');
        const [node] = await ctx.db
          .select()
          .from(nodes)
          .where(eq(nodes.id, event.nodeId))
          .orderBy(asc(nodes.id));
        if (!node) throw appError('NOT_FOUND', `node ${event.nodeId} no longer exists`);
        return node;
      },
    },
  },
  Node: {
    __resolveReference: (ref, ctx) => ctx.loaders.node.load(ref.id),
  },
};
