// A room's messages on this node, as a cursor connection in oldest-to-newest order.
import type { RoomResolvers } from '../__generated__/resolvers-types.ts';
import { requireRoomAccess, requireViewer } from '../context.ts';
import { decodeCursor, encodeCursor } from '../../../lib/cursor.ts';
import * as validate from '../validation.ts';

const DEFAULT_PAGE_SIZE = 50;

export const Room: RoomResolvers = {
  // Central owns rooms; this subgraph only adds `messages`, so a reference is all it needs.
  __resolveReference: (reference) => ({ id: reference.id }),

  async messages(room, args, ctx) {
    requireViewer(ctx);
    const roomId = validate.id(room.id, 'room id');
    // With `first` or `after` the client pages forwards from the oldest; otherwise backwards from
    // the newest with `last` (whose schema default would otherwise hide an explicit `first`).
    const forwards = args.first != null || args.after != null;
    const limit = validate.pageSize(
      (forwards ? args.first : args.last) ?? DEFAULT_PAGE_SIZE,
      forwards ? 'first' : 'last',
      ctx.limits.maxPageSize,
    );
    const after = args.after == null ? undefined : decodeCursor(args.after, 'after');
    const before = args.before == null ? undefined : decodeCursor(args.before, 'before');
    await requireRoomAccess(ctx, roomId, 'read');
    const page = ctx.store.page(roomId, {
      after,
      before,
      limit,
      from: forwards ? 'start' : 'end',
      includeDeleted: args.includeDeleted ?? true,
    });
    const edges = page.rows.map((row) => ({ cursor: encodeCursor(row.id), node: row }));
    return {
      edges,
      pageInfo: {
        hasNextPage: page.hasNextPage,
        hasPreviousPage: page.hasPreviousPage,
        startCursor: edges[0]?.cursor ?? null,
        endCursor: edges.at(-1)?.cursor ?? null,
      },
    };
  },
};
