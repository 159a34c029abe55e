// Room.messages(includeDeleted: false) through the gateway, whose page of a room is the merge of
// its storage nodes' pages. The nodes run without sync, so each holds only what was written on it
// and every page below is a real merge of two nodes' answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
let gateway: GatewayServer;
let asGateway: TestGateway;
const nodes: NodeServer[] = [];
let alice: { id: string; token: string };
let room: string;
/** Every message of the room, oldest first, and those deleted. */
let all: string[] = [];
const deleted = new Set<string>();

interface Page {
  edges: Array<{ cursor: string; node: { id: string; deletedAt: string | null } }>;
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
}

async function page(args: Record<string, unknown>): Promise<Page> {
  const data = ok(
    await gql<{ room: { messages: Page } }>(
      gateway.url,
      `query($r: ID!, $first: Int, $after: String, $last: Int, $before: String, $d: Boolean) {
        room(id: $r) {
          messages(first: $first, after: $after, last: $last, before: $before, includeDeleted: $d) {
            edges { cursor node { id deletedAt } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          }
        }
      }`,
      { r: room, ...args },
      { token: alice.token },
    ),
  );
  return data.room.messages;
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  asGateway = await registerTestGateway(central.url);
  for (const name of ['node-a', 'node-b']) {
    const registered = await central.registerNode(name);
    nodes.push(
      leftovers.add(
        await startNode({
          name,
          dataDir: await leftovers.tempDir(`switchboard-tomb-${name}-`),
          centralUrl: central.url,
          apiKey: registered.apiKey,
          logger: silentLogger,
          sync: false,
        }),
        (n) => n.close(),
      ),
    );
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
  await until(
    () =>
      gateway.routing.report().nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok')
        .length,
    (routable) => routable === 2,
    'the gateway to route to the two nodes',
    30_000,
  );
  alice = await central.createUser('alice');
  const [a, b] = nodes as [NodeServer, NodeServer];
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation($h: ID!, $r: [ID!]) { createRoom(name: "tombs", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: a.nodeId, r: [b.nodeId] },
      { token: alice.token },
    ),
  ).createRoom.id;
  // Alternately on a and b, one after the other so that ids (UUIDv7) follow this order.
  for (let i = 0; i < 24; i++) {
    const target = i % 2 === 0 ? a : b;
    const posted = ok(
      await asGateway.gql<{ postMessage: { id: string } }>(
        target,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: room, c: `m${i}` },
        { token: alice.token },
      ),
    ).postMessage.id;
    all.push(posted);
    // The first two, the last two, and every third: tombstones at both ends and in between.
    if (i < 2 || i >= 22 || i % 3 === 0) {
      ok(
        await asGateway.gql(
          target,
          'mutation($m: ID!) { deleteMessage(id: $m) { id } }',
          { m: posted },
          { token: alice.token },
        ),
      );
      deleted.add(posted);
    }
  }
  all = [...all].sort();
}, 60_000);

describe('Room.messages(includeDeleted) through the gateway', () => {
  it('merges pages of live messages only, forwards and backwards, with flags about them', async () => {
    const live = all.filter((id) => !deleted.has(id));
    const forwards: string[] = [];
    let after: string | null = null;
    for (let n = 0; ; n++) {
      const p = await page({ first: 4, d: false, ...(after === null ? {} : { after }) });
      expect(p.edges.every((e) => e.node.deletedAt === null)).toBe(true);
      forwards.push(...p.edges.map((e) => e.node.id));
      expect(p.pageInfo.hasPreviousPage).toBe(n > 0);
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(forwards).toEqual(live);

    const backwards: string[] = [];
    let before: string | null = null;
    for (let n = 0; ; n++) {
      const p = await page({ last: 4, d: false, ...(before === null ? {} : { before }) });
      backwards.unshift(...p.edges.map((e) => e.node.id));
      expect(p.pageInfo.hasNextPage).toBe(n > 0);
      if (!p.pageInfo.hasPreviousPage) break;
      before = p.pageInfo.startCursor;
    }
    expect(backwards).toEqual(live);
  });

  it('includes tombstones by default, and a cursor of either mode works in the other', async () => {
    const everything = await page({ first: 100 });
    expect(everything.edges.map((e) => e.node.id)).toEqual(all);
    const tombstone = everything.edges.find(
      (e) => e.node.deletedAt !== null && e.node.id > all[5]!,
    );
    if (!tombstone) throw new Error('no tombstone in the middle');
    const next = await page({ first: 2, after: tombstone.cursor, d: false });
    expect(next.edges.map((e) => e.node.id)).toEqual(
      all.filter((id) => id > tombstone.node.id && !deleted.has(id)).slice(0, 2),
    );
  });
});
