// The gateway's `subscribe`: graphql-ws has already validated the operation against the API
// schema; this checks who asks, joins the shared upstream topic of the field, and turns each
// upstream event into the client's result through the event executor. Every client gets its
// own hand-written iterator, so leaving (`return()`) releases its share of the upstream at once.
import {
  getArgumentValues,
  GraphQLError,
  getOperationAST,
  getVariableValues,
  Kind,
  type ExecutionArgs,
  type ExecutionResult,
  type FieldNode,
  type FormattedExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type SelectionSetNode,
  type DocumentNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import { endAt } from '../../lib/deadline.ts';
import { appError, codeOf } from '../../lib/errors.ts';
import { createEventQueue, type EventQueue } from '../../lib/eventQueue.ts';
import type { Logger } from '../../lib/log.ts';
import { encodeCursor } from '../../lib/cursor.ts';
import { UUID } from '../../lib/ids.ts';
import type { GatewayContext } from '../context.ts';
import {
  EventExecutor,
  prepareSelection,
  selectionParts,
  type BridgeEvent,
  type Execute,
  type Scope,
  type SelectionParts,
} from './eventExecutor.ts';
import type { BridgedField } from './fieldCatalog.ts';
import type { Subscriber, UpstreamPool } from './upstreamPool.ts';

export interface SubscriptionBridgeOptions {
  readonly apiSchema: GraphQLSchema;
  readonly fields: ReadonlyMap<string, BridgedField>;
  readonly pool: UpstreamPool;
  /** Runs a query through the gateway (Apollo Server's `executeOperation`). */
  readonly execute: Execute;
  readonly log: Logger;
  /**
   * Events a client may have waiting (executions in flight plus unsent results) before it is cut
   * off with an error rather than buffered without bound. @default 10_000
   */
  readonly maxPendingEvents?: number;
  /** Most messages a resuming client (`messageAdded(after:)`) is replayed. @default 10_000 */
  readonly maxReplay?: number;
  /**
   * How long a user's "may read this room" is reused for new subscriptions (a client opening
   * many at once, many tabs). Dropped at once when central reports the room changed.
   * @default 5000
   */
  readonly accessCacheMs?: number;
}

const REPLAY_PAGE = 500;
/** Errors that mean the client may no longer see the stream: it ends with them. */
const ENDING_CODES = new Set(['FORBIDDEN', 'UNAUTHENTICATED']);

type Result = FormattedExecutionResult;

/** The one root field of a subscription (validation guarantees there is exactly one). */
function rootField(selectionSet: SelectionSetNode, document: DocumentNode): FieldNode | undefined {
  for (const selection of selectionSet.selections) {
    if (selection.kind === Kind.FIELD) return selection;
    const nested =
      selection.kind === Kind.INLINE_FRAGMENT
        ? selection.selectionSet
        : document.definitions.find(
            (d) => d.kind === Kind.FRAGMENT_DEFINITION && d.name.value === selection.name.value,
          );
    const set = nested && 'selectionSet' in nested ? nested.selectionSet : nested;
    const found = set && 'selections' in set ? rootField(set, document) : undefined;
    if (found) return found;
  }
  return undefined;
}

function codeOfFormatted(error: GraphQLFormattedError): string {
  const code = error.extensions?.['code'];
  return typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR';
}

const refuse = (error: GraphQLError): ExecutionResult => ({ errors: [error] });

/**
 * What a room subscription gets, without ending, when its room stops or starts being served: a
 * result with one error (NODE_UNAVAILABLE, or ROOM_AVAILABLE when it is back) and
 * `extensions.roomAvailability`. The "back" notice is an error entry too, because Apollo Client
 * drops a subscription result that has neither data nor errors.
 */
export function availabilityNotice(
  roomId: string,
  available: boolean,
  responseKey: string,
): Result {
  const error = available
    ? appError('ROOM_AVAILABLE', `room ${roomId} is served again: live events follow`, {
        extensions: { roomId },
      })
    : appError(
        'NODE_UNAVAILABLE',
        `room ${roomId} cannot be reached: none of the nodes storing it answers; this subscription stays open and carries on when one is back`,
        { extensions: { roomId } },
      );
  // A GraphQLError, not its formatted form: graphql-ws serializes errors with `toJSON()`.
  return {
    data: null,
    errors: [
      new GraphQLError(error.message, { path: [responseKey], extensions: error.extensions }),
    ],
    extensions: { roomAvailability: { roomId, available } },
  } as Result;
}

/**
 * What a subscription to one of central's fields (`syncSessionUpdated`, `nodeStatusChanged`) gets,
 * without ending, when no central can be reached (CENTRAL_UNAVAILABLE) and when one delivers again
 * (CENTRAL_AVAILABLE), with `extensions.centralAvailability`. Events central published in between
 * are not replayed: a client that needs them asks again (`syncSessions`, `nodes`).
 */
export function centralNotice(available: boolean, responseKey: string): Result {
  const error = available
    ? appError('CENTRAL_AVAILABLE', 'central is reachable again: live events follow')
    : appError(
        'CENTRAL_UNAVAILABLE',
        'no central can be reached; this subscription stays open and carries on when one is back',
      );
  return {
    data: null,
    errors: [
      new GraphQLError(error.message, { path: [responseKey], extensions: error.extensions }),
    ],
    extensions: { centralAvailability: { available } },
  } as Result;
}

export class SubscriptionBridge {
  readonly #o: SubscriptionBridgeOptions;
  readonly executor: EventExecutor;
  readonly #maxPending: number;
  readonly #maxReplay: number;
  readonly #accessMs: number;
  /** Access answers by room and user: in flight (shared), or "allowed" for `accessCacheMs`. */
  readonly #access: LRUCache<
    string,
    { refused: GraphQLError | undefined },
    { roomId: string; scope: Scope }
  >;
  /** Room changes so far: an answer asked across one is passed on but not kept. */
  #roomChanges = 0;

  constructor(options: SubscriptionBridgeOptions) {
    this.#o = options;
    this.executor = new EventExecutor({ execute: options.execute });
    this.#maxPending = options.maxPendingEvents ?? 10_000;
    this.#maxReplay = options.maxReplay ?? 10_000;
    this.#accessMs = options.accessCacheMs ?? 5000;
    this.#access = new LRUCache({
      max: 10_000,
      ttl: Math.max(1, this.#accessMs),
      // A room change drops the question in flight; its callers still get central's answer.
      ignoreFetchAbort: true,
      fetchMethod: async (_key, _stale, { context }) => ({
        refused: await this.#askRoomAccess(context.roomId, context.scope),
      }),
    });
  }

  async subscribe(args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    const operation = getOperationAST(args.document, args.operationName);
    const field = operation && rootField(operation.selectionSet, args.document);
    if (!operation || !field) return refuse(appError('BAD_USER_INPUT', 'no subscription field'));
    const context = args.contextValue as GatewayContext;
    if (!context.viewer) {
      return refuse(
        appError('UNAUTHENTICATED', 'subscriptions need connectionParams.authorization'),
      );
    }
    const scope: Scope = { viewer: context.viewer, authorization: context.authorization };
    const bridged = this.#o.fields.get(field.name.value);
    const fieldDef = this.#o.apiSchema.getSubscriptionType()?.getFields()[field.name.value];
    if (!bridged || !fieldDef)
      return refuse(appError('BAD_USER_INPUT', `${field.name.value} is not served here`));

    const coerced = getVariableValues(
      this.#o.apiSchema,
      operation.variableDefinitions ?? [],
      (args.variableValues ?? {}) as Record<string, unknown>,
    );
    if (coerced.errors) return { errors: coerced.errors };
    const variables = coerced.coerced;
    const fieldArgs = getArgumentValues(fieldDef, field, variables);
    const { after, ...topicArgs } = fieldArgs;

    if (bridged.roomScoped) {
      const refused = await this.#checkRoomAccess(String(fieldArgs['roomId']), scope);
      if (refused) return refuse(refused);
    }

    const parts = selectionParts(args.document, operation, field, variables);
    const prepared = prepareSelection(parts, bridged.lookupField);
    let leave = () => {};
    const queue = createEventQueue<Result>(() => leave(), this.#maxPending);
    // Results go out in event order even though executions run concurrently.
    let tail = Promise.resolve();
    let pending = 0;
    // Live events (and availability notices) that arrive while a resuming client is replayed.
    let held: Array<BridgeEvent | boolean> | undefined = typeof after === 'string' ? [] : undefined;
    let replayed: ReadonlySet<string> = new Set();
    const send = (event: BridgeEvent) => {
      if (replayed.has(event.entity.id)) return;
      if (++pending > this.#maxPending) {
        subscriber.fail(appError('INTERNAL_SERVER_ERROR', 'subscriber fell too far behind'));
        return;
      }
      const result = this.executor.run(prepared, event, scope);
      tail = tail.then(async () => {
        const settled = await result.catch((error: unknown) => {
          this.#o.log.error(`subscription event ${event.entity.id} failed`, error);
          return { errors: [appError('INTERNAL_SERVER_ERROR', 'internal server error')] };
        });
        pending -= 1;
        this.#push(queue, settled as Result);
      });
    };
    const roomId = bridged.roomScoped ? String(fieldArgs['roomId']) : undefined;
    const notify = (available: boolean) => {
      const notice =
        roomId === undefined
          ? centralNotice(available, parts.responseKey)
          : availabilityNotice(roomId, available, parts.responseKey);
      // After the events already on their way, so the client sees them in order.
      tail = tail.then(() => queue.push(notice));
    };
    const subscriber: Subscriber = {
      scope,
      deliver: (event) => (held ? held.push(event) : send(event)),
      availability: (available) => (held ? held.push(available) : notify(available)),
      fail: (error) => {
        // After what is already on its way, so the client sees events up to the end in order.
        tail = tail.then(() => queue.fail(error));
      },
    };
    const left = this.#o.pool.join(bridged, topicArgs, subscriber);
    // A token is checked when the operation starts; a running subscription ends when it
    // expires, so an expired session cannot keep reading a room forever.
    const expiry = endAt(scope.viewer.expiresAt, () =>
      subscriber.fail(appError('UNAUTHENTICATED', 'token has expired: log in again')),
    );
    leave = () => {
      expiry.cancel();
      left();
    };

    if (held) {
      try {
        replayed = await this.#replay(
          queue,
          parts,
          String(fieldArgs['roomId']),
          String(after),
          scope,
        );
      } catch (error) {
        void queue.return?.();
        const graphqlError =
          codeOf(error) !== undefined
            ? (error as GraphQLError)
            : appError('INTERNAL_SERVER_ERROR', 'internal server error');
        if (codeOf(error) === undefined) this.#o.log.error('subscription replay failed', error);
        return refuse(graphqlError);
      }
      const waiting = held;
      held = undefined;
      for (const item of waiting) {
        if (typeof item === 'boolean') notify(item);
        else send(item);
      }
    }
    return queue as AsyncIterable<ExecutionResult>;
  }

  #push(queue: EventQueue<Result>, result: Result): void {
    const ending = result.errors?.find((e) => ENDING_CODES.has(codeOfFormatted(e)));
    if (ending) {
      queue.fail(appError(codeOfFormatted(ending) as 'FORBIDDEN', ending.message));
      return;
    }
    // An entity that is gone by the time the event is resolved has nothing to show.
    if (!result.errors?.length && Object.values(result.data ?? {}).every((v) => v == null)) return;
    // graphql-ws serializes errors with `toJSON()`: give it GraphQLErrors again. Locations are
    // left out: they point into the rewritten query, not the client's.
    const errors = result.errors?.map(
      (e) =>
        new GraphQLError(e.message, {
          ...(e.path ? { path: e.path } : {}),
          ...(e.extensions ? { extensions: e.extensions } : {}),
        }),
    );
    queue.push({ ...result, ...(errors ? { errors } : {}) } as Result);
  }

  /**
   * A room's messages are for its members (and ADMINs, as on the nodes). Asked of central
   * through the gateway, with the client's own token.
   */
  async #checkRoomAccess(roomId: string, scope: Scope): Promise<GraphQLError | undefined> {
    const key = `${roomId}\n${scope.viewer.id}\n${scope.viewer.role}`;
    const changes = this.#roomChanges;
    const answer = await this.#access.fetch(key, { context: { roomId, scope } });
    if (answer === undefined) throw new Error(`room access question for ${key} was abandoned`);
    // Only "allowed" is kept: a refusal is asked again, so a user who just joined gets in.
    const keep = !answer.refused && this.#accessMs > 0 && changes === this.#roomChanges;
    if (!keep && this.#access.peek(key) === answer) this.#access.delete(key);
    return answer.refused;
  }

  async #askRoomAccess(roomId: string, scope: Scope): Promise<GraphQLError | undefined> {
    if (!UUID.test(roomId)) return appError('BAD_USER_INPUT', 'roomId is not a valid id');
    const result = await this.#o.execute(
      {
        query: 'query RoomAccess($id: ID!) { room(id: $id) { id members { id } } }',
        variables: { id: roomId },
      },
      { viewer: scope.viewer, authorization: scope.authorization },
    );
    const error = result.errors?.[0];
    if (error) {
      const code = codeOfFormatted(error);
      return appError(
        code === 'UNAUTHENTICATED' || code === 'NODE_UNAVAILABLE' || code === 'NOT_FOUND'
          ? code
          : 'INTERNAL_SERVER_ERROR',
        error.message,
      );
    }
    const room = (result.data as { room?: { members: Array<{ id: string }> } | null }).room;
    if (!room) return appError('NOT_FOUND', `no room ${roomId}`);
    if (scope.viewer.role === 'ADMIN' || room.members.some((m) => m.id === scope.viewer.id))
      return undefined;
    return appError('FORBIDDEN', `only members of room ${roomId} may read its messages`);
  }

  /**
   * Membership of a room changed: whoever may no longer read it has their subscription ended
   * with FORBIDDEN (after the events already on their way).
   */
  async roomChanged(roomId: string): Promise<void> {
    this.#roomChanges += 1;
    for (const key of [...this.#access.keys()])
      if (key.startsWith(`${roomId}\n`)) this.#access.delete(key);
    this.#o.pool.reconcile(roomId);
    const subscribers = this.#o.pool.roomSubscribers(roomId);
    const verdicts = new Map<string, Promise<GraphQLError | undefined>>();
    await Promise.all(
      subscribers.map(async (subscriber) => {
        const key = `${subscriber.scope.viewer.id}\n${subscriber.scope.authorization}`;
        let verdict = verdicts.get(key);
        if (!verdict) {
          verdict = this.#checkRoomAccess(roomId, subscriber.scope);
          verdicts.set(key, verdict);
        }
        const refused = await verdict;
        // Only a definite "no": a central hiccup does not end anyone's subscription.
        if (refused && (codeOf(refused) === 'FORBIDDEN' || codeOf(refused) === 'NOT_FOUND'))
          subscriber.fail(refused);
      }),
    );
  }

  /**
   * A resuming client's backlog: the room's messages after `after`, resolved with its own
   * selection through the gateway, oldest first. Returns their ids, so the live events held
   * meanwhile skip them.
   */
  async #replay(
    queue: EventQueue<Result>,
    parts: SelectionParts,
    roomId: string,
    after: string,
    scope: Scope,
  ): Promise<Set<string>> {
    const room = parts.freeVariable('replayRoom');
    const cursorVar = parts.freeVariable('replayAfter');
    const definitions = [`$${room}: ID!`, `$${cursorVar}: String`, ...parts.variableDefinitions];
    const query =
      `query SubscriptionReplay(${definitions.join(', ')}) { replay: room(id: $${room}) { ` +
      `messages(first: ${REPLAY_PAGE}, after: $${cursorVar}) { pageInfo { hasNextPage endCursor } ` +
      `edges { node { replayId: id ...on Message ${parts.selection} } } } } }\n${parts.fragments}`;
    let cursor: string | null = UUID.test(after) ? encodeCursor(after.toLowerCase()) : after;
    const ids = new Set<string>();
    while (cursor !== null) {
      const result = await this.#o.execute(
        { query, variables: { ...parts.variables, [room]: roomId, [cursorVar]: cursor } },
        { viewer: scope.viewer, authorization: scope.authorization },
      );
      const error = result.errors?.[0];
      if (error) {
        const code = codeOfFormatted(error);
        throw appError(
          code === 'BAD_USER_INPUT' || code === 'NODE_UNAVAILABLE' || code === 'FORBIDDEN'
            ? code
            : 'INTERNAL_SERVER_ERROR',
          error.message,
        );
      }
      const connection = (
        result.data as {
          replay?: {
            messages?: {
              pageInfo: { hasNextPage: boolean; endCursor: string | null };
              edges: Array<{ node: Record<string, unknown> }>;
            } | null;
          } | null;
        }
      ).replay?.messages;
      if (!connection) break;
      for (const { node } of connection.edges) {
        const { replayId, ...message } = node;
        ids.add(String(replayId));
        queue.push({ data: { [parts.responseKey]: message } });
      }
      if (ids.size > this.#maxReplay) {
        throw appError(
          'BAD_USER_INPUT',
          `more than ${this.#maxReplay} messages follow \`after\`: page through Room.messages first`,
        );
      }
      cursor = connection.pageInfo.hasNextPage ? connection.pageInfo.endCursor : null;
    }
    return ids;
  }
}
