// What every node resolver receives, and the access rules they share.
import { appError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import type { AssertedCaller, AssertionVerifier } from '../../lib/gatewayAssertion.ts';
import type { Viewer } from '../../lib/userAuth.ts';
import {
  CentralRejectedError,
  CentralUnavailableError,
  type MembershipResponse,
} from './centralClient.ts';
import type { GroupCommit } from './groupCommit.ts';
import type { HeldRooms } from './heldRooms.ts';
import type { MembershipCache } from './membership.ts';
import type { MessageEvents } from './messageEvents.ts';
import type { MessageSearch } from './messageSearch.ts';
import type { MessageStore } from './messageStore.ts';

export interface NodeLimits {
  /** Longest message content, in characters. */
  readonly maxContentChars: number;
  /** Largest `first`/`last` of `Room.messages`. */
  readonly maxPageSize: number;
}

/** Shared by every request: built once when the node starts. */
export interface NodeServices {
  readonly store: MessageStore;
  /** The rooms this node takes writes for (central's word); every write asks. */
  readonly held: HeldRooms;
  /** Full-text search over the store's live messages. */
  readonly search: MessageSearch;
  /** Where the mutations' writes go: they commit in groups, each acknowledged after its commit. */
  readonly writes: GroupCommit;
  readonly events: MessageEvents;
  readonly membership: MembershipCache;
  /**
   * Verifies gateway assertions (audience: this node) with central's gateway keys. Nodes never
   * see a user's token nor the gateway secret: the assertion says whom a request acts for.
   */
  readonly assertions: AssertionVerifier;
  readonly limits: NodeLimits;
  /**
   * Throws CLOCK_SKEW unless this node's clock is fit to stamp a new version (clockOffset.ts):
   * every write asks before it writes anything.
   */
  readonly requireSaneClock: () => void;
  readonly log: Logger;
}

export interface NodeContext extends NodeServices {
  /**
   * The user the request acts for, from the gateway's assertion (its `expiresAt` is the user's
   * token's, not the assertion's); null for the gateway's own requests (schema checks).
   */
  readonly viewer: Viewer | null;
}

/** The context of a request whose assertion (header or connectionParams) is `assertion`. */
export async function createContext(
  services: NodeServices,
  assertion: unknown,
): Promise<NodeContext> {
  return contextFor(services, await services.assertions.verify(assertion));
}

export function contextFor(services: NodeServices, caller: AssertedCaller): NodeContext {
  return { ...services, viewer: caller.kind === 'user' ? caller.viewer : null };
}

export function requireViewer(ctx: NodeContext): Viewer {
  if (!ctx.viewer)
    throw appError('UNAUTHENTICATED', 'log in first: this operation needs a bearer token');
  return ctx.viewer;
}

/**
 * Who may do what in a room: `read` (messages, subscriptions) needs membership or the ADMIN role;
 * `write` (posting, editing or deleting one's own message) needs membership, whatever the role.
 * An unknown room is NOT_FOUND either way, and so is a PRIVATE room to a non-member who is not an
 * ADMIN (its existence does not leak).
 */
export async function requireRoomAccess(
  ctx: NodeContext,
  roomId: string,
  mode: 'read' | 'write',
): Promise<Viewer> {
  const viewer = requireViewer(ctx);
  const membership = await askCentral(ctx, roomId, viewer.id);
  if (
    !membership.roomExists ||
    (membership.private && !membership.member && viewer.role !== 'ADMIN')
  )
    throw appError('NOT_FOUND', `no room ${roomId}`);
  if (membership.member || (mode === 'read' && viewer.role === 'ADMIN')) return viewer;
  throw appError(
    'FORBIDDEN',
    `only members of room ${roomId} may ${mode === 'read' ? 'read' : 'write'} its messages`,
  );
}

async function askCentral(
  ctx: NodeContext,
  roomId: string,
  userId: string,
): Promise<MembershipResponse> {
  try {
    return await ctx.membership.check(roomId, userId);
  } catch (error) {
    if (error instanceof CentralUnavailableError || error instanceof CentralRejectedError) {
      // Members central confirmed recently were answered from the cache (membership.ts); for
      // anyone else the node cannot tell who may do what, and answers nothing rather than guess.
      ctx.log.warn(`membership check failed: ${error.message}`);
      throw appError(
        'CENTRAL_UNAVAILABLE',
        'this node cannot check room membership right now (central is unreachable)',
        {
          cause: error,
        },
      );
    }
    throw error;
  }
}
