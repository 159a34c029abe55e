// Replication lag (issue 9, item 3): central, 3 nodes and the gateway as real processes; 30 rooms
// stored on every node, their home nodes spread over the three. Posts go at a steady rate
// (500 messages/s, open loop: sent on schedule whether or not earlier ones answered) DIRECTLY to
// each room's home node (not through the gateway: replication is node to node, and the gateway
// would only add load to the machine), round-robin over the rooms, so over the nodes too, for
// 60 s (quick pass: 5 s).
// Lag: from the message's `createdAt` on its origin (the origin's clock, stamped in the commit's
// transaction) to the arrival of `messageAdded` from each OTHER node at this process, on the same
// machine clock; every node is subscribed directly over graphql-ws (with the gateway secret) to
// every room. The origin's own event gives the floor of the method (event delivery alone).
// Nothing may be missing at the end: every message on every node, by events and in the files.
// `node --import tsx bench/replicationLag.ts [--full] [--seconds=N] [--rate=N]`
import Database from 'better-sqlite3';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { databaseFile } from '../subgraphs/node/server.ts';
import { Cluster } from '../tests/helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import {
  centralDataTemplate,
  median,
  numberArg,
  percentile,
  perProcess,
  report,
  round,
  sampleRss,
  type RssSample,
} from './lib.ts';

export const NODES = ['node-a', 'node-b', 'node-c'] as const;
const ROOMS = 30;
const POST =
  'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id createdAt } }';
const ADDED = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content createdAt } }';

export interface LoadRooms {
  readonly roomIds: readonly string[];
  /** Node name per room: where its messages are posted. */
  readonly homes: readonly string[];
}

/** 30 rooms on every node, homes round-robin over the nodes; the admin is a member of all. */
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

export async function createLoadRooms(cluster: Cluster): Promise<LoadRooms> {
  const roomIds: string[] = [];
  const homes: string[] = [];
  for (let r = 0; r < ROOMS; r++) {
    const home = NODES[r % NODES.length] as string;
    const { createRoom } = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($n: String!, $h: ID!) { createRoom(name: $n, homeNodeId: $h) { id } }',
        { n: `lag-${r}`, h: cluster.node(home).id },
        { token: cluster.adminToken },
      ),
    );
    roomIds.push(createRoom.id);
    homes.push(home);
  }
  return { roomIds, homes };
}

