// searchMessages through the gateway over a real cluster (central, three nodes, the gateway as
// processes): hits from rooms on two nodes in one page, only rooms the caller is in, edits and
// deletes reflected on every holder after sync, bad input refused, and a dead node giving a
// partial result that names its rooms.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok, type GraphQLResponse } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
type User = { id: string; token: string };
let alice: User;
let bob: User;
let r1: string; // home node-a, replica node-b
let r2: string; // home node-c only
let bobsPrivate: string;
let bobsPublic: string;

async function createUser(username: string): Promise<User> {
  const password = `${username}-password`;
  const id = ok(
    await gql<{ createUser: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
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

async function createRoom(
  user: User,
  name: string,
  home: string,
  replicas: string[],
  visibility = 'PUBLIC',
): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($n: String!, $h: ID, $r: [ID!], $v: RoomVisibility) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r, visibility: $v) { id } }',
      {
        n: name,
        h: cluster.node(home).id,
        r: replicas.map((r) => cluster.node(r).id),
        v: visibility,
      },
      { token: user.token },
    ),
  ).createRoom.id;
}

async function post(user: User, roomId: string, content: string): Promise<string> {
  return ok(
    await gql<{ postMessage: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: roomId, c: content },
      { token: user.token },
    ),
  ).postMessage.id;
}

interface SearchPage {
  searchMessages: {
    totalCount: number;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
    edges: Array<{
      cursor: string;
      node: { id: string; content: string; room: { id: string; name: string } };
      highlights: Array<{ snippet: string; matches: Array<{ start: number; length: number }> }>;
    }>;
  };
}

const SEARCH = `query($q: String!, $rooms: [ID!], $first: Int, $after: String) {
  searchMessages(query: $q, roomIds: $rooms, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id content room { id name } } highlights { snippet matches { start length } } }
  }
}`;

function search(
  user: User,
  q: string,
  extra: { rooms?: string[]; first?: number; after?: string } = {},
): Promise<GraphQLResponse<SearchPage>> {
  return gql<SearchPage>(cluster.gatewayUrl, SEARCH, { q, ...extra }, { token: user.token });
}

const contents = (page: SearchPage) => page.searchMessages.edges.map((e) => e.node.content).sort();

let asGateway: TestGateway | undefined;
/** A node's own answer (as a gateway would ask it), to see each holder's index. */
async function onNode(node: string, q: string, roomId: string): Promise<string[]> {
  asGateway ??= await registerTestGateway(cluster.centralUrl);
  const answer = ok(
    await asGateway.gql<SearchPage>(
      { url: cluster.node(node).url, nodeId: cluster.node(node).id },
      'query($q: String!, $r: [ID!]) { searchMessages(query: $q, roomIds: $r) { edges { node { id content } } } }',
      { q, r: [roomId] },
      { token: alice.token },
    ),
  );
  return answer.searchMessages.edges.map((e) => e.node.content);
}

beforeAll(async () => {
  cluster = await Cluster.start(leftovers);
  alice = await createUser('alice');
  bob = await createUser('bob');
  r1 = await createRoom(alice, 'plans', 'node-a', ['node-b']);
  r2 = await createRoom(alice, 'numbers', 'node-c', []);
  bobsPrivate = await createRoom(bob, 'bob-secret', 'node-a', ['node-b'], 'PRIVATE');
  bobsPublic = await createRoom(bob, 'bob-public', 'node-b', []);
  ok(
    await gql(
      cluster.gatewayUrl,
      'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
      { r: r1 },
      { token: bob.token },
    ),
  );
  await post(alice, r1, 'the quarterly report is a draft');
  await post(alice, r2, 'quarterly numbers are final');
  await post(bob, r1, 'bob read the quarterly report');
  await post(bob, bobsPrivate, 'quarterly secret of bob');
  await post(bob, bobsPublic, 'quarterly news in a room alice never joined');
}, 120_000);
afterAll(() => leftovers.dispose());

