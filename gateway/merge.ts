// Merging what several nodes answered for the same thing. A message held by several nodes is
// kept once, in its newest version (greatest HLC, which ends in the node id as tie-break); pages
// of a room's messages from several nodes become one page, as if one node held them all.
import { INJECTED, type MessagesPlan } from './operations.ts';

type Obj = Record<string, unknown>;

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** The injected HLC of an answer ('' when absent: any real version is newer). */
const hlcOf = (value: Obj): string => {
  const hlc = value[INJECTED.hlc];
  return typeof hlc === 'string' ? hlc : '';
};

/** Of several answers for one message, the newest version (null when no node has it). */
export function newestVersion(candidates: readonly unknown[]): unknown {
  let best: Obj | null = null;
  for (const c of candidates) {
    if (!isObj(c)) continue;
    if (best === null || hlcOf(c) > hlcOf(best)) best = c;
  }
  return best;
}

export interface PageArguments {
  readonly first?: number | null;
  readonly after?: string | null;
  readonly last?: number | null;
  readonly before?: string | null;
}

/** The same paging rule the node applies (subgraphs/node/resolvers/rooms.ts). */
export function pageWindow(args: PageArguments): { forwards: boolean; limit: number } {
  const forwards = args.first != null || args.after != null;
  return { forwards, limit: (forwards ? args.first : args.last) ?? 50 };
}

/**
 * Merges several nodes' answers for one Room.messages connection: the union of their edges, one
 * per message id (newest version), ordered by id (UUIDv7: creation order), cut to the page size
 * from the side the client pages from; page info recomputed for the merged page.
 */
export function mergeConnections(
  connections: readonly Obj[],
  plan: MessagesPlan,
  args: PageArguments,
): Obj {
  const [first] = connections;
  if (!first) throw new Error('mergeConnections needs at least one connection');
  if (connections.length === 1) return first;
  const primary = plan.edgesKeys[0];
  // The winner of each message id: which connection and which edge index.
  const winners = new Map<string, { c: number; i: number; hlc: string }>();
  connections.forEach((connection, c) => {
    const edges = primary === undefined ? undefined : connection[primary];
    if (!Array.isArray(edges)) return;
    edges.forEach((edge: unknown, i) => {
      const node = isObj(edge) ? edge[plan.edgeNodeKey] : undefined;
      if (!isObj(node)) return;
      const id = String(node[INJECTED.id]);
      const hlc = hlcOf(node);
      const current = winners.get(id);
      if (!current || hlc > current.hlc) winners.set(id, { c, i, hlc });
    });
  });
  const ids = [...winners.keys()].sort();
  const { forwards, limit } = pageWindow(args);
  const chosen = forwards ? ids.slice(0, limit) : ids.slice(Math.max(0, ids.length - limit));
  const cut = chosen.length < ids.length;
  const flags = connections.map(
    (c) => (isObj(c[INJECTED.pageInfo]) ? c[INJECTED.pageInfo] : {}) as Obj,
  );
  const anyFlag = (name: string) => flags.some((f) => f[name] === true);
  const hasNextPage = forwards ? cut || anyFlag('hasNextPage') : anyFlag('hasNextPage');
  const hasPreviousPage = forwards ? anyFlag('hasPreviousPage') : cut || anyFlag('hasPreviousPage');
  const edgeAt = (key: string, id: string) => {
    const w = winners.get(id);
    const list = w ? connections[w.c]?.[key] : undefined;
    return Array.isArray(list) && w ? (list[w.i] as unknown) : null;
  };
  const cursorOf = (id: string | undefined) => {
    if (id === undefined || primary === undefined) return null;
    const edge = edgeAt(primary, id);
    return isObj(edge) ? (edge[INJECTED.cursor] ?? null) : null;
  };

  const merged: Obj = {};
  for (const [key, value] of Object.entries(first)) {
    if (plan.edgesKeys.includes(key)) {
      merged[key] = chosen.map((id) => edgeAt(key, id));
    } else if (key === INJECTED.pageInfo) {
      merged[key] = { hasNextPage, hasPreviousPage };
    } else if (plan.pageInfos.has(key)) {
      const info: Obj = {};
      for (const [infoKey, fieldName] of plan.pageInfos.get(key) ?? []) {
        info[infoKey] =
          fieldName === 'hasNextPage'
            ? hasNextPage
            : fieldName === 'hasPreviousPage'
              ? hasPreviousPage
              : fieldName === 'startCursor'
                ? cursorOf(chosen[0])
                : fieldName === 'endCursor'
                  ? cursorOf(chosen[chosen.length - 1])
                  : isObj(value)
                    ? value[infoKey]
                    : undefined;
      }
      merged[key] = info;
    } else {
      merged[key] = value;
    }
  }
  return merged;
}

/** Merges several nodes' answers for one Room entity (each a non-null object). */
export function mergeRoom(
  answers: readonly Obj[],
  plans: readonly MessagesPlan[],
  argsOf: (plan: MessagesPlan) => PageArguments,
): Obj {
  const [first] = answers;
  if (!first || answers.length === 1) return first ?? {};
  const merged: Obj = { ...first };
  for (const plan of plans) {
    const connections = answers.map((a) => a[plan.responseKey]).filter(isObj);
    if (connections.length > 0)
      merged[plan.responseKey] = mergeConnections(connections, plan, argsOf(plan));
  }
  return merged;
}

/** Removes the router's injected keys from a result, in place. */
export function stripInjected(value: unknown): void {
  if (Array.isArray(value)) {
    for (const item of value) stripInjected(item);
  } else if (isObj(value)) {
    for (const key of Object.keys(value)) {
      if (key.startsWith('_sb_')) delete value[key];
      else stripInjected(value[key]);
    }
  }
}
