// `messageAdded` / `messageChanged`: a room's events from this node, delivered after commit.
// Access is checked once, when the subscription starts; the subscription ends when the user's
// token does (the assertion's `uexp`, not the assertion's own 60 s).
import { endAt } from '../../../lib/deadline.ts';
import { appError } from '../../../lib/errors.ts';
import { createEventQueue } from '../../../lib/eventQueue.ts';
import type { SubscriptionResolvers } from '../__generated__/resolvers-types.ts';
import { requireRoomAccess, requireViewer, type NodeContext } from '../context.ts';
import { decodeCursor } from '../../../lib/cursor.ts';
import type { MessageRow } from '../db/schema.ts';
import type { MessageEventKind } from '../messageEvents.ts';
import * as validate from '../validation.ts';
import { UUID } from '../../../lib/ids.ts';

/** Most messages a resuming `messageAdded(after:)` replays; the event queue's own bound. */
export const MAX_REPLAY = 10_000;
const PAGE = 500;

/** `after` is a message id or a `Room.messages` cursor: clients keep whichever is handier. */
function afterId(raw: string): string {
  return UUID.test(raw) ? raw.toLowerCase() : decodeCursor(raw, 'after');
}

async function roomEvents(
  ctx: NodeContext,
  rawRoomId: string,
  kind: MessageEventKind,
  rawAfter?: string | null,
): Promise<AsyncIterable<MessageRow>> {
  const viewer = requireViewer(ctx);
  const roomId = validate.id(rawRoomId, 'roomId');
  const after = rawAfter == null ? undefined : afterId(rawAfter);
  await requireRoomAccess(ctx, roomId, 'read');
  let stop = () => {};
  let expiry = { cancel: () => {} };
  const queue = createEventQueue<MessageRow>(() => {
    expiry.cancel();
    stop();
  }, MAX_REPLAY + PAGE);
  // From here to the end of the replay nothing awaits: the store writes and publishes
  // synchronously, so no commit can fall between the listener and the replay read, and none is
  // both replayed and heard live.
  stop = ctx.events.onRoom(roomId, (event) => {
    if (event.kind === kind) queue.push(event.message);
  });
  if (after !== undefined) {
    const backlog: MessageRow[] = [];
    let cursor = after;
    for (;;) {
      const page = ctx.store.page(roomId, { after: cursor, limit: PAGE, from: 'start' });
      backlog.push(...page.rows);
      const last = page.rows.at(-1);
      if (!page.hasNextPage || !last) break;
      if (backlog.length >= MAX_REPLAY) {
        stop();
        throw appError(
          'BAD_USER_INPUT',
          `more than ${MAX_REPLAY} messages follow \`after\`: page through Room.messages first`,
        );
      }
      cursor = last.id;
    }
    for (const row of backlog) queue.push(row);
  }
  expiry = endAt(viewer.expiresAt, () =>
    queue.fail(appError('UNAUTHENTICATED', 'token has expired: log in again')),
  );
  return queue;
}

export const Subscription: SubscriptionResolvers = {
  messageAdded: {
    subscribe: (_root, args, ctx) => roomEvents(ctx, args.roomId, 'added', args.after),
    resolve: (row: MessageRow) => row,
  },
  messageChanged: {
    subscribe: (_root, args, ctx) => roomEvents(ctx, args.roomId, 'changed'),
    resolve: (row: MessageRow) => row,
  },
};
