// Reads of a replicated room with one of its three storage nodes frozen (SIGSTOP) vs all healthy
// (issue 17): the gateway hedges a read after the node's recent p95 (clamped to --hedge-min-ms /
// --hedge-max-ms), so a frozen node should cost a read about that bound, not the 5 s node
// timeout. Central's heartbeat pace is slowed here (OFFLINE after 30 s) so that everything
// measured while frozen is the gateway's own doing, not central routing around the node.
// Per freeze: the first read after it (the one that pays the hedge bound; the gateway then marks
// the node down and later reads skip it), and p50/p99 of a closed loop while it stays frozen.
// `node --import tsx bench/hedgedReads.ts [--full] [--reads=N] [--freezes=N]`
import { Cluster } from '../tests/helpers/cluster.ts';
import { registerTestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
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

const ROOM_QUERY =
  'query($id: ID!) { room(id: $id) { messages(last: 50) { edges { node { content } } } } }';

export async function run({ full }: { full: boolean }): Promise<void> {
  const reads = numberArg('reads') ?? (full ? 2000 : 300);
  const freezes = numberArg('freezes') ?? (full ? 5 : 3);
  const concurrency = 4;
  const leftovers = new Leftovers();
  try {
    const cluster = await Cluster.start(leftovers, {
      centralDataFrom: await centralDataTemplate(),
      heartbeatIntervalMs: 10_000,
      nodeTimeoutMs: 5000,
    });
    const [a, b, c] = ['node-a', 'node-b', 'node-c'].map((n) => cluster.node(n));
    if (!a || !b || !c) throw new Error('three nodes expected');
    const token = cluster.adminToken;
    const auth = { authorization: `Bearer ${token}` };
    const { createRoom } = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.gatewayUrl,
        'mutation($h: ID!, $r: [ID!]) { createRoom(name: "hedged", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id, c.id] },
        { token },
      ),
    );
    const gateway = `${cluster.gatewayUrl}/graphql`;
    let last = '';
    for (let i = 0; i < 50; i++) {
      const data = await post(
        gateway,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: createRoom.id, c: `message ${i}` },
        auth,
      );
      last = (data['postMessage'] as { id: string }).id;
    }
    // Both replicas hold the last message before anything is measured.
    const asGateway = await registerTestGateway(cluster.centralUrl);
    for (const replica of [b, c]) {
      for (;;) {
        const held = ok(
          await asGateway.gql<{ message: { id: string } | null }>(
            { url: replica.url, nodeId: replica.id },
            'query($id: ID!) { message(id: $id) { id } }',
            { id: last },
            { token },
          ),
        ).message;
        if (held) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const read = async () => void (await post(gateway, ROOM_QUERY, { id: createRoom.id }, auth));
    const healthOfA = async () => {
      const response = await fetch(`${cluster.gatewayUrl}/ready`, { headers: auth });
      const body = (await response.json()) as {
        nodes: Array<{ name: string; health: { state: string } }>;
      };
      return body.nodes.find((n) => n.name === 'node-a')?.health.state;
    };

    const healthy: LoadFigures[] = [];
    const frozen: LoadFigures[] = [];
    const firstReads: number[] = [];
    for (let round_ = 0; round_ < freezes; round_++) {
      healthy.push(await closedLoop(read, { concurrency, total: reads }));
      a.proc.child.kill('SIGSTOP');
      try {
        const t = performance.now();
        await read();
        firstReads.push(performance.now() - t);
        frozen.push(await closedLoop(read, { concurrency, total: reads }));
      } finally {
        a.proc.child.kill('SIGCONT');
      }
      // Its probe answers again: healthy before the next healthy run.
      while ((await healthOfA()) !== 'healthy')
        await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const summary = (figures: readonly LoadFigures[]) => ({
      p50Ms: median(figures.map((f) => f.p50Ms)),
      p99Ms: median(figures.map((f) => f.p99Ms)),
      rps: median(figures.map((f) => f.rps)),
    });
    report({
      name: 'hedged reads: one of three storage nodes frozen vs all healthy',
      parameters: {
        reads,
        freezes,
        concurrency,
        nodeTimeoutMs: 5000,
        hedgeMs: [50, 300],
        messagesPerRead: 50,
      },
      figures: {
        healthy: summary(healthy),
        frozen: summary(frozen),
        firstReadAfterFreezeMs: {
          median: round(median(firstReads)),
          max: round(Math.max(...firstReads)),
        },
        target: 'a frozen node costs a read about the hedge bound (<= 300 ms), not 5 s',
        met: Math.max(...firstReads) < 1000,
      },
    });
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
