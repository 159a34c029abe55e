// Scale-out (issue 20): requests/s through the gateways with one instance of a tier vs two, on one
// PostgreSQL. One cluster of real processes: 2 centrals on one database, 3 gateways (0 and 2 on
// central 0, 1 on central 1), 3 nodes (node-b on central 1), 6 rooms of 2 copies each. Many
// closed-loop clients, spread round-robin over the configuration's gateways, run a chat mix: 80%
// reads of a room's last 20 messages with their senders (central + node + central), 20% posts
// (with a clientMessageId). Configurations, alternating, `repetitions` times, medians:
//   1 central / 1 gateway:   clients on gateway 0
//   1 central / 2 gateways:  clients on gateways 0 and 2 (both on central 0): the gateway tier
//   2 centrals / 2 gateways: clients on gateways 0 and 1 (one per central): the central tier
// Every process runs in every configuration (the idle ones cost little), so what changes is only
// which instances serve the clients. Replication lag: each post's createdAt on its origin to its
// messageAdded on the room's replica node, subscribed directly, same machine clock; posts that
// never arrive within the settle time count as missing.
// `node --import tsx bench/scaleOut.ts [--full] [--seconds=N] [--clients=N] [--repetitions=N]`
import type { Client } from 'graphql-ws';
import { v7 as uuidv7 } from 'uuid';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { registerTestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { ScaleCluster } from '../tests/scale/harness.ts';
import { median, numberArg, percentile, report, round } from './lib.ts';

const ROOMS = 6;
const NODES = ['node-a', 'node-b', 'node-c'] as const;
const USERS = 8;
const PASSWORD = 'scale-out-password';
const READ =
  'query($r: ID!) { room(id: $r) { name messages(last: 20) { edges { node { id content sender { displayName } } } } } }';
const POST =
  'mutation($r: ID!, $c: String!, $k: ID) { postMessage(roomId: $r, content: $c, clientMessageId: $k) { id } }';
const ADDED = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content createdAt } }';

interface Configuration {
  readonly name: string;
  readonly centrals: 1 | 2;
  readonly gateways: readonly number[];
}
const CONFIGURATIONS: readonly Configuration[] = [
  { name: '1 central, 1 gateway', centrals: 1, gateways: [0] },
  { name: '1 central, 2 gateways', centrals: 1, gateways: [0, 2] },
  { name: '2 centrals, 2 gateways', centrals: 2, gateways: [0, 1] },
];

interface Run {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly posts: number;
  readonly lagP50Ms: number;
  readonly lagP99Ms: number;
  readonly missing: number;
}

interface Room {
  readonly id: string;
  /** The node that stores it besides its home: where its posts' lag is measured. */
  readonly replica: string;
}

export async function run({ full }: { full: boolean }): Promise<void> {
  const seconds = numberArg('seconds') ?? (full ? 20 : 8);
  const clients = numberArg('clients') ?? (full ? 64 : 24);
  const repetitions = numberArg('repetitions') ?? (full ? 3 : 1);
  const leftovers = new Leftovers();
  try {
    const cluster = await ScaleCluster.start(leftovers, {
      centrals: 2,
      gateways: 3,
      nodes: { 'node-a': 0, 'node-b': 1, 'node-c': 0 },
      // Central's default heartbeat: the benchmark measures serving, not failure detection.
      heartbeatIntervalMs: 1500,
      durable: true,
    });
    const gateway = (i: number) => cluster.gateways[i]?.url as string;
    const tokens: string[] = [];
    for (let u = 0; u < USERS; u++) {
      const username = `user${u}`;
      ok(
        await gql(
          gateway(0),
          'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
          { u: username, p: PASSWORD },
          { token: cluster.adminToken },
        ),
      );
      tokens.push(
        ok(
          await gql<{ login: { token: string } }>(
            gateway(0),
            'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
            { u: username, p: PASSWORD },
          ),
        ).login.token,
      );
    }
    const rooms: Room[] = [];
    for (let r = 0; r < ROOMS; r++) {
      const home = NODES[r % NODES.length] as string;
      const replica = NODES[(r + 1) % NODES.length] as string;
      const { createRoom } = ok(
        await gql<{ createRoom: { id: string } }>(
          gateway(0),
          'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
          { n: `scale-${r}`, h: cluster.node(home).id, r: [cluster.node(replica).id] },
          { token: cluster.adminToken },
        ),
      );
      for (const token of tokens)
        ok(
          await gql(
            gateway(0),
            'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
            {
              r: createRoom.id,
            },
            { token },
          ),
        );
      rooms.push({ id: createRoom.id, replica });
    }
    // Something to read: 20 messages per room before the first measurement.
    for (let n = 0; n < 20 * ROOMS; n++)
      ok(
        await gql(
          gateway(0),
          POST,
          { r: rooms[n % ROOMS]?.id, c: `history ${n}`, k: null },
          { token: tokens[n % USERS] as string },
        ),
      );

    const lag = await subscribeReplicas(cluster, rooms, tokens[0] as string);
    const results = new Map<string, Run[]>(CONFIGURATIONS.map((c) => [c.name, []]));
    try {
      for (let repetition = 0; repetition < repetitions; repetition++) {
        for (const configuration of CONFIGURATIONS) {
          const tag = `${configuration.name} #${repetition}`;
          const measured = await measure(
            configuration.gateways.map(gateway),
            rooms,
            tokens,
            { clients, seconds, tag },
            lag,
          );
          results.get(configuration.name)?.push(measured);
          process.stderr.write(`  ${tag}: ${JSON.stringify(measured)}\n`);
        }
      }
    } finally {
      await Promise.all(lag.clients.map(async (c) => c.dispose()));
    }

    const summary = Object.fromEntries(
      [...results].map(([name, runs]) => [
        name,
        {
          rps: median(runs.map((r) => r.rps)),
          p50Ms: median(runs.map((r) => r.p50Ms)),
          p99Ms: median(runs.map((r) => r.p99Ms)),
          errors: runs.reduce((sum, r) => sum + r.errors, 0),
          lagP50Ms: median(runs.map((r) => r.lagP50Ms)),
          lagP99Ms: median(runs.map((r) => r.lagP99Ms)),
          missing: runs.reduce((sum, r) => sum + r.missing, 0),
        },
      ]),
    ) as Record<string, { rps: number }>;
    const rate = (name: string) => summary[name]?.rps ?? Number.NaN;
    const [one, twoGateways, twoCentrals] = CONFIGURATIONS.map((c) => rate(c.name)) as [
      number,
      number,
      number,
    ];
    report({
      name: 'scale-out: requests/s through 1 vs 2 gateways and 1 vs 2 centrals',
      parameters: {
        nodes: NODES.length,
        rooms: ROOMS,
        copiesPerRoom: 2,
        clients,
        seconds,
        repetitions,
        mix: "80% reads (a room's last 20 messages with senders), 20% posts",
        database: 'one PostgreSQL (durability defaults)',
        note: 'every process on the same 2 cores: a second instance adds no CPU, only parallelism',
      },
      figures: {
        ...summary,
        gatewayTierRatio: round(twoGateways / one),
        centralTierRatio: round(twoCentrals / twoGateways),
        twoOfEachVsOneRatio: round(twoCentrals / one),
      },
    });
  } finally {
    await leftovers.dispose();
  }
}

