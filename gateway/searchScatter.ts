// searchMessages across every node (docs/search.md): the caller's rooms from central (`me`),
// narrowed by `roomIds` and `in:`, each room asked of one live storage node (hedgedFanout.ts: the
// healthiest first, the next replica when it fails), the nodes' pages merged by the order they
// share (bm25, then newest, then id), so a hit's cursor is a position in the merged order too
// and the next page resumes right after it on every node. Rooms no node answered for are left
// out, with a NODE_UNAVAILABLE error naming them: a partial result, never a failed search.
import {
  Kind,
  type ArgumentNode,
  parse,
  type FieldNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import { appError } from '../lib/errors.ts';
import {
  MAX_SEARCH_PAGE,
  MAX_SEARCH_ROOMS,
  parseSearch,
  type ParsedSearch,
} from '../lib/searchQuery.ts';
import type { Viewer } from '../lib/userAuth.ts';
import type { RoutingNode } from './centralLink.ts';
import type { GatewayContext } from './context.ts';
import { hedgedFanout } from './hedgedFanout.ts';
import { NodeUnreachableError, type NodeRequest, type NodeResponse } from './nodeClient.ts';
import {
  INJECTED,
  responseKey,
  splitRootField,
  type OperationPreparer,
  type PreparedOperation,
} from './operations.ts';
import type { RoutingTable } from './routingTable.ts';

type Obj = Record<string, unknown>;

/** A room the caller may search, as central's `me { rooms }` lists it. */
export interface SearchableRoom {
  readonly id: string;
  readonly name: string;
  /** Only asked for when the query has `from:`. */
  readonly members?: ReadonlyArray<{ readonly id: string; readonly username: string }>;
}

/** The caller's rooms, read from central with the caller's own credentials. */
export type CallerRooms = (
  context: GatewayContext | undefined,
  withMembers: boolean,
) => Promise<SearchableRoom[]>;

export interface SearchScatterOptions {
  readonly routing: RoutingTable;
  readonly preparer: OperationPreparer;
  readonly rooms: CallerRooms;
  readonly send: (
    node: RoutingNode,
    request: NodeRequest,
    viewer: Viewer | null,
    cancel: AbortSignal,
  ) => Promise<NodeResponse>;
  readonly hedgeAfterMs: (node: RoutingNode) => number;
  readonly onHedge?: (node: RoutingNode) => void;
}

export interface SearchResult {
  readonly data: Obj | null;
  readonly errors: GraphQLFormattedError[];
}

const TOTAL = '_sb_total';
const VARIABLES = {
  query: 'sbSearchQuery',
  roomIds: 'sbSearchRooms',
  first: 'sbSearchFirst',
  after: 'sbSearchAfter',
  senderIds: 'sbSearchSenders',
} as const;
const VARIABLE_DEFINITIONS: readonly VariableDefinitionNode[] =
  (
    parse(
      `query($${VARIABLES.query}: String!, $${VARIABLES.roomIds}: [ID!], $${VARIABLES.first}: Int,
             $${VARIABLES.after}: String, $${VARIABLES.senderIds}: [ID!]) { a }`,
    ).definitions[0] as OperationDefinitionNode
  ).variableDefinitions ?? [];

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const variableArgument = (argument: string, variable: string): ArgumentNode => ({
  kind: Kind.ARGUMENT,
  name: { kind: Kind.NAME, value: argument },
  value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: variable } },
});

const field = (name: string, alias: string, selections?: FieldNode[]): FieldNode => ({
  kind: Kind.FIELD,
  name: { kind: Kind.NAME, value: name },
  alias: { kind: Kind.NAME, value: alias },
  ...(selections ? { selectionSet: { kind: Kind.SELECTION_SET, selections } } : {}),
});

/** The sort key a node's cursor carries: [bm25, createdAt ms, id]. */
function position(cursor: unknown): [number, number, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(String(cursor), 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 3) return value as [number, number, string];
  } catch {
    // A node's cursor that does not decode sorts last rather than failing the search.
  }
  return [Infinity, 0, ''];
}

function compare(a: [number, number, string], b: [number, number, string]): number {
  if (a[0] !== b[0]) return a[0] - b[0];
  if (a[1] !== b[1]) return b[1] - a[1];
  return a[2] < b[2] ? 1 : a[2] > b[2] ? -1 : 0;
}

interface Hit {
  readonly key: [number, number, string];
  readonly cursor: string;
  readonly answer: Obj;
  readonly index: number;
}

export class SearchScatter {
  readonly #o: SearchScatterOptions;

  constructor(options: SearchScatterOptions) {
    this.#o = options;
  }

