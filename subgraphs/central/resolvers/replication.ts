// replicationStats (the dashboard's chart) and the clock fields of Node. ADMIN only for the stats:
// per-pair timings of writes cover every room, PRIVATE ones included.
import { appError } from '../../../lib/errors.ts';
import { requireAdmin, type CentralContext } from '../context.ts';
import type { NodeRow } from '../db/schema.ts';
import { isClockSkewed } from '../nodeClock.ts';
import {
  readReplicationStats,
  REPLICATION_DEFAULT_WINDOW_MS,
  REPLICATION_MAX_WINDOW_MS,
} from '../sync/replicationStats.ts';
import type { Resolvers } from '../__generated__/resolvers-types.ts';

async function nodeOf(ctx: CentralContext, id: string): Promise<NodeRow> {
  const node = await ctx.loaders.node.load(id);
  if (!node) throw appError('NOT_FOUND', `node ${id} is not registered`);
  return node;
}

function sinceOf(raw: string | null | undefined, now: Date): Date {
  if (raw === undefined || raw === null)
    return new Date(now.getTime() - REPLICATION_DEFAULT_WINDOW_MS);
  const since = new Date(raw);
  if (Number.isNaN(since.getTime())) throw appError('BAD_USER_INPUT', 'since must be a DateTime');
  if (since.getTime() < now.getTime() - REPLICATION_MAX_WINDOW_MS)
    throw appError(
      'BAD_USER_INPUT',
      `since must be within the last ${REPLICATION_MAX_WINDOW_MS / 60_000} minutes`,
    );
  if (since.getTime() > now.getTime())
    throw appError('BAD_USER_INPUT', 'since must not be in the future');
  return since;
}

export const replicationResolvers: Resolvers = {
  Query: {
    replicationStats: (_parent, args, ctx) => {
      requireAdmin(ctx);
      const now = new Date();
      return readReplicationStats(ctx.db, sinceOf(args.since, now), now);
    },
  },
  ReplicationPairStats: {
    sourceNode: (pair, _args, ctx) => nodeOf(ctx, pair.sourceNodeId),
    targetNode: (pair, _args, ctx) => nodeOf(ctx, pair.targetNodeId),
  },
  Node: {
    clockSkewed: (node) => isClockSkewed(node),
  },
};