interface LagWatch {
  readonly clients: Client[];
  /** Arrival times (ms) at the replica by message id, and the message's createdAt there. */
  readonly arrivals: Map<string, number>;
}

/** One graphql-ws client per replica node, subscribed directly to its rooms' messageAdded. */
async function subscribeReplicas(
  cluster: ScaleCluster,
  rooms: readonly Room[],
  token: string,
): Promise<LagWatch> {
  const asGateway = await registerTestGateway(cluster.centralUrl(0));
  const arrivals = new Map<string, number>();
  const clients: Client[] = [];
  const live = new Set<string>();
  for (const room of rooms) {
    const node = cluster.node(room.replica);
    const client = asGateway.wsClient({ url: node.url, nodeId: node.id }, token);
    clients.push(client);
    client.subscribe<{ messageAdded: { id: string; content: string; createdAt: string } }>(
      { query: ADDED, variables: { r: room.id } },
      {
        next: (result) => {
          const message = result.data?.messageAdded;
          if (!message) return;
          live.add(room.id);
          arrivals.set(message.id, Date.now() - Date.parse(message.createdAt));
        },
        error: (error) => process.stderr.write(`subscription error: ${JSON.stringify(error)}\n`),
        complete: () => {},
      },
    );
  }
  // Live once each has seen a message: post until all have.
  for (let attempt = 0; live.size < rooms.length; attempt++) {
    if (attempt > 60) throw new Error('replica subscriptions never all saw a message');
    for (const room of rooms)
      ok(
        await gql(
          cluster.gateways[0]?.url as string,
          POST,
          { r: room.id, c: `warm-up ${attempt}`, k: null },
          { token },
        ),
      );
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return { clients, arrivals };
}

async function measure(
  gateways: readonly string[],
  rooms: readonly Room[],
  tokens: readonly string[],
  options: { clients: number; seconds: number; tag: string },
  lag: LagWatch,
): Promise<Run> {
  const latencies: number[] = [];
  const posted: string[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const t0 = performance.now();
  const deadline = t0 + options.seconds * 1000;
  let n = 0;
  await Promise.all(
    Array.from({ length: options.clients }, async (_, c) => {
      const url = `${gateways[c % gateways.length] as string}/graphql`;
      const token = tokens[c % tokens.length] as string;
      while (performance.now() < deadline) {
        const i = n++;
        const room = rooms[i % rooms.length] as Room;
        const isPost = i % 5 === 0;
        const body = isPost
          ? { query: POST, variables: { r: room.id, c: `${options.tag} ${i}`, k: uuidv7() } }
          : { query: READ, variables: { r: room.id } };
        const t = performance.now();
        try {
          const response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
            body: JSON.stringify(body),
          });
          const answer = (await response.json()) as {
            data?: { postMessage?: { id: string } } | null;
            errors?: unknown[];
          };
          if (answer.errors?.length || !answer.data) throw new Error(JSON.stringify(answer.errors));
          latencies.push(performance.now() - t);
          const id = answer.data.postMessage?.id;
          if (id !== undefined) posted.push(id);
        } catch (error) {
          errors++;
          firstError ??= String(error).slice(0, 300);
        }
      }
    }),
  );
  const wall = performance.now() - t0;
  if (firstError !== undefined) process.stderr.write(`  ${errors} errors, first: ${firstError}\n`);
  // Replication settles (up to 30 s) before the next configuration runs.
  const settleBy = Date.now() + 30_000;
  while (posted.some((id) => !lag.arrivals.has(id)) && Date.now() < settleBy)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const lags = posted.flatMap((id) => {
    const ms = lag.arrivals.get(id);
    return ms === undefined ? [] : [ms];
  });
  lags.sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: round((latencies.length / wall) * 1000, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
    errors,
    posts: posted.length,
    lagP50Ms: round(percentile(lags, 50)),
    lagP99Ms: round(percentile(lags, 99)),
    missing: posted.length - lags.length,
  };
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
