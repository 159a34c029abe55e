// Issue 17 with real processes: the gateway's own view of node health. A node killed or frozen
// (SIGSTOP) is routed around at the gateway's next request, long before central's heartbeats
// call it OFFLINE: a post right after the home node died lands on a replica, reads of a frozen
// node's replicated room are answered by the replica (hedged), and the outage is one log line.
// The node timeout is two minutes here, so a read that waited for the frozen node would not
// finish within the test's own timeout: the outcome shows the hedge, no elapsed time is asserted.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { registerTestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
let token: string;

beforeAll(async () => {
  // Central's default heartbeat pace (OFFLINE after 4.5 s): the gateway must not need it.
  cluster = await Cluster.start(leftovers, { heartbeatIntervalMs: 1500, nodeTimeoutMs: 120_000 });
  const password = 'alice-password';
  ok(
    await gql(
      cluster.gatewayUrl,
      'mutation($p: String!) { createUser(username: "alice", password: $p, displayName: "Alice") { id } }',
      { p: password },
      { token: cluster.adminToken },
    ),
  );
  token = ok(
    await gql<{ login: { token: string } }>(
      cluster.gatewayUrl,
      'mutation($p: String!) { login(username: "alice", password: $p) { token } }',
      { p: password },
    ),
  ).login.token;
}, 120_000);
afterAll(() => leftovers.dispose());

async function createRoom(name: string, home: string, replicas: string[]): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { n: name, h: cluster.node(home).id, r: replicas.map((r) => cluster.node(r).id) },
      { token },
    ),
  ).createRoom.id;
}

async function post(roomId: string, content: string) {
  return gql<{ postMessage: { id: string; originNode: { id: string } } }>(
    cluster.gatewayUrl,
    'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id originNode { id } } }',
    { r: roomId, c: content },
    { token },
  );
}

async function read(roomId: string) {
  return gql<{ room: { messages: { edges: Array<{ node: { content: string } }> } | null } }>(
    cluster.gatewayUrl,
    'query($id: ID!) { room(id: $id) { messages(last: 50) { edges { node { content } } } } }',
    { id: roomId },
    { token },
  );
}

async function healthOf(name: string): Promise<{ state: string; reason: string | null }> {
  const report = await cluster.waitForReady(() => true);
  const node = report.nodes.find((n) => n.name === name) as unknown as {
    health: { state: string; reason: string | null };
  };
  return node.health;
}

async function metrics(): Promise<string> {
  const response = await fetch(`${cluster.gatewayUrl}/metrics`, {
    headers: { authorization: `Bearer ${cluster.adminToken}` },
  });
  return response.text();
}

describe("the gateway's own view of node health", () => {
  it('answers reads of a frozen node’s replicated room from the replica, then takes the node back', async () => {
    const room = await createRoom('frozen-home', 'node-c', ['node-b']);
    const ids: string[] = [];
    for (const content of ['one', 'two']) ids.push(ok(await post(room, content)).postMessage.id);
    // The replica holds both messages before the freeze (a post goes to the home node; the replica
    // is filled by sync), so its answer alone is the whole room.
    const asGateway = await registerTestGateway(cluster.centralUrl);
    const replica = cluster.node('node-b');
    const onReplica = async (id: string) =>
      ok(
        await asGateway.gql<{ message: { id: string } | null }>(
          { url: replica.url, nodeId: replica.id },
          'query($id: ID!) { message(id: $id) { id } }',
          { id },
          { token },
        ),
      ).message !== null;
    await expect
      .poll(async () => (await Promise.all(ids.map(onReplica))).every(Boolean), {
        timeout: 30_000,
      })
      .toBe(true);
    // Healthy in the gateway's view before the freeze: the router asks only healthy nodes, so a
    // node-c already suspect (slow once on a loaded machine) would send the reads to node-b
    // alone, and none would need a hedge.
    await expect.poll(async () => (await healthOf('node-c')).state).toBe('healthy');
    const node = cluster.node('node-c');
    node.proc.child.kill('SIGSTOP');
    try {
      for (let i = 0; i < 3; i++) {
        const answer = await read(room);
        expect(answer.errors).toBeUndefined();
        expect(answer.data?.room.messages?.edges.map((e) => e.node.content)).toEqual([
          'one',
          'two',
        ]);
      }
      // Routed around at once, well before central could call it OFFLINE.
      expect((await healthOf('node-c')).state).not.toBe('healthy');
      const text = await metrics();
      expect(text).toMatch(/switchboard_gateway_node_healthy\{node="node-c"\} 0/);
      expect(text).toMatch(/switchboard_gateway_hedged_reads_total [1-9]/);
      expect(text).toMatch(
        /switchboard_gateway_node_request_duration_seconds_count\{node="node-c",outcome="cancelled"\} [1-9]/,
      );
    } finally {
      node.proc.child.kill('SIGCONT');
    }
    // Back: a probe or a heartbeat's comeback makes it healthy again.
    await expect
      .poll(async () => (await healthOf('node-c')).state, { timeout: 30_000 })
      .toBe('healthy');
    expect(await metrics()).toMatch(/switchboard_gateway_node_healthy\{node="node-c"\} 1/);
  });

  it('sends a post right after its home node died to a replica, and logs the outage once', async () => {
    const rooms = [
      await createRoom('dies-1', 'node-a', ['node-b']),
      await createRoom('dies-2', 'node-a', ['node-b']),
    ];
    // Feeds of both rooms open to node-a: a message posted now arrives through them.
    const client = wsClient(leftovers, cluster.gatewayUrl, token);
    const subscriptions = rooms.map((roomId) =>
      collect<{ messageAdded: { content: string } }>(
        client,
        'subscription($r: ID!) { messageAdded(roomId: $r) { content } }',
        { r: roomId },
      ),
    );
    for (const [i, roomId] of rooms.entries()) {
      await expect
        .poll(
          async () => {
            ok(await post(roomId, `before ${i}`));
            return subscriptions[i]?.events.length ?? 0;
          },
          { timeout: 30_000 },
        )
        .toBeGreaterThan(0);
    }

    await cluster.killNode('node-a', 'SIGKILL');
    const posted = ok(await post(rooms[0] as string, 'right after the kill')).postMessage;
    expect(posted.originNode.id).toBe(cluster.node('node-b').id);
    const health = await healthOf('node-a');
    expect(health).toMatchObject({ state: 'down', reason: 'unreachable' });
    // The next one goes to the replica first.
    const next = ok(await post(rooms[1] as string, 'and the next')).postMessage;
    expect(next.originNode.id).toBe(cluster.node('node-b').id);
    await subscriptions[1]?.waitUntil((e) => e.messageAdded.content === 'and the next');

    // Central calls it OFFLINE after its heartbeats stop; until then the feeds of both rooms
    // were reopened and ended again, several times: one line for all of it.
    await cluster.waitUntilRoutable(['node-a'], (n) => n.status === 'OFFLINE');
    const lines = cluster.gateway.lines;
    expect(lines.filter((l) => /feeds? from node-a end/.test(l))).toHaveLength(1);
    expect(lines.filter((l) => /node node-a down/.test(l))).toHaveLength(1);
    for (const s of subscriptions) s.stop();
  });
});