  async run(
    prepared: PreparedOperation,
    rootField: FieldNode,
    variables: Obj,
    viewer: Viewer | null,
    context: GatewayContext | undefined,
  ): Promise<SearchResult> {
    const key = responseKey(rootField);
    const args = this.#o.preparer.argumentsOf(rootField, 'Query', variables);
    if (!viewer) throw appError('UNAUTHENTICATED', 'log in first: searching needs a bearer token');
    const query = String(args['query']);
    const parsed = parseSearch(query);
    const first = typeof args['first'] === 'number' ? args['first'] : 20;
    if (!Number.isInteger(first) || first < 1 || first > MAX_SEARCH_PAGE)
      throw appError(
        'BAD_USER_INPUT',
        `first must be between 1 and ${MAX_SEARCH_PAGE}, got ${first}`,
      );
    const after = typeof args['after'] === 'string' ? args['after'] : null;
    if (after !== null && position(after)[0] === Infinity)
      throw appError('BAD_USER_INPUT', 'after is not a cursor of searchMessages');
    const given = Array.isArray(args['roomIds']) ? (args['roomIds'] as string[]) : null;
    if (given && given.length > MAX_SEARCH_ROOMS)
      throw appError('BAD_USER_INPUT', `roomIds may name at most ${MAX_SEARCH_ROOMS} rooms`);

    const { rooms, senderIds } = await this.#scope(parsed, given, context);
    if (rooms.length === 0)
      return { data: this.#shape(rootField, prepared, [], 0, false, after), errors: [] };

    // One slot per room, its storage nodes in the routing table's health order.
    const candidates = await Promise.all(
      rooms.map(async (id) => {
        const placement = await this.#o.routing.placement(id);
        return placement ? this.#o.routing.candidates(placement.storageNodeIds) : [];
      }),
    );
    const answered = rooms.map(() => false);
    const failures = rooms.map((): string[] => []);
    const answers: Obj[] = [];
    const errors: GraphQLFormattedError[] = [];
    const request = (roomIds: readonly string[]): NodeRequest => {
      const node: FieldNode = {
        ...rootField,
        arguments: [
          variableArgument('query', VARIABLES.query),
          variableArgument('roomIds', VARIABLES.roomIds),
          variableArgument('first', VARIABLES.first),
          variableArgument('after', VARIABLES.after),
          variableArgument('senderIds', VARIABLES.senderIds),
        ],
        selectionSet: withInjected(rootField.selectionSet),
      };
      return splitRootField(
        {
          ...prepared,
          operation: {
            ...prepared.operation,
            variableDefinitions: [
              ...(prepared.operation.variableDefinitions ?? []),
              ...VARIABLE_DEFINITIONS,
            ],
          },
        },
        node,
        {
          ...variables,
          [VARIABLES.query]: query,
          [VARIABLES.roomIds]: roomIds,
          [VARIABLES.first]: first,
          [VARIABLES.after]: after,
          [VARIABLES.senderIds]: senderIds,
        },
      );
    };

    await hedgedFanout(candidates, {
      // One node per room: any storage node's copy answers for the room.
      first: (list) => {
        const healthy = list.filter((n) => !this.#o.routing.isSuspect(n.id));
        return (healthy.length > 0 ? healthy : list).slice(0, 1);
      },
      ask: async (node, indexes, cancel) => {
        const roomIds = indexes.map((i) => rooms[i] as string);
        const response = await this.#o.send(node, request(roomIds), viewer, cancel);
        // A hedged room's first node may answer too, after the second did: its hits would be
        // dropped as duplicates below, but its count would be added to totalCount again (seen as
        // 5 for 3 hits on a loaded machine). An answer for rooms all answered already is dropped.
        // (Rooms grouped on one node are hedged to their next nodes as a group, or split over
        // several when their replicas differ: an answer for rooms of which only some were
        // answered is kept for the others, and its count may then include those twice.)
        if (indexes.every((i) => answered[i] === true)) return;
        const value = response.data?.[key];
        if (response.errors && response.errors.length > 0) {
          errors.push(
            ...response.errors.map((e) => ({
              ...e,
              path: [key],
              extensions: { ...e.extensions, node: node.name, roomIds },
            })),
          );
        }
        if (isObj(value)) answers.push(value);
        for (const i of indexes) answered[i] = true;
      },
      failed: (_node, indexes, error) => {
        if (!(error instanceof NodeUnreachableError)) throw error;
        if (error.kind === 'cancelled') return;
        for (const i of indexes) failures[i]?.push(error.summary);
      },
      answered: (i) => answered[i] === true,
      hedgeAfterMs: (node) => this.#o.hedgeAfterMs(node),
      ...(this.#o.onHedge ? { onHedge: this.#o.onHedge } : {}),
    });

    const missing = rooms.filter((_, i) => !answered[i]);
    if (missing.length > 0) {
      const detail = [...new Set(failures.flat())].join('; ') || 'no ONLINE node stores them';
      const error = appError(
        'NODE_UNAVAILABLE',
        `no chat node holding rooms ${missing.join(', ')} answered (${detail}); their messages are not in this result`,
        { extensions: { roomIds: missing } },
      );
      errors.push({ message: error.message, path: [key], extensions: error.extensions });
    }

    const seen = new Set<string>();
    const hits: Hit[] = answers
      .flatMap((answer) => {
        const edges = Array.isArray(answer[INJECTED.edges])
          ? (answer[INJECTED.edges] as Obj[])
          : [];
        return edges.map((edge, index) => {
          const cursor = String(edge[INJECTED.cursor]);
          return { key: position(cursor), cursor, answer, index };
        });
      })
      .sort((a, b) => compare(a.key, b.key))
      // A room hedged to a second node may come back twice: the first copy in order stands.
      .filter((hit) => {
        if (seen.has(hit.key[2])) return false;
        seen.add(hit.key[2]);
        return true;
      });
    const page = hits.slice(0, first);
    const more =
      hits.length > first ||
      answers.some((a) => {
        const info = a[INJECTED.pageInfo];
        return isObj(info) && info['hasNextPage'] === true;
      });
    const total = answers.reduce(
      (sum, a) => sum + (typeof a[TOTAL] === 'number' ? a[TOTAL] : 0),
      0,
    );
    return { data: this.#shape(rootField, prepared, page, total, more, after), errors };
  }

  /** The rooms to search (ids the caller may read) and the senders `from:` names. */
  async #scope(
    parsed: ParsedSearch,
    given: readonly string[] | null,
    context: GatewayContext | undefined,
  ): Promise<{ rooms: string[]; senderIds: string[] | null }> {
    const mine = await this.#o.rooms(context, parsed.from.length > 0);
    const byId = new Map(mine.map((r) => [r.id.toLowerCase(), r]));
    let rooms = mine;
    if (given) {
      rooms = [];
      for (const id of new Set(given.map((g) => g.toLowerCase()))) {
        const room = byId.get(id);
        // The same answer for a room that does not exist and one the caller is not in: a
        // search never tells which rooms exist.
        if (!room)
          throw appError(
            'FORBIDDEN',
            `room ${id} is not one of your rooms: only those are searched`,
          );
        rooms.push(room);
      }
    }
    if (parsed.in.length > 0) rooms = rooms.filter((r) => parsed.in.includes(r.name.toLowerCase()));
    if (rooms.length > MAX_SEARCH_ROOMS)
      throw appError(
        'BAD_USER_INPUT',
        `a search reads at most ${MAX_SEARCH_ROOMS} rooms; this one would read ${rooms.length}: pass roomIds or in:`,
      );
    let senderIds: string[] | null = null;
    if (parsed.from.length > 0) {
      const ids = new Set<string>();
      for (const room of mine)
        for (const member of room.members ?? [])
          if (parsed.from.includes(member.username.toLowerCase())) ids.add(member.id);
      senderIds = [...ids];
    }
    return { rooms: rooms.map((r) => r.id), senderIds };
  }

  /** The merged connection in the shape the client selected. */
  #shape(
    rootField: FieldNode,
    prepared: PreparedOperation,
    page: readonly Hit[],
    total: number,
    hasNextPage: boolean,
    after: string | null,
  ): Obj {
    const out: Obj = {};
    for (const f of fieldsOf(rootField.selectionSet, prepared)) {
      const key = responseKey(f);
      switch (f.name.value) {
        case '__typename':
          out[key] = 'MessageSearchConnection';
          break;
        case 'totalCount':
          out[key] = total;
          break;
        case 'edges':
          out[key] = page.map((hit) => (hit.answer[key] as unknown[] | undefined)?.[hit.index]);
          break;
        case 'pageInfo': {
          const info: Obj = {};
          for (const p of fieldsOf(f.selectionSet, prepared)) {
            const values: Obj = {
              __typename: 'PageInfo',
              hasNextPage,
              hasPreviousPage: after !== null,
              startCursor: page[0]?.cursor ?? null,
              endCursor: page.at(-1)?.cursor ?? null,
            };
            info[responseKey(p)] = values[p.name.value] ?? null;
          }
          out[key] = info;
          break;
        }
      }
    }
    return out;
  }
}

/** The fields of a selection set through inline fragments and fragment spreads. */
function fieldsOf(set: SelectionSetNode | undefined, prepared: PreparedOperation): FieldNode[] {
  if (!set) return [];
  return set.selections.flatMap((s) => {
    if (s.kind === Kind.FIELD) return [s];
    if (s.kind === Kind.INLINE_FRAGMENT) return fieldsOf(s.selectionSet, prepared);
    const fragment = prepared.fragments[s.name.value];
    return fragment ? fieldsOf(fragment.selectionSet, prepared) : [];
  });
}

/** The client's selection plus what merging needs: every edge's cursor, more pages, the count. */
function withInjected(set: SelectionSetNode | undefined): SelectionSetNode {
  return {
    kind: Kind.SELECTION_SET,
    selections: [
      ...(set?.selections ?? []),
      field('edges', INJECTED.edges, [field('cursor', INJECTED.cursor)]),
      field('pageInfo', INJECTED.pageInfo, [field('hasNextPage', 'hasNextPage')]),
      field('totalCount', TOTAL),
    ],
  };
}
