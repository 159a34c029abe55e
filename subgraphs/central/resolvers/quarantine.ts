// Versions targets refused and kept aside, as their sync reports told central: for ADMINs only,
// since reasons name users and rooms of any room.
import { and, desc, eq, isNull, or, type SQL } from 'drizzle-orm';
import { appError } from '../../../lib/errors.ts';
import { requireAdmin, type CentralContext } from '../context.ts';
import { quarantinedVersions, syncSessions, type NodeRow } from '../db/schema.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import * as valid from '../validation.ts';

const MAX_QUARANTINED = 500;

async function nodeOf(ctx: CentralContext, id: string): Promise<NodeRow> {
  const node = await ctx.loaders.node.load(id);
  if (!node) throw appError('NOT_FOUND', `node ${id} is not registered`);
  return node;
}

export const quarantineResolvers: Resolvers = {
  Query: {
    quarantinedVersions: (_parent, args, ctx) => {
      requireAdmin(ctx);
      const first = args.first;
      if (!Number.isInteger(first) || first < 1 || first > MAX_QUARANTINED)
        throw appError('BAD_USER_INPUT', `first must be 1-${MAX_QUARANTINED}`);
      const qv = quarantinedVersions;
      const filters: Array<SQL | undefined> = [];
      if (args.nodeId !== undefined && args.nodeId !== null) {
        const nodeId = valid.id(args.nodeId, 'nodeId');
        filters.push(or(eq(qv.sourceNodeId, nodeId), eq(qv.targetNodeId, nodeId)));
      }
      if (args.includeReleased !== true) filters.push(isNull(qv.releasedAt));
      return ctx.db
        .select()
        .from(qv)
        .where(and(...filters))
        .orderBy(desc(qv.quarantinedAt), desc(qv.id))
        .limit(first);
    },
  },
  QuarantinedVersion: {
    id: (row) => String(row.id),
    room: async (row, _args, ctx) => (await ctx.loaders.room.load(row.roomId)) ?? null,
    sourceNode: (row, _args, ctx) => nodeOf(ctx, row.sourceNodeId),
    targetNode: (row, _args, ctx) => nodeOf(ctx, row.targetNodeId),
    session: async (row, _args, ctx) => {
      if (row.sessionId === null) return null;
      const [session] = await ctx.db
        .select()
        .from(syncSessions)
        .where(eq(syncSessions.id, row.sessionId));
      return session ?? null;
    },
  },
};
