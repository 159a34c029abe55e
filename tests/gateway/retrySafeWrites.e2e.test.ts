// Writes clients can retry safely (issue 16), with real processes: a post retried with its
// clientMessageId on the same node, on a replica after the home node died having stored it, and
// after a node froze (SIGSTOP) with the post sent: one message on every node in the end. A write
// sent and never answered is OUTCOME_UNKNOWN, not NODE_UNAVAILABLE.
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
let direct: TestGateway;
let token: string;

beforeAll(async () => {
  // A node that does not answer within 3 s counts as down for that request: the frozen node's
  // post ends there.
  cluster = await Cluster.start(leftovers, {
    nodes: ['node-a', 'node-b'],
    heartbeatIntervalMs: 1500,
    nodeTimeoutMs: 3000,
  });
  direct = await registerTestGateway(cluster.centralUrl);
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

async function createRoom(name: string): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { n: name, h: cluster.node('node-a').id, r: [cluster.node('node-b').id] },
      { token },
    ),
  ).createRoom.id;
}

interface Posted {
  id: string;
  content: string;
  originNode: { id: string };
}

function post(roomId: string, content: string, key?: string) {
  return gql<{ postMessage: Posted | null }>(
    cluster.gatewayUrl,
    'mutation($r: ID!, $c: String!, $k: ID) { postMessage(roomId: $r, content: $c, clientMessageId: $k) { id content originNode { id } } }',
    { r: roomId, c: content, k: key ?? null },
    { token },
  );
}

/** The room's messages as one node holds them, asked directly. */
async function onNode(
  name: string,
  roomId: string,
): Promise<Array<{ id: string; content: string }>> {
  const node = cluster.node(name);
  const answer = ok(
    await direct.gql<{
      _entities: Array<{ messages: { edges: Array<{ node: { id: string; content: string } }> } }>;
    }>(
      { url: node.url, nodeId: node.id },
      'query($r: [_Any!]!) { _entities(representations: $r) { ... on Room { messages(last: 50) { edges { node { id content } } } } } }',
      { r: [{ __typename: 'Room', id: roomId }] },
      { token },
    ),
  );
  return answer._entities[0]?.messages.edges.map((e) => e.node) ?? [];
}

/** The distinct versions (origin node, clock) of a message that the two nodes hold. */
async function versionsOf(id: string): Promise<string[]> {
  const held = await Promise.all(
    ['node-a', 'node-b'].map(async (name) => {
      const node = cluster.node(name);
      const answer = ok(
        await direct.gql<{ message: { originNode: { id: string }; updatedAt: string } | null }>(
          { url: node.url, nodeId: node.id },
          'query($id: ID!) { message(id: $id) { originNode { id } updatedAt } }',
          { id },
          { token },
        ),
      );
      return JSON.stringify(answer.message);
    }),
  );
  return [...new Set(held)];
}

/** Freezes or thaws a node's process; `Proc.kill` would wait for an exit. */
function signal(name: string, sig: 'SIGSTOP' | 'SIGCONT'): void {
  cluster.node(name).proc.child.kill(sig);
}

