// The replication-lag load, shared by replicationLag.ts (3 nodes) and replicationScale.ts (3, 6
// and 12 nodes). Rooms spread over a cluster's nodes; posts at a steady rate (open loop: sent on
// schedule whether or not earlier ones answered) DIRECTLY to each room's home node (not through
// the gateway: replication is node to node, and the gateway would only add load to the machine),
// round-robin over the rooms, so over the nodes too. Posts go through lib/httpClient.ts (undici's
// request API on keep-alive sockets), not the fetch API: the load shares the machine's 2 cores with
// the cluster it measures, and fetch's Request/Response and web-stream plumbing cost this process
// about 0.6 of a core at 500 posts/s (0.3 with undici), so much that it fell behind its own
// schedule (320-400 of 500 posts/s in a 5 s run on 12-03's evening machine).
// Lag: from the message's `createdAt` on its origin (the origin's clock, stamped in the commit's
// transaction) to the arrival of `messageAdded` from each OTHER node storing the room at this
// process, on the same machine clock; every node is subscribed directly over graphql-ws (with a
// gateway's assertion) to every room it stores. The origin's own event gives the floor of the
// method (event delivery alone). Nothing may be missing at the end: every message on every node
// storing its room, by events and in the files.
import Database from 'better-sqlite3';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { postJson } from '../lib/httpClient.ts';
import { databaseFile } from '../subgraphs/node/server.ts';
import type { Cluster } from '../tests/helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { numberArg, percentile, round } from './lib.ts';

const POST =
  'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id createdAt } }';
const ADDED = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content createdAt } }';

export interface LoadRooms {
  readonly roomIds: readonly string[];
  /** Node name per room: where its messages are posted. */
  readonly homes: readonly string[];
  /** Node names per room that store it, home first. */
  readonly storage: readonly (readonly string[])[];
}

const asGateway = new WeakMap<Cluster, Promise<TestGateway>>();
/** Nodes take only gateway assertions: the admin's, as a gateway would send it to `node`. */
async function nodeHeaders(cluster: Cluster, node: string): Promise<Record<string, string>> {
  let registered = asGateway.get(cluster);
  if (!registered) {
    registered = registerTestGateway(cluster.centralUrl);
    asGateway.set(cluster, registered);
  }
  const assertion = await (
    await registered
  ).assertionFor(cluster.node(node).id, cluster.adminToken);
  return { 'x-gateway-assertion': assertion };
}

/**
 * `count` rooms, homes round-robin over `nodes`; the admin is a member of all. Without `copies`
 * every room is stored on every node of the cluster; with it, on its home and the `copies - 1`
 * nodes after it (in `nodes`' order, wrapping), so each node is home of some rooms and replica of
 * others, and a post replicates to the same number of nodes whatever the cluster's size.
 */
export async function createLoadRooms(
  cluster: Cluster,
  options: { nodes: readonly string[]; count: number; copies?: number; prefix?: string },
): Promise<LoadRooms> {
  const { nodes, count, copies } = options;
  const roomIds: string[] = [];
  const homes: string[] = [];
  const storage: string[][] = [];
  for (let r = 0; r < count; r++) {
    const stored =
      copies === undefined
        ? [nodes[r % nodes.length] as string, ...[...cluster.nodes.keys()]]
        : Array.from({ length: copies }, (_, k) => nodes[(r + k) % nodes.length] as string);
    const unique = [...new Set(stored)];
    const home = unique[0] as string;
    const { createRoom } = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($n: String!, $h: ID!, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
        {
          n: `${options.prefix ?? 'lag'}-${r}`,
          h: cluster.node(home).id,
          r: copies === undefined ? null : unique.slice(1).map((n) => cluster.node(n).id),
        },
        { token: cluster.adminToken },
      ),
    );
    roomIds.push(createRoom.id);
    homes.push(home);
    storage.push(unique);
  }
  return { roomIds, homes, storage };
}

