// The router's `_entities` reads through its `process()`, as Apollo's RemoteGraphQLDataSource
// tests drive a data source: a real central, three real nodes (in-process, without sync, so each
// holds only what was written on it), and a TCP proxy in front of each node (the address it
// announces) to cut or freeze it. Covered: entities spread over several nodes answered in the
// order of the representations with one request per node, the copies of a replicated room merged,
// a node failing in the first round (its entities go on to the replicas, the rest stand), a
// second round to a replica the first round left out, and a frozen node hedged past its bound.
import type { GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCentralLink } from '../../gateway/centralLink.ts';
import type { GatewayContext } from '../../gateway/context.ts';
import type { NodeOutcome } from '../../gateway/metrics.ts';
import { NodeRouter } from '../../gateway/nodeRouter.ts';
import { OperationPreparer } from '../../gateway/operations.ts';
import { RoutingTable } from '../../gateway/routingTable.ts';
import { expectedNodeSdl } from '../../gateway/schemaCheck.ts';
import { loadSupergraph } from '../../lib/supergraph.ts';
import { silentLogger } from '../../lib/log.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { TcpProxy } from '../faults/tcpProxy.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import {
  registerTestGateway,
  viewerOfToken,
  type TestGateway,
} from '../helpers/gatewayAssertions.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const supergraph = loadSupergraph();
const nodeSchema = buildSubgraphSchema(parse(supergraph.nodeSdl));
const preparer = new OperationPreparer(nodeSchema);

/** What the query planner sends the messages subgraph for rooms and messages. */
const ENTITIES = `query($representations: [_Any!]!) {
  _entities(representations: $representations) {
    ... on Room { messages(last: 50) { edges { node { id content } } } }
    ... on Message { id content }
  }
}`;

interface TestNode {
  readonly server: NodeServer;
  readonly proxy: TcpProxy;
}

type Name = 'a' | 'b' | 'c';

let central: TestCentral;
let asGateway: TestGateway;
let alice: { id: string; token: string };
const nodes = new Map<Name, TestNode>();
/** Room ids by the nodes that store them, home first ('ac': home a, replica c). */
const rooms = new Map<string, string>();
/** Contents of each room's messages, oldest first, as the merged page must show them. */
const contents = new Map<string, string[]>();
/** One message id per node, held by that node alone. */
const onlyOn = new Map<Name, { id: string; content: string }>();
/** A message both a and b hold, b in a newer version (edited there). */
let twoVersions: { id: string; newest: string };

function node(name: Name): TestNode {
  const found = nodes.get(name);
  if (!found) throw new Error(`no node ${name}`);
  return found;
}

function room(placement: string): string {
  const id = rooms.get(placement);
  if (id === undefined) throw new Error(`no room ${placement}`);
  return id;
}