export interface LoadResult {
  readonly sent: number;
  readonly failed: number;
  /** Ids and origin of every message the nodes accepted. */
  readonly posted: ReadonlyMap<string, string>;
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
  const posted = new Map<string, string>();
  const inFlight = new Set<Promise<void>>();
  let failed = 0;
  let firstError: unknown;
  const send = (i: number) => {
    const room = i % rooms.roomIds.length;
    const home = rooms.homes[room] as string;
    const request = nodeHeaders(cluster, home)
      .then((headers) =>
        fetch(`${cluster.node(home).url}/graphql`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({
            query: POST,
            variables: { r: rooms.roomIds[room], c: `${options.tag} ${i}` },
          }),
        }),
      )
      .then(async (response) => {
        const body = (await response.json()) as {
          data?: { postMessage: { id: string } };
          errors?: unknown;
        };
        if (!body.data) throw new Error(JSON.stringify(body.errors));
        posted.set(body.data.postMessage.id, home);
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

/** One graphql-ws client per node, subscribed to every room; arrivals are timed on receipt. */
function subscribeAll(
  cluster: Cluster,
  rooms: LoadRooms,
  tag: string,
  onArrival: (arrival: Arrival) => void,
): { clients: Client[]; ready: Promise<void> } {
  const clients: Client[] = [];
  let pending = NODES.length * rooms.roomIds.length;
  let resolveReady = () => {};
  const ready = new Promise<void>((resolve) => (resolveReady = resolve));
  for (const node of NODES) {
    const client = createClient({
      url: `${cluster.node(node).url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: async () => ({
        gatewayAssertion: (await nodeHeaders(cluster, node))['x-gateway-assertion'],
      }),
      retryAttempts: 0,
    });
    clients.push(client);
    for (const roomId of rooms.roomIds) {
      const seen = { first: true };
      client.subscribe<{ messageAdded: { id: string; content: string; createdAt: string } }>(
        { query: ADDED, variables: { r: roomId } },
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

/** How many of `ids` each node's file lacks (read-only; the nodes keep running). */
export function missingInFiles(cluster: Cluster, ids: readonly string[]): Record<string, number> {
  const missing: Record<string, number> = {};
  for (const node of NODES) {
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

/** RSS of every process of the cluster, sampled during the last run: footprint.ts reports it. */
export interface LagFootprint {
  readonly full: boolean;
  readonly rate: number;
  readonly seconds: number;
  /** Before the load (after start-up and a 2 s settle), per process, median of 5 readings. */
  readonly idle: RssSample;
  /** Every 500 ms while the load ran. */
  readonly loaded: readonly RssSample[];
  /** Once everything arrived and 2 s passed, median of 5 readings. */
  readonly idleAfter: RssSample;
}
export let lastFootprint: LagFootprint | undefined;

export async function run({ full }: { full: boolean }): Promise<void> {
  const seconds = numberArg('seconds') ?? (full ? 60 : 5);
  const rate = numberArg('rate') ?? 500;
  const settleMs = 30_000;
  const leftovers = new Leftovers();
  const tag = 'lag';
  try {
    const cluster = await Cluster.start(leftovers, {
      nodes: [...NODES],
      heartbeatIntervalMs: 1000,
      centralDataFrom: await centralDataTemplate(),
    });
    const rooms = await createLoadRooms(cluster);
    const pids: Record<string, number> = {
      central: cluster.central.child.pid ?? 0,
      ...Object.fromEntries(NODES.map((n) => [n, cluster.node(n).proc.child.pid ?? 0])),
      gateway: cluster.gateway.child.pid ?? 0,
    };
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const idle = perProcess(await sampleRss(pids, { everyMs: 200, count: 5 }), median);
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
      const loading = steadyLoad(cluster, rooms, { rate, seconds, tag });
      const loaded = await sampleRss(pids, { everyMs: 500, until: loading });
      const load = await loading;
      const complete = () =>
        [...load.posted.keys()].every((id) => (arrivals.get(id)?.size ?? 0) === NODES.length);
      const deadline = Date.now() + settleMs;
      while (!complete() && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 100));

      const lags: number[] = [];
      const floor: number[] = [];
      let missingEvents = 0;
      for (const [id, origin] of load.posted) {
        const perNode = arrivals.get(id);
        for (const node of NODES) {
          const lag = perNode?.get(node);
          if (lag === undefined) missingEvents++;
          else if (node === origin) floor.push(lag);
          else lags.push(lag);
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const idleAfter = perProcess(await sampleRss(pids, { everyMs: 200, count: 5 }), median);
      lastFootprint = { full, rate, seconds, idle, loaded, idleAfter };
      lags.sort((a, b) => a - b);
      floor.sort((a, b) => a - b);
      const files = missingInFiles(cluster, [...load.posted.keys()]);
      const missingFiles = Object.values(files).reduce((a, b) => a + b, 0);
      const p50 = percentile(lags, 50);
      const p99 = percentile(lags, 99);
      report({
        name: 'sync: replication lag',
        parameters: {
          nodes: NODES.length,
          rooms: ROOMS,
          targetRate: rate,
          seconds,
          postedTo: 'home node directly',
        },
        figures: {
          sent: load.sent,
          accepted: load.posted.size,
          failedPosts: load.failed,
          achievedRate: load.rate,
          deliveries: lags.length,
          p50Ms: p50,
          p99Ms: p99,
          maxMs: lags.at(-1) ?? null,
          originEventP50Ms: percentile(floor, 50),
          missingEventsAtEnd: missingEvents,
          missingInFilesAtEnd: missingFiles,
          target: 'p50 < 50 ms, p99 < 250 ms, nothing missing, no post failed',
          met:
            p50 < 50 && p99 < 250 && missingEvents === 0 && missingFiles === 0 && load.failed === 0,
        },
      });
    } finally {
      await Promise.all(clients.map(async (c) => c.dispose()));
    }
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
