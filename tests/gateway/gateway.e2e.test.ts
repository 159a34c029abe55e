// The gateway over a real cluster: central, three chat nodes and the gateway as separate
// processes. Rooms live on different nodes; one endpoint serves them all.
import { createServer } from 'node:http';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphqlHandler, listen } from '../../lib/http.ts';
import { Cluster } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
let alice: { id: string; token: string };

async function createUser(username: string): Promise<{ id: string; token: string }> {
  const password = `${username}-password`;
  const id = ok(
    await gql<{ createUser: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p, displayName: $u) { id } }',
      { u: username, p: password },
      { token: cluster.adminToken },
    ),
  ).createUser.id;
  const token = ok(
    await gql<{ login: { token: string } }>(
      cluster.gatewayUrl,
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
      { u: username, p: password },
    ),
  ).login.token;
  return { id, token };
}

async function createRoom(name: string, home: string, replicas?: string[]): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { n: name, h: cluster.node(home).id, r: replicas?.map((r) => cluster.node(r).id) ?? null },
      { token: alice.token },
    ),
  ).createRoom.id;
}

/** Posts through the gateway, or straight to a node (as a gateway would: with an assertion). */
async function post(roomId: string, content: string, node?: string) {
  const query =
    'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id originNode { id } } }';
  type Posted = { postMessage: { id: string; originNode: { id: string } } };
  return ok(
    node === undefined
      ? await gql<Posted>(
          cluster.gatewayUrl,
          query,
          { r: roomId, c: content },
          { token: alice.token },
        )
      : await (
          await toNodes()
        ).gql<Posted>(onNode(node), query, { r: roomId, c: content }, { token: alice.token }),
  ).postMessage;
}

let asGateway: TestGateway | undefined;
/** Calls nodes directly as a gateway would (a test key registered at central). */
async function toNodes(): Promise<TestGateway> {
  return (asGateway ??= await registerTestGateway(cluster.centralUrl));
}
const onNode = (name: string) => ({ url: cluster.node(name).url, nodeId: cluster.node(name).id });

const roomsQuery = `{ rooms { id name messages(last: 20) { edges { node { content sender { displayName } } } } } }`;

beforeAll(async () => {
  cluster = await Cluster.start(leftovers);
  alice = await createUser('alice');
});
afterAll(() => leftovers.dispose());