async function post(name: Name, placement: string, content: string, key?: string) {
  const posted = ok(
    await asGateway.gql<{ postMessage: { id: string } }>(
      node(name).server,
      'mutation($r: ID!, $c: String!, $k: ID) { postMessage(roomId: $r, content: $c, clientMessageId: $k) { id } }',
      { r: room(placement), c: content, k: key },
      { token: alice.token },
    ),
  ).postMessage;
  return posted.id;
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  asGateway = await registerTestGateway(central.url);
  for (const name of ['a', 'b', 'c'] as const) {
    const proxy = leftovers.add(await TcpProxy.start(), (p) => p.close());
    const registered = await central.registerNode(`node-${name}`);
    const server = leftovers.add(
      await startNode({
        name: `node-${name}`,
        dataDir: await leftovers.tempDir(`switchboard-router-${name}-`),
        centralUrl: central.url,
        apiKey: registered.apiKey,
        publicUrl: proxy.url,
        logger: silentLogger,
        sync: false,
      }),
      (n) => n.close(),
    );
    proxy.retarget(server.port);
    nodes.set(name, { server, proxy });
  }
  alice = await central.createUser('alice');
  for (const placement of ['a', 'b', 'c', 'ab', 'ac']) {
    const [home, ...replicas] = [...placement].map((n) => node(n as Name).server.nodeId);
    rooms.set(
      placement,
      ok(
        await gql<{ createRoom: { id: string } }>(
          central.url,
          'mutation($n: String!, $h: ID!, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
          { n: `room-${placement}`, h: home, r: replicas },
          { token: alice.token },
        ),
      ).createRoom.id,
    );
  }
  // One after the other, so that ids (UUIDv7) and so pages follow this order.
  for (const placement of ['a', 'b', 'c']) {
    const name = placement as Name;
    const written = [`${name}-1`, `${name}-2`];
    for (const content of written) await post(name, placement, content);
    contents.set(placement, written);
    onlyOn.set(name, { id: await post(name, placement, `${name}-only`), content: `${name}-only` });
    written.push(`${name}-only`);
  }
  // A replicated room whose copies differ (no sync): each holds what was written on it, and one
  // message (the same id through its clientMessageId) is on both, edited on b.
  await post('a', 'ab', 'ab-1 on a');
  await post('b', 'ab', 'ab-2 on b');
  const key = uuidv7();
  const shared = await post('a', 'ab', 'ab-3 on both', key);
  expect(await post('b', 'ab', 'ab-3 on both', key)).toBe(shared);
  ok(
    await asGateway.gql(
      node('b').server,
      'mutation($m: ID!) { editMessage(id: $m, content: "ab-3 edited on b") { id } }',
      { m: shared },
      { token: alice.token },
    ),
  );
  twoVersions = { id: shared, newest: 'ab-3 edited on b' };
  contents.set('ab', ['ab-1 on a', 'ab-2 on b', 'ab-3 edited on b']);
  await post('a', 'ac', 'ac-1 on a');
  await post('c', 'ac', 'ac-2 on c');
  contents.set('ac', ['ac-1 on a', 'ac-2 on c']);
});

afterEach(() => {
  for (const { proxy } of nodes.values()) proxy.heal();
});

interface TestRouter {
  readonly router: NodeRouter;
  readonly routing: RoutingTable;
  /** Every request the router sent a node, in the order they ended. */
  readonly requests: Array<{ node: string; outcome: NodeOutcome }>;
  readonly hedged: string[];
}

/**
 * A router with its own routing table, as the gateway builds them (a fresh view of the nodes'
 * health per test). A node that failed is probed again only after a minute: within a test it
 * stays down in the router's view, whatever its proxy does after.
 */
/** A node's SDL as the gateway asks for it. */
async function sdlOf(n: { url: string; id: string }): Promise<string> {
  return ok(
    await asGateway.gql<{ _service: { sdl: string } }>(
      { url: n.url, nodeId: n.id },
      '{ _service { sdl } }',
    ),
  )._service.sdl;
}

/** A routing table on the test's central, stopped at the end. */
function newRoutingTable(
  options: Partial<ConstructorParameters<typeof RoutingTable>[0]> = {},
): RoutingTable {
  return leftovers.add(
    new RoutingTable({
      link: createCentralLink({
        centralUrl: central.url,
        gatewaySecret: TEST_GATEWAY_SECRET,
        log: silentLogger,
      }),
      expectedSdl: expectedNodeSdl(nodeSchema),
      fetchSdl: sdlOf,
      log: silentLogger,
      ...options,
    }),
    (r) => r.stop(),
  );
}

async function newRouter(): Promise<TestRouter> {
  const routing = newRoutingTable({ probeIntervalMs: 60_000 });
  await routing.start();
  await expect.poll(async () => (await routing.candidates()).length, { timeout: 30_000 }).toBe(3);
  const requests: TestRouter['requests'] = [];
  const hedged: string[] = [];
  const router = new NodeRouter({
    routing,
    preparer,
    timeoutMs: 60_000,
    log: silentLogger,
    signer: asGateway.signer,
    onNodeRequest: (name, outcome) => requests.push({ node: name, outcome }),
    onHedge: (name) => hedged.push(name),
  });
  return { router, routing, requests, hedged };
}

type Rep = { readonly __typename: 'Room' | 'Message'; readonly id: string };

