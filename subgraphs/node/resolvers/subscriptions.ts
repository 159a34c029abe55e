// `messageAdded` / `messageChanged`: a room's events from this node, delivered after commit.
// Access is checked once, when the subscription starts.
import { createEventQueue } from '../../../lib/eventQueue.ts';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { requireRoomAccess, requireViewer, type NodeContext } from '../context.ts';
import type { MessageRow } from '../db/schema.ts';
import type { MessageEventKind } from '../messageEvents.ts';
import * as validate from '../validation.ts';

async function roomEvents(
  ctx: NodeContext,
  rawRoomId: string,
  kind: MessageEventKind,
): Promise<AsyncIterable<MessageRow>> {
  requireViewer(ctx);
  const roomId = validate.id(rawRoomId, 'roomId');
  await requireRoomAccess(ctx, roomId, 'read');
  let stop = () => {};
  const queue = createEventQueue<MessageRow>(() => stop());
  stop = ctx.events.onRoom(roomId, (event) => {
    if (event.kind === kind) queue.push(event.message);
  });
  return queue;
}

export const Subscription: SubscriptionResolvers = {
  messageAdded: {
    subscribe: (_root, args, ctx) => roomEvents(ctx, args.roomId, 'added'),
    resolve: (row: MessageRow) => row,
  },
  messageChanged: {
    subscribe: (_root, args, ctx) => roomEvents(ctx, args.roomId, 'changed'),
    resolve: (row: MessageRow) => row,
  },
};