export interface Posted {
  /** The node it was posted on. */
  readonly origin: string;
  /** Its room's index in LoadRooms. */
  readonly room: number;
}

export interface LoadResult {
  readonly sent: number;
  readonly failed: number;
  /** Every message the nodes accepted, by id. */
  readonly posted: ReadonlyMap<string, Posted>;
  /** Achieved send rate, messages/s. */
  readonly rate: number;
}

/**
 * Posts `rate` messages/s for `seconds`, open loop, to each room's home node in turn. `tag`
 * marks the content so events can be told apart from other runs'.
 */
export async function steadyLoad(
  cluster: Cluster,
  rooms: LoadRooms,
  options: { rate: number; seconds: number; tag: string },
): Promise<LoadResult> {
  const total = Math.round(options.rate * options.seconds);
  const posted = new Map<string, Posted>();
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let firstError: unknown;
  const send = (i: number) => {
    const room = i % rooms.roomIds.length;
    const home = rooms.homes[room] as string;
    const request = nodeHeaders(cluster, home)
      .then((headers) =>
        postJson(
          `${cluster.node(home).url}/graphql`,
          JSON.stringify({
            query: POST,
            variables: { r: rooms.roomIds[room], c: `${options.tag} ${i}` },
          }),
          headers,
          30_000,
        ),
      )
      .then((response) => {
        const body = JSON.parse(response.body) as {
          data?: { postMessage: { id: string } };
          errors?: unknown;
        };
        if (!body.data) throw new Error(JSON.stringify(body.errors));
        posted.set(body.data.postMessage.id, { origin: home, room });
      })
      .catch((error: unknown) => {
        failed++;
        firstError ??= error;
      })
      .finally(() => inFlight.delete(request));
    inFlight.add(request);
  };
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * options.rate));
    while (sent < due) send(sent++);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  const wall = (performance.now() - t0) / 1000;
  await Promise.all([...inFlight]);
  if (failed > 0) {
    const cause = firstError instanceof Error ? firstError.cause : undefined;
    const why = cause instanceof Error ? ` (${cause.message})` : '';
    process.stderr.write(`  ${failed} posts failed, first: ${String(firstError)}${why}\n`);
  }
  return { sent, failed, posted, rate: round(sent / wall, 1) };
}

interface Arrival {
  readonly node: string;
  readonly id: string;
  readonly lagMs: number;
}

/** The nodes of `rooms` and, per node, the indexes of the rooms it stores. */
function roomsByNode(rooms: LoadRooms): Map<string, number[]> {
  const byNode = new Map<string, number[]>();
  rooms.storage.forEach((nodes, r) => {
    for (const node of nodes) byNode.set(node, [...(byNode.get(node) ?? []), r]);
  });
  return byNode;
}

