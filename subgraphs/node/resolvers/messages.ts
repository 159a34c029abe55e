// Messages: reading one, posting, editing, deleting. Checks run in a fixed order (token,
// arguments, the message, the caller's rights, membership at central, whether this node takes
// the room's writes, this node's clock) and all of them before anything is written.
import { appError } from '../../../lib/errors.ts';
import type {
  MessageResolvers,
  MutationResolvers,
  QueryResolvers,
} from '../__generated__/resolvers-types.ts';
import { requireRoomAccess, requireViewer, type NodeContext } from '../context.ts';
import type { MessageRow } from '../db/schema.ts';
import * as validate from '../validation.ts';
import { parseClientMessageId } from '../clientMessageId.ts';
import { searchMessages } from './search.ts';

function requireMessage(ctx: NodeContext, id: string): MessageRow {
  const row = ctx.store.get(id);
  if (!row) throw appError('NOT_FOUND', `no message ${id} on this node`);
  return row;
}

/** A message the caller may read; null when this node does not have it. */
async function readableMessage(ctx: NodeContext, rawId: string): Promise<MessageRow | null> {
  requireViewer(ctx);
  const row = ctx.store.get(validate.id(rawId, 'id'));
  if (!row) return null;
  await requireRoomAccess(ctx, row.roomId, 'read');
  return row;
}

export const Query: QueryResolvers = {
  message: (_root, { id }, ctx) => readableMessage(ctx, id),
  searchMessages,
};

export const Mutation: MutationResolvers = {
  async postMessage(_root, args, ctx) {
    const viewer = requireViewer(ctx);
    const roomId = validate.id(args.roomId, 'roomId');
    const content = validate.content(args.content, ctx.limits.maxContentChars);
    const clientMessageId =
      args.clientMessageId == null ? undefined : parseClientMessageId(args.clientMessageId);
    await requireRoomAccess(ctx, roomId, 'write');
    await ctx.held.require(roomId);
    ctx.requireSaneClock();
    return ctx.writes.post({ roomId, senderId: viewer.id, content, clientMessageId });
  },

  async editMessage(_root, args, ctx) {
    const viewer = requireViewer(ctx);
    const id = validate.id(args.id, 'id');
    const content = validate.content(args.content, ctx.limits.maxContentChars);
    const row = requireMessage(ctx, id);
    if (row.senderId !== viewer.id) {
      // Whoever may not even read the room learns what a reader would: NOT_FOUND for a PRIVATE one.
      await requireRoomAccess(ctx, row.roomId, 'read');
      throw appError('FORBIDDEN', 'only the sender may edit a message');
    }
    await requireRoomAccess(ctx, row.roomId, 'write');
    await ctx.held.require(row.roomId);
    ctx.requireSaneClock();
    return ctx.writes.edit(id, content);
  },

  async deleteMessage(_root, args, ctx) {
    const viewer = requireViewer(ctx);
    const id = validate.id(args.id, 'id');
    const row = requireMessage(ctx, id);
    if (viewer.role !== 'ADMIN') {
      if (row.senderId !== viewer.id) {
        await requireRoomAccess(ctx, row.roomId, 'read');
        throw appError('FORBIDDEN', 'only the sender or an ADMIN may delete a message');
      }
      await requireRoomAccess(ctx, row.roomId, 'write');
    }
    await ctx.held.require(row.roomId);
    ctx.requireSaneClock();
    return ctx.writes.delete(id);
  },
};

export const Message: MessageResolvers = {
  __resolveReference: (reference, ctx) => readableMessage(ctx, reference.id),
  room: (row) => ({ id: row.roomId }),
  sender: (row) => ({ id: row.senderId }),
  originNode: (row) => ({ id: row.originNode }),
};
