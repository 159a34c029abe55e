// Resolving a subscription event through the gateway without asking its subgraph again: the event
// already carries everything the owning subgraph serves on the entity (see fieldCatalog.ts), so
// when the query plan's fetch to that subgraph is the entity lookup (`message(id: $id) {...}`),
// this data source answers it from the event, and every other fetch (central's `_entities` for
// `sender`, ...) goes out as usual. That keeps the event's own version (a later re-fetch may see
// a newer status, or nothing at all when the node that sent the event has just died) and saves a
// round trip per event.
//
// The other fetches of an event's execution (central's `_entities` for `sender`, `room`) repeat
// from one event to the next: the same room, the same few senders, for each user. They are kept
// for a moment (`reuseMs`, per user, query and representations) so a burst of events costs a few
// requests rather than one per event and user; such fields may be that much older than the
// event. Ordinary queries never use this.
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import {
  execute,
  getOperationAST,
  Kind,
  parse,
  valueFromASTUntyped,
  type DocumentNode,
  type GraphQLFieldResolver,
  type GraphQLSchema,
} from 'graphql';
import { LRUCache } from 'lru-cache';
import type { GatewayContext } from '../context.ts';

/** The entity an event carries, as its owning subgraph sent it. */
export interface PrefetchedEntity {
  readonly subgraph: string;
  readonly lookupField: string;
  readonly id: string;
  readonly value: Readonly<Record<string, unknown>>;
}

/** The context of an event's execution: a request's context plus the event's entity. */
export interface EventContext extends GatewayContext {
  readonly prefetched?: PrefetchedEntity;
}

const PARSED_LIMIT = 500;
const REUSED_LIMIT = 5000;

export interface PrefetchingOptions {
  /** How long an event execution's fetch of another subgraph is reused. @default 1000 */
  readonly reuseMs?: number;
}

export class PrefetchingDataSource implements GraphQLDataSource<GatewayContext> {
  readonly #name: string;
  readonly #inner: GraphQLDataSource<GatewayContext>;
  readonly #schema: GraphQLSchema;
  // Query plans are cached, so the same few fetch texts come back for every event.
  readonly #parsed = new LRUCache<string, DocumentNode>({ max: PARSED_LIMIT });
  readonly #reuseMs: number;
  /** Responses of other subgraphs, shared while in flight and reused for `reuseMs`. */
  readonly #reused: LRUCache<string, GatewayGraphQLResponse, () => Promise<GatewayGraphQLResponse>>;

  constructor(
    name: string,
    inner: GraphQLDataSource<GatewayContext>,
    subgraphSchema: GraphQLSchema,
    options: PrefetchingOptions = {},
  ) {
    this.#name = name;
    this.#inner = inner;
    this.#schema = subgraphSchema;
    this.#reuseMs = options.reuseMs ?? 1000;
    this.#reused = new LRUCache({
      max: REUSED_LIMIT,
      ttl: Math.max(1, this.#reuseMs),
      fetchMethod: (_key, _stale, { context: ask }) => ask(),
    });
  }

  async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    const prefetched = (options.context as EventContext | undefined)?.prefetched;
    if (
      prefetched?.subgraph === this.#name &&
      (options.kind as string) === 'incoming operation' &&
      options.request.query
    ) {
      const answer = await this.#answer(
        options.request.query,
        options.request.variables ?? {},
        prefetched,
      );
      if (answer) return answer;
    }
    if (prefetched && this.#reuseMs > 0) return this.#reuse(options);
    return this.#inner.process(options);
  }

  async #reuse(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    const { request, context } = options;
    const key = `${context.authorization ?? ''}\n${request.query ?? ''}\n${JSON.stringify(request.variables ?? {})}`;
    const response = await this.#reused.fetch(key, { context: () => this.#inner.process(options) });
    if (response === undefined) throw new Error('a shared subgraph fetch was abandoned');
    // Only clean answers are worth reusing.
    if (response.errors?.length && this.#reused.peek(key) === response) this.#reused.delete(key);
    // The gateway merges fetched objects into its result: each execution gets its own copy.
    return structuredClone(response);
  }

  async #answer(
    query: string,
    variables: Record<string, unknown>,
    entity: PrefetchedEntity,
  ): Promise<GatewayGraphQLResponse | undefined> {
    let document = this.#parsed.get(query);
    if (!document) {
      document = parse(query);
      this.#parsed.set(query, document);
    }
    const operation = getOperationAST(document);
    if ((operation?.operation as string | undefined) !== 'query' || !operation) return undefined;
    const roots = operation.selectionSet.selections;
    const root = roots[0];
    if (roots.length !== 1 || root?.kind !== Kind.FIELD) return undefined;
    if (root.name.value !== entity.lookupField) return undefined;
    const idArgument = root.arguments?.find((a) => a.name.value === 'id');
    if (!idArgument || valueFromASTUntyped(idArgument.value, variables) !== entity.id)
      return undefined;
    // A field the event does not carry (one with arguments, e.g. `SyncSession.log`) sends the
    // fetch to the subgraph after all.
    let complete = true;
    const fieldResolver: GraphQLFieldResolver<unknown, unknown> = (source, _args, _ctx, info) => {
      const value = (source as Record<string, unknown> | null)?.[info.fieldName];
      if (value === undefined) complete = false;
      return value;
    };
    const result = await execute({
      schema: this.#schema,
      document,
      rootValue: { [entity.lookupField]: entity.value },
      variableValues: variables,
      fieldResolver,
    });
    if (!complete || result.errors?.length) return undefined;
    return { data: result.data as Record<string, unknown> };
  }
}