/** One graphql-ws client per node, subscribed to every room it stores; arrivals timed on receipt. */
function subscribeAll(
  cluster: Cluster,
  rooms: LoadRooms,
  tag: string,
  onArrival: (arrival: Arrival) => void,
): { clients: Client[]; ready: Promise<void> } {
  const clients: Client[] = [];
  const byNode = roomsByNode(rooms);
  let pending = rooms.storage.reduce((sum, nodes) => sum + nodes.length, 0);
  let resolveReady = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  for (const [node, stored] of byNode) {
    const client = createClient({
      url: `${cluster.node(node).url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: async () => ({
        gatewayAssertion: (await nodeHeaders(cluster, node))['x-gateway-assertion'],
      }),
      retryAttempts: 0,
    });
    clients.push(client);
    for (const r of stored) {
      const seen = { first: true };
      client.subscribe<{ messageAdded: { id: string; content: string; createdAt: string } }>(
        { query: ADDED, variables: { r: rooms.roomIds[r] } },
        {
          next: (result) => {
            const at = Date.now();
            const message = result.data?.messageAdded;
            if (!message) return;
            // The warm-up message proves this subscription live.
            if (message.content.startsWith(`${tag} warmup`)) {
              if (seen.first && --pending === 0) resolveReady();
              seen.first = false;
              return;
            }
            if (!message.content.startsWith(`${tag} `)) return;
            onArrival({ node, id: message.id, lagMs: at - Date.parse(message.createdAt) });
          },
          error: (error) => process.stderr.write(`subscription error: ${JSON.stringify(error)}\n`),
          complete: () => {},
        },
      );
    }
  }
  return { clients, ready };
}

/** Waits until every room's subscription on every node has seen a warm-up message. */
async function warmUp(cluster: Cluster, rooms: LoadRooms, tag: string, ready: Promise<void>) {
  let live = false;
  void ready.then(() => (live = true));
  for (let attempt = 0; !live; attempt++) {
    if (attempt > 60) throw new Error('subscriptions never all saw a warm-up message');
    await Promise.all(
      rooms.roomIds.map((roomId, r) =>
        nodeHeaders(cluster, rooms.homes[r] as string).then((headers) =>
          gql(
            cluster.node(rooms.homes[r] as string).url,
            POST,
            { r: roomId, c: `${tag} warmup ${attempt}` },
            { gatewaySecret: null, headers },
          ),
        ),
      ),
    );
    await Promise.race([ready, new Promise((resolve) => setTimeout(resolve, 1000))]);
  }
}

/** How many posted messages each node storing their room lacks in its file (read-only). */
function missingInFiles(
  cluster: Cluster,
  rooms: LoadRooms,
  posted: ReadonlyMap<string, Posted>,
): Record<string, number> {
  const missing: Record<string, number> = {};
  for (const [node, stored] of roomsByNode(rooms)) {
    const mine = new Set(stored);
    const ids = [...posted].filter(([, p]) => mine.has(p.room)).map(([id]) => id);
    const db = new Database(databaseFile(cluster.dataDir, node), { readonly: true });
    try {
      const found = db
        .prepare<
          [string],
          { n: number }
        >('SELECT count(*) AS n FROM messages WHERE id IN (SELECT value FROM json_each(?))')
        .get(JSON.stringify(ids));
      missing[node] = ids.length - (found?.n ?? 0);
    } finally {
      db.close();
    }
  }
  return missing;
}

/** Each posted message's lag at every other node storing its room, and at its origin (sorted). */
function lagsOf(
  posted: ReadonlyMap<string, Posted>,
  arrivals: ReadonlyMap<string, ReadonlyMap<string, number>>,
  rooms: LoadRooms,
): { lags: number[]; floor: number[]; missingEvents: number } {
  const lags: number[] = [];
  const floor: number[] = [];
  let missingEvents = 0;
  for (const [id, { origin, room }] of posted) {
    const perNode = arrivals.get(id);
    for (const node of rooms.storage[room] ?? []) {
      const lag = perNode?.get(node);
      if (lag === undefined) missingEvents++;
      else if (node === origin) floor.push(lag);
      else lags.push(lag);
    }
  }
  lags.sort((a, b) => a - b);
  floor.sort((a, b) => a - b);
  return { lags, floor, missingEvents };
}

/** `--warm=N`, else 10 s of warm-up load for `--full` and 2 s for the quick pass. */
export function warmSecondsArg(full: boolean): number {
  return numberArg('warm') ?? (full ? 10 : 2);
}

/** The warm-up load's figures as a benchmark reports them (null without one). */
export function warmFigures(warm: LagRun['warm']): Record<string, number> | null {
  if (!warm) return null;
  return {
    accepted: warm.posted.size,
    failedPosts: warm.failed,
    achievedRate: warm.rate,
    p50Ms: warm.p50Ms,
    p99Ms: warm.p99Ms,
  };
}

export interface LagRun {
  /** The warm-up load (`warmSeconds` at the same rate), when there was one. */
  readonly warm: (LoadResult & { readonly p50Ms: number; readonly p99Ms: number }) | undefined;
  readonly load: LoadResult;
  /** Origin createdAt -> event at each other storage node, sorted. */
  readonly lags: readonly number[];
  /** Origin createdAt -> the origin's own event, sorted. */
  readonly floor: readonly number[];
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly missingEvents: number;
  readonly missingInFiles: number;
}

/**
 * Subscribes, warms up, runs the load and waits (up to `settleMs`) until every message reached
 * every node storing its room. With `warmSeconds`, the same load runs that long first and is
 * waited for (up to `settleMs`), and its lags are returned apart (`warm`): processes that were
 * idle since they started run their hot paths unoptimised by V8 for the first seconds, and a
 * 60 s run at 500 posts/s on 2 cores spent its first ~8 s catching up (per-second p50 100-485 ms,
 * then 40-90 ms), which put the cold start, not the replication path, in the p99. `onLoad` runs
 * as the measured load starts (its promise, e.g. sampling until the load ends, is awaited);
 * `onSettled` once every message arrived or the wait ran out, before the files are read.
 */
export async function measureLag(
  cluster: Cluster,
  rooms: LoadRooms,
  options: {
    rate: number;
    seconds: number;
    tag: string;
    settleMs: number;
    warmSeconds?: number;
    onLoad?: (loading: Promise<LoadResult>) => Promise<unknown> | undefined;
    onSettled?: () => Promise<void> | void;
  },
): Promise<LagRun> {
  const { tag } = options;
  // Every delivery of a message to a node other than its origin, and the origin's own event.
  const arrivals = new Map<string, Map<string, number>>();
  const { clients, ready } = subscribeAll(cluster, rooms, tag, (arrival) => {
    let perNode = arrivals.get(arrival.id);
    if (!perNode) arrivals.set(arrival.id, (perNode = new Map()));
    if (!perNode.has(arrival.node)) perNode.set(arrival.node, arrival.lagMs);
  });
  try {
    await warmUp(cluster, rooms, tag, ready);
    // The warm-up's own replication ends before the measurement starts.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const arrived = async (load: LoadResult) => {
      const complete = () =>
        [...load.posted].every(
          ([id, p]) => (arrivals.get(id)?.size ?? 0) === rooms.storage[p.room]?.length,
        );
      const deadline = Date.now() + options.settleMs;
      while (!complete() && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));
    };
    let warm: LagRun['warm'];
    if (options.warmSeconds) {
      // Its content starts with the tag too, so its arrivals are timed like the measured ones'.
      const load = await steadyLoad(cluster, rooms, {
        rate: options.rate,
        seconds: options.warmSeconds,
        tag: `${tag} warm`,
      });
      await arrived(load);
      const { lags } = lagsOf(load.posted, arrivals, rooms);
      warm = { ...load, p50Ms: percentile(lags, 50), p99Ms: percentile(lags, 99) };
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
    const loading = steadyLoad(cluster, rooms, options);
    await options.onLoad?.(loading);
    const load = await loading;
    await arrived(load);
    await options.onSettled?.();

    const { lags, floor, missingEvents: missingMeasured } = lagsOf(load.posted, arrivals, rooms);
    // Nothing may be missing of either load (the warm-up's counted again: it was waited for only
    // up to `settleMs`).
    const missingWarm = warm ? lagsOf(warm.posted, arrivals, rooms).missingEvents : 0;
    const everyPost = new Map([...(warm?.posted ?? []), ...load.posted]);
    const files = missingInFiles(cluster, rooms, everyPost);
    return {
      warm,
      load,
      lags,
      floor,
      p50Ms: percentile(lags, 50),
      p99Ms: percentile(lags, 99),
      missingEvents: missingMeasured + missingWarm,
      missingInFiles: Object.values(files).reduce((a, b) => a + b, 0),
    };
  } finally {
    await Promise.all(clients.map(async (c) => c.dispose()));
  }
}