const roomRep = (placement: string): Rep => ({ __typename: 'Room', id: room(placement) });
const messageRep = (id: string): Rep => ({ __typename: 'Message', id });

function fetchEntities(router: NodeRouter, representations: readonly Rep[]) {
  const context: GatewayContext = { viewer: viewerOfToken(alice.token), authorization: undefined };
  // What the gateway hands a data source for one fetch of a query plan; the router reads only
  // the kind, the request and the context (incomingRequestContext is Apollo's own bookkeeping).
  const options = {
    kind: 'incoming operation',
    request: { query: ENTITIES, variables: { representations } },
    context,
    incomingRequestContext: { context },
  } as unknown as GraphQLDataSourceProcessOptions<GatewayContext>;
  return router.process(options);
}

/** Each entity as a test reads it: a room's message contents, a message's content, or null. */
function shape(response: GatewayGraphQLResponse): unknown[] {
  const list = (response.data?.['_entities'] ?? []) as Array<Record<string, unknown> | null>;
  return list.map((entity) => {
    if (entity === null) return null;
    if ('messages' in entity) {
      const page = entity['messages'] as { edges: Array<{ node: { content: string } }> } | null;
      return page === null ? { messages: null } : page.edges.map((e) => e.node.content);
    }
    return entity['content'];
  });
}

const outcomesOf = (requests: TestRouter['requests'], name: string) =>
  requests.filter((r) => r.node === name).map((r) => r.outcome);

