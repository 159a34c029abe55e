// What the gateway adds to a query: the same work through the gateway and sent directly to the
// subgraphs, at 16 concurrent clients, alternating, several repetitions, medians.
//  (a) a central-only query;
//  (b) a room's last 50 messages with their senders' display names (node + central);
//  (c) (b) through our gateway and through Hive Gateway over the same subgraphs (hiveGateway.ts).
// `node --import tsx bench/gatewayOverhead.ts [--full] [--requests=N]`
import { gql, ok } from '../tests/helpers/graphql.ts';
import { Cluster } from '../tests/helpers/cluster.ts';
import { registerTestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { startHiveGateway } from './hiveGateway.ts';
import {
  centralDataTemplate,
  closedLoop,
  median,
  numberArg,
  post,
  report,
  round,
  type LoadFigures,
} from './lib.ts';

interface Summary {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly rps: number;
}

const summary = (figures: readonly LoadFigures[]): Summary => ({
  p50Ms: median(figures.map((f) => f.p50Ms)),
  p99Ms: median(figures.map((f) => f.p99Ms)),
  rps: median(figures.map((f) => f.rps)),
});

const CENTRAL_QUERY = '{ me { id displayName } rooms { id name } }';
const ROOM_QUERY =
  'query($id: ID!) { room(id: $id) { messages(last: 50) { edges { node { content sender { displayName } } } } } }';
const NODE_ENTITIES =
  'query($r: [_Any!]!) { _entities(representations: $r) { ... on Room { messages(last: 50) { edges { node { content sender { id } } } } } } }';
const CENTRAL_USERS =
  'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { displayName } } }';

export async function run({ full }: { full: boolean }): Promise<void> {
  const leftovers = new Leftovers();
  try {
    const cluster = await Cluster.start(leftovers, {
      nodes: ['node-a'],
      centralDataFrom: await centralDataTemplate(),
      // The gateway's default (the test clusters' 1 s is for quick failover): on a loaded
      // machine a node's answer can take over 1 s, and the run would stop on NODE_UNAVAILABLE.
      nodeTimeoutMs: 5000,
    });
    const nodeA = cluster.node('node-a');
    const auth = { authorization: `Bearer ${cluster.adminToken}` };
    const { createRoom } = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.gatewayUrl,
        'mutation($h: ID!) { createRoom(name: "bench", homeNodeId: $h, replicaNodeIds: []) { id } }',
        { h: nodeA.id },
        { token: cluster.adminToken },
      ),
    );
    // Five senders, so the central half of (b) resolves several users, as a real room would.
    for (let u = 0; u < 5; u++) {
      const username = `sender${u}`;
      ok(
        await gql(
          cluster.gatewayUrl,
          'mutation($u: String!) { createUser(username: $u, password: "bench-password", displayName: $u) { id } }',
          { u: username },
          { token: cluster.adminToken },
        ),
      );
      const { login } = ok(
        await gql<{ login: { token: string } }>(
          cluster.gatewayUrl,
          'mutation($u: String!) { login(username: $u, password: "bench-password") { token } }',
          { u: username },
        ),
      );
      ok(
        await gql(
          cluster.gatewayUrl,
          'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
          {
            r: createRoom.id,
          },
          { token: login.token },
        ),
      );
      for (let i = 0; i < 12; i++) {
        ok(
          await gql(
            cluster.gatewayUrl,
            'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
            { r: createRoom.id, c: `message ${i} from ${username}` },
            { token: login.token },
          ),
        );
      }
    }

    // Nodes take only gateway assertions: the direct path and Hive's get them as our gateway
    // does (a registered key, one assertion per node and user reused for 30 s).
    const toNodes = await registerTestGateway(cluster.centralUrl);
    const nodeAuth = async () => ({
      'x-gateway-assertion': await toNodes.assertionFor(nodeA.id, cluster.adminToken),
    });
    const gateway = `${cluster.gatewayUrl}/graphql`;
    const central = `${cluster.centralUrl}/graphql`;
    const node = `${nodeA.url}/graphql`;
    const room = [{ __typename: 'Room', id: createRoom.id }];
    const paths = {
      central: {
        gateway: async () => void (await post(gateway, CENTRAL_QUERY, {}, auth)),
        direct: async () => void (await post(central, CENTRAL_QUERY, {}, auth)),
      },
      roomMessages: {
        gateway: async () => void (await post(gateway, ROOM_QUERY, { id: createRoom.id }, auth)),
        // What the gateway's plan does, done by hand: the room at central, the node's messages,
        // then their senders at central.
        direct: async () => {
          await post(
            central,
            'query($id: ID!) { room(id: $id) { id } }',
            { id: createRoom.id },
            auth,
          );
          const data = await post(node, NODE_ENTITIES, { r: room }, await nodeAuth());
          const [entity] = data['_entities'] as {
            messages: { edges: { node: { sender: { id: string } } }[] };
          }[];
          const ids = [...new Set(entity?.messages.edges.map((e) => e.node.sender.id))];
          await post(
            central,
            CENTRAL_USERS,
            { r: ids.map((id) => ({ __typename: 'User', id })) },
            auth,
          );
        },
      },
    };

    const repetitions = full ? 7 : 3;
    const total = numberArg('requests') ?? (full ? 4000 : 200);
    const warmup = full ? 200 : 50;
    const concurrency = 16;
    /** Runs both sides alternately, `repetitions` times, and reports medians of each. */
    const compare = async <A extends string, B extends string>(
      name: string,
      sides: Record<A | B, () => Promise<void>>,
      [first, second]: readonly [A, B],
      target: (a: Summary, b: Summary) => Record<string, unknown>,
    ) => {
      // Warm both paths (JIT, connection pools; DataLoader caches are per request anyway).
      await closedLoop(sides[first], { concurrency, total: warmup });
      await closedLoop(sides[second], { concurrency, total: warmup });
      const runs = new Map<string, LoadFigures[]>([
        [first, []],
        [second, []],
      ]);
      for (let rep = 0; rep < repetitions; rep++) {
        // Alternate which goes first so neither always runs on a warmer or cooler machine.
        const order = rep % 2 === 0 ? [first, second] : [second, first];
        for (const which of order)
          runs.get(which)?.push(await closedLoop(sides[which], { concurrency, total }));
      }
      const a = summary(runs.get(first) ?? []);
      const b = summary(runs.get(second) ?? []);
      report({
        name,
        parameters: { concurrency, requestsPerRun: total, repetitions },
        figures: { [first]: a, [second]: b, ...target(a, b) },
      });
    };

    for (const [name, pair] of Object.entries(paths)) {
      await compare(`gateway overhead: ${name}`, pair, ['gateway', 'direct'] as const, (g, d) => ({
        p50Ratio: round(g.p50Ms / d.p50Ms),
        target: name === 'roomMessages' ? 'gateway p50 <= 1.5x direct' : 'reported',
        ...(name === 'roomMessages' ? { met: g.p50Ms <= 1.5 * d.p50Ms } : {}),
      }));
    }

    // (c) The same query behind Hive Gateway, over the same supergraph and subgraphs (its
    // messages subgraph is node A, which holds the room).
    const hive = await startHiveGateway(leftovers, cluster.centralUrl, nodeA.url);
    const hiveUrl = `${hive.url}/graphql`;
    await compare(
      'gateway vs Hive Gateway: roomMessages',
      {
        switchboard: async () =>
          void (await post(gateway, ROOM_QUERY, { id: createRoom.id }, auth)),
        hive: async () =>
          void (await post(
            hiveUrl,
            ROOM_QUERY,
            { id: createRoom.id },
            { ...auth, ...(await nodeAuth()) },
          )),
      },
      ['switchboard', 'hive'] as const,
      (ours, theirs) => ({
        rpsRatio: round(ours.rps / theirs.rps),
        target: 'switchboard rps >= hive rps',
        met: ours.rps >= theirs.rps,
      }),
    );
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
