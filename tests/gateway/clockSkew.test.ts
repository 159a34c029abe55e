// A write whose room's home node refuses it for its clock (CLOCK_SKEW: nothing written) goes to
// the room's next storage node; when every one refuses, the client gets CLOCK_SKEW. A real
// gateway, central and two nodes in process; one node's wall clock is injected.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
let gateway: GatewayServer;
const nodes = new Map<string, { node: NodeServer; skewMs: number }>();

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  for (const name of ['skew-home', 'skew-replica']) {
    const registered = await central.registerNode(name);
    const entry: { node?: NodeServer; skewMs: number } = { skewMs: 0 };
    entry.node = leftovers.add(
      await startNode({
        name,
        dataDir: await leftovers.tempDir('switchboard-skew-'),
        centralUrl: central.url,
        apiKey: registered.apiKey,
        logger: silentLogger,
        sync: false,
        now: () => Date.now() + entry.skewMs,
      }),
      (n) => n.close(),
    );
    nodes.set(name, entry as { node: NodeServer; skewMs: number });
  }
  gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      logger: silentLogger,
      nodeTimeoutMs: 10_000,
    }),
    (g) => g.close(),
  );
  // The gateway's own routing table takes both nodes in once central's events arrive.
  await until(
    () =>
      gateway.routing.report().nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok')
        .length,
    (routable) => routable === 2,
    'the gateway to route to both nodes',
    30_000,
  );
});

function entry(name: string) {
  const found = nodes.get(name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
}

describe('a home node beyond the drift bound', () => {
  it('its writes go to the replica; with both beyond it, the client gets CLOCK_SKEW', async () => {
    const alice = await central.createUser('alice');
    const home = entry('skew-home');
    const replica = entry('skew-replica');
    const room = ok(
      await gql<{ createRoom: { id: string } }>(
        gateway.url,
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "skewed", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: home.node.nodeId, r: [replica.node.nodeId] },
        { token: alice.token },
      ),
    ).createRoom.id;
    const post = (content: string) =>
      gql<{ postMessage: { id: string; originNode: { id: string } } }>(
        gateway.url,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id originNode { id } } }',
        { r: room, c: content },
        { token: alice.token },
      );

    expect(ok(await post('on time')).postMessage.originNode.id).toBe(home.node.nodeId);

    home.skewMs = 164_000;
    const moved = ok(await post('home is fast')).postMessage;
    expect(moved.originNode.id).toBe(replica.node.nodeId);
    expect(home.node.store.get(moved.id)).toBeUndefined();
    expect(replica.node.store.get(moved.id)?.content).toBe('home is fast');

    replica.skewMs = -90_000;
    const refused = await post('both are off');
    expect(codes(refused)).toEqual(['CLOCK_SKEW']);
    expect(refused.errors?.[0]?.message).toMatch(/9\d{4} ms behind central's/);
    expect(refused.data?.postMessage ?? null).toBeNull();
  });
});
