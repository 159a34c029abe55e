// Senders' names without a central round trip per request. A page of messages names its senders
// by id only; the query plan then asks central's `_entities` for their display names, the same few
// users request after request: one central request per room query that Hive Gateway also makes
// (issue 16, 4c). This data source sits in front of central's and answers
// such a lookup from what central answered for the same lookup less than `ttlMs` ago: a changed
// name shows within `ttlMs` (docs/SECURITY.md, "Cached user profiles").
//
// Only lookups it can tell are the same for every signed-in caller are cached: `_entities` of
// User representations selecting plain profile columns that central resolves with no viewer check
// (PROFILE_FIELDS). Anything else (User.rooms, arguments, directives, fragments spreads), and any
// request without a verified viewer, goes to central as before. Who may see a sender at all is
// decided before: central answered the room for this caller, and the node the page of messages.
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { Kind, parse, type SelectionSetNode } from 'graphql';
import type { GatewayContext } from './context.ts';

/** User fields whose value central gives every caller alike (plain columns of `users`). */
const PROFILE_FIELDS = new Set(['__typename', 'id', 'username', 'displayName']);

const SHAPES_LIMIT = 500;

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export interface UserProfileCacheOptions {
  /** How long central's answer for a user stands. 0 turns the cache off. @default 2000 */
  readonly ttlMs?: number;
  /** Most (lookup, user) pairs kept. @default 10000 */
  readonly maxEntries?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Whether a fetch text is a cacheable User lookup, and the variable holding its representations. */
function cacheableLookup(query: string): string | null {
  let document;
  try {
    document = parse(query);
  } catch {
    return null;
  }
  const [operation, ...others] = document.definitions;
  if (others.length > 0 || operation?.kind !== Kind.OPERATION_DEFINITION) return null;
  if ((operation.operation as string) !== 'query' || operation.directives?.length) return null;
  const [root, ...moreRoots] = operation.selectionSet.selections;
  if (moreRoots.length > 0 || root?.kind !== Kind.FIELD || root.name.value !== '_entities')
    return null;
  if (root.directives?.length || root.arguments?.length !== 1) return null;
  const argument = root.arguments[0];
  if (argument?.name.value !== 'representations' || argument.value.kind !== Kind.VARIABLE)
    return null;
  return root.selectionSet && profileOnly(root.selectionSet, true)
    ? argument.value.name.value
    : null;
}

function profileOnly(set: SelectionSetNode, atEntities: boolean): boolean {
  return set.selections.every((s) => {
    if (s.directives?.length) return false;
    if (s.kind === Kind.FIELD)
      return PROFILE_FIELDS.has(s.name.value) && !s.arguments?.length && !s.selectionSet;
    if (s.kind === Kind.INLINE_FRAGMENT)
      return (
        atEntities && s.typeCondition?.name.value === 'User' && profileOnly(s.selectionSet, false)
      );
    return false;
  });
}

/** A representation this cache can key: exactly `{ __typename: 'User', id }`. */
function userId(representation: unknown): string | null {
  if (typeof representation !== 'object' || representation === null) return null;
  const entries = Object.entries(representation);
  if (entries.length !== 2) return null;
  const { __typename: typename, id } = representation as Obj;
  return typename === 'User' && typeof id === 'string' ? id : null;
}

export class UserProfileCache implements GraphQLDataSource<GatewayContext> {
  readonly #central: GraphQLDataSource<GatewayContext>;
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  /** Fetch text -> the variable of its representations, or null when not cacheable. */
  readonly #shapes = new Map<string, string | null>();
  /** `${fetch text}\n${user id}` -> central's entity and until when it stands. */
  readonly #entries = new Map<string, { value: Obj; until: number }>();
  /** Same keys: central's answer on its way. */
  readonly #pending = new Map<string, Promise<Obj | undefined>>();

  constructor(central: GraphQLDataSource<GatewayContext>, options: UserProfileCacheOptions = {}) {
    this.#central = central;
    this.#ttlMs = options.ttlMs ?? 2000;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    const { request, context } = options;
    const variable =
      this.#ttlMs > 0 &&
      (options.kind as string) === 'incoming operation' &&
      (context as GatewayContext | undefined)?.viewer &&
      request.query
        ? this.#shapeOf(request.query)
        : null;
    const representations: unknown = variable ? request.variables?.[variable] : undefined;
    if (!variable || !request.query || !Array.isArray(representations))
      return this.#central.process(options);
    const ids = representations.map(userId);
    if (ids.length === 0 || ids.some((id) => id === null)) return this.#central.process(options);

    const query = request.query;
    const now = this.#now();
    const keys = ids.map((id) => `${query}\n${id}`);
    const entries = keys.map((key) => this.#entries.get(key));
    // Held and valid, or on its way from central for another request: never asked twice at once.
    const known = keys.map((key, i) => {
      const entry = entries[i];
      return entry && entry.until > now ? entry.value : this.#pending.get(key);
    });
    if (known.every((value) => value === undefined)) {
      // Nothing known: the lookup goes out as it came, and central's answer is returned as is.
      const answer = this.#central.process(options);
      const values = this.#expect(keys, now, answer, ids.length);
      const [response] = await Promise.all([answer, values]);
      return response;
    }
    const missing = [...new Set(ids.filter((_, i) => known[i] === undefined))] as string[];
    if (missing.length > 0) void this.#fetch(options, variable, query, missing);
    // Entries in the second half of their life are asked again in the background, so a steady
    // stream of requests keeps finding them valid instead of all missing when they expire.
    const ageing = [
      ...new Set(
        ids.filter((id, i) => {
          const entry = entries[i];
          return (
            entry !== undefined &&
            entry.until > now &&
            entry.until - now < this.#ttlMs / 2 &&
            !this.#pending.has(`${query}\n${id}`)
          );
        }),
      ),
    ] as string[];
    if (ageing.length > 0) void this.#fetch(options, variable, query, ageing);
    const values = await Promise.all(
      keys.map((key, i) => Promise.resolve(known[i] ?? this.#pending.get(key))),
    );
    // Central's errors and unknown users are its to report, at their places in the lookup: it
    // goes out whole, as without this cache (rare: users are never deleted).
    if (values.some((value) => value === undefined)) return this.#central.process(options);
    // The gateway merges fetched objects into its result: each request gets its own (the
    // selection is scalars only, so a shallow copy is a whole one).
    return { data: { _entities: values.map((value) => ({ ...value })) } };
  }

  /** Asks central for `ids` (a lookup of the same shape); each is pending until it answers. */
  #fetch(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
    variable: string,
    query: string,
    ids: readonly string[],
  ): Promise<unknown> {
    const answer = this.#central.process({
      ...options,
      request: {
        ...options.request,
        variables: {
          ...options.request.variables,
          [variable]: ids.map((id) => ({ __typename: 'User', id })),
        },
      },
    });
    return this.#expect(
      ids.map((id) => `${query}\n${id}`),
      this.#now(),
      answer,
      ids.length,
    );
  }

  /**
   * Marks `keys` pending on `answer` and remembers what it brings. Valid for `ttlMs` from `asked`,
   * when central was asked: a name changed meanwhile is never shown longer than that.
   */
  #expect(
    keys: readonly string[],
    asked: number,
    answer: Promise<GatewayGraphQLResponse>,
    length: number,
  ): Promise<unknown> {
    const entities = answer.then(
      (response) => {
        const list: unknown = response.data?.['_entities'];
        return !response.errors?.length && Array.isArray(list) && list.length === length
          ? (list as unknown[])
          : undefined;
      },
      () => undefined,
    );
    const done: Array<Promise<Obj | undefined>> = keys.map((key, i) => {
      const value = entities.then((list) => {
        const entity = list?.[i];
        if (this.#pending.get(key) === value) this.#pending.delete(key);
        if (!isObj(entity)) return undefined;
        this.#remember(key, entity, asked + this.#ttlMs);
        return entity;
      });
      this.#pending.set(key, value);
      return value;
    });
    return Promise.all(done);
  }

  #shapeOf(query: string): string | null {
    let shape = this.#shapes.get(query);
    if (shape === undefined) {
      shape = cacheableLookup(query);
      if (this.#shapes.size >= SHAPES_LIMIT) this.#shapes.clear();
      this.#shapes.set(query, shape);
    }
    return shape;
  }

  #remember(key: string, value: Obj, until: number): void {
    if (this.#entries.size >= this.#maxEntries && !this.#entries.has(key)) {
      const now = this.#now();
      for (const [k, e] of this.#entries) if (e.until <= now) this.#entries.delete(k);
      if (this.#entries.size >= this.#maxEntries) this.#entries.clear();
    }
    // A copy: the answer it came in belongs to the request that fetched it.
    this.#entries.set(key, { value: { ...value }, until });
  }
}