describe('searchMessages over a cluster', () => {
  it('returns hits from rooms on two nodes in one page, only from rooms the caller is in', async () => {
    const page = ok(await search(alice, 'quarterly'));
    expect(contents(page)).toEqual([
      'bob read the quarterly report',
      'quarterly numbers are final',
      'the quarterly report is a draft',
    ]);
    expect(page.searchMessages.totalCount).toBe(3);
    expect(new Set(page.searchMessages.edges.map((e) => e.node.room.name))).toEqual(
      new Set(['plans', 'numbers']),
    );
    const hit = page.searchMessages.edges.find((e) =>
      e.node.content.startsWith('quarterly numbers'),
    );
    expect(hit?.highlights).toEqual([
      { snippet: 'quarterly numbers are final', matches: [{ start: 0, length: 9 }] },
    ]);
    // Bob sees his own rooms and the shared one, never alice's room he is not in.
    expect(contents(ok(await search(bob, 'quarterly')))).toEqual([
      'bob read the quarterly report',
      'quarterly news in a room alice never joined',
      'quarterly secret of bob',
      'the quarterly report is a draft',
    ]);
  });

  it('refuses rooms the caller is not in, private or public, and changes nothing', async () => {
    for (const room of [bobsPrivate, bobsPublic]) {
      const answer = await search(alice, 'quarterly', { rooms: [room] });
      expect(codes(answer)).toEqual(['FORBIDDEN']);
    }
    expect(contents(ok(await search(alice, 'quarterly', { rooms: [r2] })))).toEqual([
      'quarterly numbers are final',
    ]);
  });

  it('applies from: and in: filters', async () => {
    expect(contents(ok(await search(alice, 'quarterly from:bob')))).toEqual([
      'bob read the quarterly report',
    ]);
    expect(contents(ok(await search(alice, 'quarterly in:numbers')))).toEqual([
      'quarterly numbers are final',
    ]);
    expect(contents(ok(await search(alice, 'quarter*')))).toHaveLength(3);
  });

  it('pages with cursors across nodes without repeating or skipping a hit', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    for (let i = 0; i < 5; i += 1) {
      const page = ok(await search(alice, 'quarterly', { first: 1, ...(after ? { after } : {}) }));
      seen.push(...page.searchMessages.edges.map((e) => e.node.content));
      if (!page.searchMessages.pageInfo.hasNextPage) break;
      after = page.searchMessages.pageInfo.endCursor ?? undefined;
    }
    expect(seen.sort()).toEqual([
      'bob read the quarterly report',
      'quarterly numbers are final',
      'the quarterly report is a draft',
    ]);
  });

  it('refuses malformed input with BAD_USER_INPUT, and reads FTS5 syntax as plain words', async () => {
    expect(codes(await search(alice, 'x'.repeat(300)))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await search(alice, 'quarterly', { first: 101 }))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await search(alice, 'quarterly', { after: 'not-a-cursor' }))).toEqual([
      'BAD_USER_INPUT',
    ]);
    expect(codes(await search(alice, 'from:bob'))).toEqual(['BAD_USER_INPUT']);
    expect(codes(await search(alice, 'quarterly before:someday'))).toEqual(['BAD_USER_INPUT']);
    const odd = ok(await search(alice, 'quarterly OR NEAR( "unclosed'));
    expect(odd.searchMessages.edges).toEqual([]);
    expect(contents(ok(await search(alice, 'report) ^report - :')))).toEqual([
      'bob read the quarterly report',
      'the quarterly report is a draft',
    ]);
  });

  it('reflects edits and deletes on every holder after sync', async () => {
    const id = await post(alice, r1, 'budget meeting on monday');
    await expect
      .poll(() => onNode('node-b', 'budget', r1), { timeout: 30_000 })
      .toEqual(['budget meeting on monday']);
    ok(
      await gql(
        cluster.gatewayUrl,
        'mutation($id: ID!) { editMessage(id: $id, content: "forecast meeting on monday") { id } }',
        { id },
        { token: alice.token },
      ),
    );
    for (const node of ['node-a', 'node-b']) {
      await expect.poll(() => onNode(node, 'budget', r1), { timeout: 30_000 }).toEqual([]);
      await expect.poll(() => onNode(node, 'forecast', r1), { timeout: 30_000 }).toHaveLength(1);
    }
    ok(
      await gql(
        cluster.gatewayUrl,
        'mutation($id: ID!) { deleteMessage(id: $id) { id } }',
        { id },
        { token: alice.token },
      ),
    );
    for (const node of ['node-a', 'node-b'])
      await expect.poll(() => onNode(node, 'forecast', r1), { timeout: 30_000 }).toEqual([]);
    expect(ok(await search(alice, 'forecast')).searchMessages.edges).toEqual([]);
  });

  it('answers from a replica when a home is down, and partially when no holder answers', async () => {
    await cluster.killNode('node-a');
    await cluster.killNode('node-c');
    const answer = await search(alice, 'quarterly');
    expect(contents(answer.data as SearchPage)).toEqual([
      'bob read the quarterly report',
      'the quarterly report is a draft',
    ]);
    expect(codes(answer)).toEqual(['NODE_UNAVAILABLE']);
    expect(answer.errors?.[0]?.extensions?.['roomIds']).toEqual([r2]);
  });
});