describe('gateway over a real cluster', () => {
  let r1: string;
  let r2: string;
  let r3: string;

  it('posts into each room land on its home node, and one query reads every room', async () => {
    r1 = await createRoom('r1', 'node-a');
    r2 = await createRoom('r2', 'node-b');
    r3 = await createRoom('r3', 'node-c');
    for (const [room, home] of [
      [r1, 'node-a'],
      [r2, 'node-b'],
      [r3, 'node-c'],
    ] as const) {
      const message = await post(room, `hello ${home}`);
      expect(message.originNode.id).toBe(cluster.node(home).id);
      // The home node itself holds it (asked directly, not through the gateway).
      const direct = ok(
        await (
          await toNodes()
        ).gql<{ message: { content: string } | null }>(
          onNode(home),
          'query($id: ID!) { message(id: $id) { content } }',
          { id: message.id },
          { token: alice.token },
        ),
      );
      expect(direct.message?.content).toBe(`hello ${home}`);
    }
    const rooms = ok(
      await gql<{ rooms: any[] }>(cluster.gatewayUrl, roomsQuery, {}, { token: alice.token }),
    ).rooms;
    const byName = Object.fromEntries(
      rooms.map((r) => [
        r.name,
        r.messages.edges.map((e: any) => `${e.node.sender.displayName}: ${e.node.content}`),
      ]),
    );
    expect(byName).toMatchObject({
      r1: ['alice: hello node-a'],
      r2: ['alice: hello node-b'],
      r3: ['alice: hello node-c'],
    });
  });

  it('shows a message written directly on another storage node exactly once, before any sync', async () => {
    const direct = await post(r1, 'written on b', 'node-b');
    expect(direct.originNode.id).toBe(cluster.node('node-b').id);
    const room = ok(
      await gql<{ room: any }>(
        cluster.gatewayUrl,
        'query($id: ID!) { room(id: $id) { messages(last: 10) { edges { node { id content } } } } }',
        { id: r1 },
        { token: alice.token },
      ),
    ).room;
    const contents = room.messages.edges.map((e: any) => e.node.content);
    expect(contents).toEqual(['hello node-a', 'written on b']);
    const one = ok(
      await gql<{ message: { content: string } }>(
        cluster.gatewayUrl,
        'query($id: ID!) { message(id: $id) { content } }',
        { id: direct.id },
        { token: alice.token },
      ),
    );
    expect(one.message.content).toBe('written on b');
  });

  it('puts interleaved rooms of different nodes back in the order asked', async () => {
    // Each node gets a different subset of the rooms in one _entities fetch: a mix-up of
    // indexes would hand one room another room's messages.
    const layout: Array<[string, string, string[]]> = [
      ['i0', 'node-a', []],
      ['i1', 'node-b', []],
      ['i2', 'node-c', ['node-a']],
      ['i3', 'node-a', ['node-b']],
      ['i4', 'node-c', []],
      ['i5', 'node-b', ['node-c']],
    ];
    const ids: string[] = [];
    for (const [name, home, replicas] of layout) {
      const id = await createRoom(name, home, replicas);
      ids.push(id);
      await post(id, `${name} first`);
      await post(id, `${name} second`);
    }
    const rooms = ok(
      await gql<{ rooms: any[] }>(
        cluster.gatewayUrl,
        '{ rooms { id name messages(last: 5) { edges { node { content room { id } } } } } }',
        {},
        { token: alice.token },
      ),
    ).rooms.filter((r) => r.name.startsWith('i'));
    expect(rooms.map((r) => r.id)).toEqual(ids);
    for (const room of rooms) {
      expect(room.messages.edges.map((e: any) => e.node.content)).toEqual([
        `${room.name} first`,
        `${room.name} second`,
      ]);
      expect(room.messages.edges.every((e: any) => e.node.room.id === room.id)).toBe(true);
    }
  });

  it('serves a room from its other storage nodes when its home node dies, and only that room fails when nothing else holds it', async () => {
    const onlyA = await createRoom('only-a', 'node-a', []);
    await post(onlyA, 'only on a');
    await post(r1, 'on a before the crash');
    await cluster.killNode('node-a', 'SIGKILL');

    const response = await gql<{ rooms: any[] }>(
      cluster.gatewayUrl,
      '{ rooms { name messages(last: 20) { edges { node { content } } } } }',
      {},
      { token: alice.token },
    );
    const rooms = response.data?.rooms ?? [];
    const r1Read = rooms.find((r) => r.name === 'r1');
    // node-b holds what was written on it; no error for r1.
    expect(r1Read.messages.edges.map((e: any) => e.node.content)).toContain('written on b');
    expect(
      rooms.find((r) => r.name === 'r2').messages.edges.map((e: any) => e.node.content),
    ).toEqual(['hello node-b']);
    // Exactly the rooms stored on node-a alone fail, each at its own path.
    const onlyOnA = ['i0', 'only-a'];
    for (const name of onlyOnA) expect(rooms.find((r) => r.name === name).messages).toBeNull();
    expect(response.errors).toEqual(
      onlyOnA.map((name) =>
        expect.objectContaining({
          path: ['rooms', rooms.findIndex((r) => r.name === name), 'messages'],
          message: expect.stringContaining('node-a: unreachable'),
          extensions: expect.objectContaining({ code: 'NODE_UNAVAILABLE' }),
        }),
      ),
    );

    // Writes to r1 go to another ONLINE storage node meanwhile.
    const moved = await post(r1, 'while a is down');
    expect(moved.originNode.id).not.toBe(cluster.node('node-a').id);

    await cluster.startNode('node-a');
    await cluster.waitUntilRoutable(['node-a']);
    const back = ok(
      await gql<{ room: any }>(
        cluster.gatewayUrl,
        'query($id: ID!) { room(id: $id) { messages { edges { node { content } } } } }',
        { id: onlyA },
        { token: alice.token },
      ),
    );
    expect(back.room.messages.edges.map((e: any) => e.node.content)).toEqual(['only on a']);
  });

  it('routes to a node registered while the gateway runs, without a restart', async () => {
    await cluster.addNode('node-d');
    await cluster.waitUntilRoutable(['node-d']);
    const room = await createRoom('on-d', 'node-d', []);
    const message = await post(room, 'hello d');
    expect(message.originNode.id).toBe(cluster.node('node-d').id);
    const read = ok(
      await gql<{ room: any }>(
        cluster.gatewayUrl,
        'query($id: ID!) { room(id: $id) { messages { edges { node { content } } } } }',
        { id: room },
        { token: alice.token },
      ),
    );
    expect(read.room.messages.edges.map((e: any) => e.node.content)).toEqual(['hello d']);
  });

  it('refuses to route to a node that serves another schema, and reports it', async () => {
    // An impostor: a real subgraph server with a changed node schema, registered and heartbeating
    // like a node.
    const sdl = readFileSync(new URL('../../schema/node.graphql', import.meta.url), 'utf8').replace(
      'type Query {',
      'type Query {\n  surprise: String',
    );
    const apollo = new ApolloServer({ schema: buildSubgraphSchema(parse(sdl)) });
    await apollo.start();
    leftovers.defer(() => apollo.stop());
    const handler = graphqlHandler({ server: apollo, context: () => Promise.resolve({}) });
    const http = createServer((req, res) => void handler(req, res));
    const port = await listen(http, 0);
    leftovers.defer(() => new Promise<void>((resolve) => http.close(() => resolve())));
    const impostorUrl = `http://127.0.0.1:${port}`;
    const registered = ok(
      await gql<{ registerNode: { node: { id: string }; apiKey: string } }>(
        cluster.gatewayUrl,
        'mutation($u: String!) { registerNode(name: "impostor", url: $u) { node { id } apiKey } }',
        { u: impostorUrl },
        { token: cluster.adminToken },
      ),
    ).registerNode;
    const beat = () =>
      fetch(`${cluster.centralUrl}/internal/heartbeat`, {
        method: 'POST',
        headers: { 'x-node-api-key': registered.apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ url: impostorUrl }),
      });
    expect((await beat()).status).toBe(200);
    const pump = setInterval(() => void beat().catch(() => {}), 100);
    leftovers.defer(() => clearInterval(pump));

    const report = await cluster.waitForReady((r) =>
      r.nodes.some((n) => n.name === 'impostor' && n.schema.state === 'mismatch'),
    );
    const impostor = report.nodes.find((n) => n.name === 'impostor');
    expect(impostor?.schema.differences?.join(' ')).toContain('surprise');
    // Its log line comes through the child's stdout, which may trail the /ready answer.
    await expect
      .poll(() => cluster.gateway.lines.some((l) => /impostor serves a different schema/.test(l)))
      .toBe(true);

    const room = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.gatewayUrl,
        'mutation($h: ID!) { createRoom(name: "on-impostor", homeNodeId: $h, replicaNodeIds: []) { id } }',
        { h: registered.node.id },
        { token: alice.token },
      ),
    ).createRoom.id;
    const refused = await gql(
      cluster.gatewayUrl,
      'mutation($r: ID!) { postMessage(roomId: $r, content: "x") { id } }',
      { r: room },
      { token: alice.token },
    );
    expect(codes(refused)).toEqual(['NODE_UNAVAILABLE']);
  });

  it('exposes what happened above as Prometheus metrics on /metrics', async () => {
    const response = await fetch(`${cluster.gatewayUrl}/metrics`, {
      headers: { authorization: `Bearer ${cluster.adminToken}` },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    const value = (series: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      if (line === undefined) throw new Error(`no series ${series} in:\n${text}`);
      return Number(line.slice(series.length + 1));
    };
    expect(
      value('switchboard_gateway_operations_total{type="query",outcome="ok"}'),
    ).toBeGreaterThan(0);
    // The refused post to the impostor's room above.
    expect(
      value('switchboard_gateway_operations_total{type="mutation",outcome="error"}'),
    ).toBeGreaterThan(0);
    expect(
      value('switchboard_gateway_node_request_duration_seconds_count{node="node-b",outcome="ok"}'),
    ).toBeGreaterThan(0);
    // node-a was killed in an earlier test: the gateway found it unreachable at least once.
    expect(
      value(
        'switchboard_gateway_node_request_duration_seconds_count{node="node-a",outcome="unreachable"}',
      ),
    ).toBeGreaterThan(0);
    expect(value('switchboard_gateway_central_connected')).toBe(1);
    // node-a..d routable; the impostor ONLINE but not routable (its schema differs).
    expect(value('switchboard_gateway_nodes{status="ONLINE",routable="true"}')).toBe(4);
    expect(value('switchboard_gateway_nodes{status="ONLINE",routable="false"}')).toBe(1);
    expect(value('switchboard_gateway_process_resident_memory_bytes')).toBeGreaterThan(0);
  });
});
