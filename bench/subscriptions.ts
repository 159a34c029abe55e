// Event latency of `messageAdded` (issue 9, item 5): from sending `postMessage` to a subscriber
// receiving the event (and the gateway's RSS while they are connected), with 1 and 1000
// subscribers, (a) directly on the node, (b) through the gateway with the same
// selection, (c) through the gateway with fields of central too (`sender { displayName }
// room { name }`). Posts go straight to the node in every case, one at a time once every
// subscriber has the previous one, so the figures are latency, not throughput.
// `node --import tsx bench/subscriptions.ts [--full] [direct|gateway|gatewayFederated] [1|1000]`
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { Cluster } from '../tests/helpers/cluster.ts';
import { registerTestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { centralDataTemplate, percentile, post, report, round, rssMiB } from './lib.ts';

const PLAIN = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content } }';
const FEDERATED =
  'subscription($r: ID!) { messageAdded(roomId: $r) { id content sender { displayName } room { name } } }';
const POST = 'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }';

interface Path {
  readonly name: string;
  readonly url: string;
  readonly query: string;
  /** Straight to a node: it takes only a gateway assertion, made as the gateway would. */
  readonly nodeAuth?: () => Promise<string>;
}

async function measure(
  path: Path,
  subscribers: number,
  events: number,
  roomId: string,
  postUrl: string,
  postAuth: () => Promise<string>,
  token: string,
  gatewayPid: number,
): Promise<void> {
  const clients: Client[] = [];
  const waiters = new Map<string, { left: number; done: () => void }>();
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let gatewayRss = Number.NaN;
  const onEvent = (content: string) => {
    const t = sentAt.get(content);
    if (t !== undefined) latencies.push(performance.now() - t);
    const waiter = waiters.get(content);
    if (waiter && --waiter.left === 0) waiter.done();
  };
  for (let i = 0; i < subscribers; i++) {
    const client = createClient({
      url: `${path.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: async () =>
        path.nodeAuth
          ? { gatewayAssertion: await path.nodeAuth() }
          : { authorization: `Bearer ${token}` },
      retryAttempts: 0,
    });
    clients.push(client);
    client.subscribe<{ messageAdded: { content: string } }>(
      { query: path.query, variables: { r: roomId } },
      {
        next: (result) => {
          if (result.errors) throw new Error(JSON.stringify(result.errors));
          if (result.data) onEvent(result.data.messageAdded.content);
        },
        error: (error) => process.stderr.write(`subscription error: ${JSON.stringify(error)}\n`),
        complete: () => {},
      },
    );
  }
  const send = async (content: string) => {
    const all = new Promise<void>((resolve) =>
      waiters.set(content, { left: subscribers, done: resolve }),
    );
    await post(
      postUrl,
      POST,
      { r: roomId, c: content },
      { 'x-gateway-assertion': await postAuth() },
    );
    return all;
  };
  try {
    // Subscriptions are in place once a message reaches every subscriber: warm up until then.
    let warm = 0;
    for (;;) {
      const reached = send(`${path.name}-${subscribers}-warmup-${warm++}`).then(() => true);
      const timeout = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000));
      if (await Promise.race([reached, timeout])) break;
      if (warm > 30) throw new Error(`${path.name}: subscribers never all received a message`);
    }
    latencies.length = 0;
    for (let i = 0; i < events; i++) {
      const content = `${path.name}-${subscribers}-${i}`;
      sentAt.set(content, performance.now());
      await send(content);
    }
    // While every subscriber is still connected.
    gatewayRss = rssMiB(gatewayPid);
  } finally {
    await Promise.all(clients.map(async (c) => c.dispose()));
  }
  latencies.sort((a, b) => a - b);
  report({
    name: `subscriptions.messageAdded.${path.name}`,
    parameters: { subscribers, events, users: 1, selection: path.query.replace(/\s+/g, ' ') },
    figures: {
      deliveries: latencies.length,
      p50Ms: round(percentile(latencies, 50)),
      p99Ms: round(percentile(latencies, 99)),
      maxMs: round(latencies.at(-1) ?? Number.NaN),
      gatewayRssMiB: gatewayRss,
    },
  });
}

/** `[direct|gateway|gatewayFederated ...] [1|1000 ...]` on the command line: run only those. */
const only = {
  // Only known path names: other words on the command line select benchmarks in bench/run.ts.
  paths: process.argv.slice(2).filter((a) => ['direct', 'gateway', 'gatewayFederated'].includes(a)),
  sizes: process.argv
    .slice(2)
    .filter((a) => /^\d+$/.test(a))
    .map(Number),
};

export async function run({ full }: { full: boolean }): Promise<void> {
  const leftovers = new Leftovers();
  try {
    const cluster = await Cluster.start(leftovers, {
      nodes: ['node-a'],
      nodeTimeoutMs: 5000,
      centralDataFrom: await centralDataTemplate(),
    });
    const node = cluster.node('node-a');
    const token = cluster.adminToken;
    const roomId = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.gatewayUrl,
        'mutation($h: ID!) { createRoom(name: "bench", homeNodeId: $h, replicaNodeIds: []) { id } }',
        { h: node.id },
        { token },
      ),
    ).createRoom.id;
    const events = full ? 200 : 20;
    const asGateway = await registerTestGateway(cluster.centralUrl);
    const nodeAuth = () => asGateway.assertionFor(node.id, token);
    const paths: Path[] = [
      { name: 'direct', url: node.url, query: PLAIN, nodeAuth },
      { name: 'gateway', url: cluster.gatewayUrl, query: PLAIN },
      { name: 'gatewayFederated', url: cluster.gatewayUrl, query: FEDERATED },
    ];
    for (const subscribers of [1, 1000]) {
      if (only.sizes.length > 0 && !only.sizes.includes(subscribers)) continue;
      for (const path of paths) {
        if (only.paths.length > 0 && !only.paths.includes(path.name)) continue;
        await measure(
          path,
          subscribers,
          events,
          roomId,
          `${node.url}/graphql`,
          nodeAuth,
          token,
          cluster.gateway.child.pid ?? 0,
        );
      }
    }
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await run({ full: process.argv.includes('--full') });
}