describe('NodeRouter _entities', () => {
  it('answers entities spread over the nodes in the order of the representations, one request per node', async () => {
    const { router, requests } = await newRouter();
    const a = onlyOn.get('a');
    const c = onlyOn.get('c');
    const response = await fetchEntities(router, [
      roomRep('c'),
      messageRep(c?.id ?? ''),
      roomRep('a'),
      roomRep('ab'),
      messageRep(a?.id ?? ''),
      roomRep('b'),
      messageRep(twoVersions.id),
    ]);
    expect(response.errors).toBeUndefined();
    expect(shape(response)).toEqual([
      contents.get('c'),
      c?.content,
      contents.get('a'),
      contents.get('ab'),
      a?.content,
      contents.get('b'),
      twoVersions.newest,
    ]);
    // Grouped: whatever number of entities a node holds, it gets one request.
    expect(requests.map((r) => r.node).sort()).toEqual(['node-a', 'node-b', 'node-c']);
    expect(requests.every((r) => r.outcome === 'ok')).toBe(true);
  });

  it('leaves the router-injected keys out of what it returns', async () => {
    const { router } = await newRouter();
    const response = await fetchEntities(router, [roomRep('ab'), messageRep(twoVersions.id)]);
    expect(JSON.stringify(response.data)).not.toContain('_sb_');
  });

  it('maps a node error to the entity it is about, not to the index it had on that node', async () => {
    const { router } = await newRouter();
    const unknown = uuidv7();
    const response = await fetchEntities(router, [
      roomRep('a'),
      roomRep('b'),
      roomRep('c'),
      { __typename: 'Room', id: unknown },
    ]);
    const data = shape(response);
    expect(data.slice(0, 3)).toEqual([contents.get('a'), contents.get('b'), contents.get('c')]);
    expect(data[3]).toEqual({ messages: null });
    expect(response.errors).toHaveLength(1);
    // The node holding it saw this room second (after its own): the path names index 3.
    expect(response.errors?.[0]?.path).toEqual(['_entities', 3, 'messages']);
    expect(response.errors?.[0]?.extensions?.['code']).toBe('NOT_FOUND');
    expect(response.errors?.[0]?.extensions?.['node']).toMatch(/^node-[abc]$/);
  });

  it('hands the entities of a node that fails in the first round to their replicas; the others stand', async () => {
    const { router, requests } = await newRouter();
    node('a').proxy.cut();
    const response = await fetchEntities(router, [
      roomRep('ab'),
      roomRep('b'),
      roomRep('a'),
      messageRep(onlyOn.get('b')?.id ?? ''),
      roomRep('ac'),
    ]);
    expect(shape(response)).toEqual([
      // b's copy alone: what only a holds is not there, and no error (a replica answered).
      ['ab-2 on b', 'ab-3 edited on b'],
      contents.get('b'),
      // Stored on a alone: the room stays, its messages are null with NODE_UNAVAILABLE.
      { messages: null },
      onlyOn.get('b')?.content,
      ['ac-2 on c'],
    ]);
    expect(response.errors).toHaveLength(1);
    expect(response.errors?.[0]).toMatchObject({
      path: ['_entities', 2, 'messages'],
      extensions: { code: 'NODE_UNAVAILABLE' },
    });
    expect(response.errors?.[0]?.message).toContain('node-a');
    expect(outcomesOf(requests, 'node-a')).toHaveLength(1);
    expect(outcomesOf(requests, 'node-a')[0]).not.toBe('ok');
    expect(outcomesOf(requests, 'node-b')).toEqual(['ok']);
    expect(outcomesOf(requests, 'node-c')).toEqual(['ok']);
  });

  it('asks a replica the first round left out (not healthy) once the healthy node fails', async () => {
    const { router, routing, requests } = await newRouter();
    // c fails once: the router's view has it down for the rest of the test, and healed.
    node('c').proxy.cut();
    const first = await fetchEntities(router, [roomRep('c')]);
    expect(first.errors?.[0]?.extensions?.['code']).toBe('NODE_UNAVAILABLE');
    node('c').proxy.heal();
    expect(routing.isSuspect(node('c').server.nodeId)).toBe(true);
    requests.length = 0;

    // Healthy alone, a is asked first; it fails, and the room's other copy (c) is asked next.
    node('a').proxy.cut();
    const response = await fetchEntities(router, [roomRep('ac'), roomRep('b')]);
    expect(response.errors).toBeUndefined();
    expect(shape(response)).toEqual([['ac-2 on c'], contents.get('b')]);
    expect(requests.map((r) => r.node)).toContain('node-c');
    expect(outcomesOf(requests, 'node-a')).toHaveLength(1);
    expect(outcomesOf(requests, 'node-a')[0]).not.toBe('ok');
    expect(outcomesOf(requests, 'node-c')).toEqual(['ok']);
    // a was asked before c: c only came in the second round.
    const order = requests.map((r) => r.node).filter((n) => n !== 'node-b');
    expect(order).toEqual(['node-a', 'node-c']);
  });

  it('answers from a replica past a frozen node’s bound, and cancels the frozen request', async () => {
    const { router, requests, hedged } = await newRouter();
    node('b').proxy.stall();
    const response = await fetchEntities(router, [roomRep('ab'), roomRep('a')]);
    expect(response.errors).toBeUndefined();
    expect(shape(response)).toEqual([['ab-1 on a', 'ab-3 on both'], contents.get('a')]);
    expect(hedged).toContain('node-b');
    // Not waited for until the node timeout (a minute): cancelled once a answered for everything
    // (the cancelled request ends just after the read returned).
    await expect.poll(() => outcomesOf(requests, 'node-b')).toEqual(['cancelled']);
    expect(outcomesOf(requests, 'node-a')).toEqual(['ok']);
  });
});

describe('RoutingTable schema checks', () => {
  it("keeps a check's answer when a reload refreshes its node meanwhile (same url, same status)", async () => {
    // node-a's first schema check waits until the reload below has replaced every node's entry
    // with central's fresh copy, as events and reloads do at any time.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const routing = newRoutingTable({
      fetchSdl: async (n) => {
        if (n.name === 'node-a') await held;
        return sdlOf(n);
      },
    });
    const schemaOfA = () => routing.report().nodes.find((n) => n.name === 'node-a')?.schema.state;
    await routing.start();
    expect(schemaOfA()).toBe('pending');
    await routing.reload();
    release();
    await expect.poll(schemaOfA).toBe('ok');
    expect((await routing.candidates()).map((n) => n.name).sort()).toEqual([
      'node-a',
      'node-b',
      'node-c',
    ]);
  });
});