describe('retry-safe writes', () => {
  it('answers a retry on the same node with the first message, and refuses the key for other content', async () => {
    const roomId = await createRoom('retry-same-node');
    const key = uuidv7();
    const first = ok(await post(roomId, 'hello once', key)).postMessage as Posted;
    const again = ok(await post(roomId, 'hello once', key)).postMessage as Posted;
    expect(again).toEqual(first);

    const other = await post(roomId, 'something else', key);
    expect(codes(other)).toEqual(['CONFLICT']);
    expect(other.errors?.[0]?.message).toMatch(/different content/);

    const bad = await post(roomId, 'hello', 'not-a-uuid');
    expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    expect(bad.errors?.[0]?.message).toMatch(/clientMessageId must be a UUIDv7/);

    for (const name of ['node-a', 'node-b']) {
      await expect
        .poll(() => onNode(name, roomId), { timeout: 30_000 })
        .toEqual([{ id: first.id, content: 'hello once' }]);
    }

    // Edits and deletes retried: the same version again, nothing new written.
    const edit = (content: string) =>
      gql<{ editMessage: { content: string; updatedAt: string } }>(
        cluster.gatewayUrl,
        'mutation($id: ID!, $c: String!) { editMessage(id: $id, content: $c) { content updatedAt } }',
        { id: first.id, c: content },
        { token },
      );
    const edited = ok(await edit('hello, edited')).editMessage;
    expect(ok(await edit('hello, edited')).editMessage).toEqual(edited);
    const remove = () =>
      gql<{ deleteMessage: { deletedAt: string | null } }>(
        cluster.gatewayUrl,
        'mutation($id: ID!) { deleteMessage(id: $id) { deletedAt } }',
        { id: first.id },
        { token },
      );
    const deleted = ok(await remove()).deleteMessage;
    expect(deleted.deletedAt).not.toBeNull();
    expect(ok(await remove()).deleteMessage).toEqual(deleted);
    // A post retried after the message changed answers it as it is now, still one message.
    const late = ok(await post(roomId, 'hello once', key)).postMessage as Posted;
    expect(late).toMatchObject({ id: first.id, content: '' });
  });

  it('converges to one message when the home node stored a post and the retry went to the replica', async () => {
    const roomId = await createRoom('retry-failover');
    const key = uuidv7();
    // The replica frozen: the home node's copy cannot reach it before the home node dies.
    signal('node-b', 'SIGSTOP');
    let first: Posted;
    try {
      first = ok(await post(roomId, 'posted twice?', key)).postMessage as Posted;
      expect(first.originNode.id).toBe(cluster.node('node-a').id);
      await cluster.killNode('node-a', 'SIGKILL');
    } finally {
      signal('node-b', 'SIGCONT');
    }
    await cluster.waitUntilRoutable(['node-b']);

    const retried = ok(await post(roomId, 'posted twice?', key)).postMessage as Posted;
    expect(retried.originNode.id).toBe(cluster.node('node-b').id);
    expect(retried.id).toBe(first.id);

    await cluster.startNode('node-a');
    await cluster.waitUntilRoutable(['node-a', 'node-b']);
    for (const name of ['node-a', 'node-b']) {
      await expect
        .poll(() => onNode(name, roomId), { timeout: 60_000 })
        .toEqual([{ id: first.id, content: 'posted twice?' }]);
    }
    // And the same version of it: the one whose clock won, taken by the other node.
    await expect.poll(() => versionsOf(first.id), { timeout: 60_000 }).toHaveLength(1);
  });

  it('answers OUTCOME_UNKNOWN for a post sent to a frozen node, and a retry with the key then makes one message', async () => {
    const roomId = await createRoom('retry-frozen');
    const key = uuidv7();
    signal('node-a', 'SIGSTOP');
    let retried: Posted;
    try {
      const lost = await post(roomId, 'did it land?', key);
      expect(codes(lost)).toEqual(['OUTCOME_UNKNOWN']);
      expect(lost.errors?.[0]?.message).toMatch(/retry with the same clientMessageId/);
      expect(lost.errors?.[0]?.extensions?.['node']).toBe('node-a');

      // The gateway saw node-a fail: the retry goes to the replica.
      retried = ok(await post(roomId, 'did it land?', key)).postMessage as Posted;
      expect(retried.originNode.id).toBe(cluster.node('node-b').id);
    } finally {
      // node-a wakes up with the first post still in its socket: whatever it makes of it, the
      // room ends with one message on both nodes.
      signal('node-a', 'SIGCONT');
    }
    for (const name of ['node-a', 'node-b']) {
      await expect
        .poll(() => onNode(name, roomId), { timeout: 60_000 })
        .toEqual([{ id: retried.id, content: 'did it land?' }]);
    }
    await expect.poll(() => versionsOf(retried.id), { timeout: 60_000 }).toHaveLength(1);
  });
});
