// The fault run's finding (issue 15), with real processes: a room's replica is frozen (SIGSTOP)
// until central calls it OFFLINE, the home node takes 3 posts, the replica is let go (SIGCONT).
// Its job stream never dropped, so only its heartbeat says it is back; it must then hold all 3
// without any further post or trigger, and without the schedule (set to an hour here).
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

describe('a replica frozen until OFFLINE', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let cluster: Cluster;
  let home: ClusterNode, replica: ClusterNode, witness: ClusterNode;
  let alice: string;
  /** Posts on the home node directly, as a gateway would (nodes take nothing else). */
  let toNodes: TestGateway;
  let room: string;
  /** Also homed on the home node, replicated on the witness only. */
  let marker: string;

  const central = <T>(query: string, variables: Record<string, unknown> = {}) =>
    gql<T>(cluster.centralUrl, query, variables, { token: cluster.adminToken });

  const statusOf = async (node: ClusterNode) =>
    ok(
      await central<{ node: { status: string } }>('query($n: ID!) { node(id: $n) { status } }', {
        n: node.id,
      }),
    ).node.status;

  const contents = (node: ClusterNode, roomId = room): string[] => {
    const db = new Database(databaseFile(cluster.dataDir, node.name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      const rows = db
        .prepare('SELECT content FROM messages WHERE room_id = ? ORDER BY content')
        .all(roomId) as Array<{ content: string }>;
      return rows.map((r) => r.content);
    } finally {
      db.close();
    }
  };

  const post = async (content: string, roomId = room) =>
    ok(
      await toNodes.gql<{ postMessage: { id: string } }>(
        { url: home.url, nodeId: home.id },
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: roomId, c: content },
        { token: alice },
      ),
    );

  const active = async () => {
    let count = 0;
    for (const status of ['PENDING', 'IN_PROGRESS'])
      count += ok(
        await central<{ syncSessions: unknown[] }>(
          'query($s: SyncStatus) { syncSessions(last: 500, status: $s) { id } }',
          { s: status },
        ),
      ).syncSessions.length;
    return count;
  };

  beforeAll(async () => {
    // Posts go to the home node directly: no gateway process.
    cluster = await Cluster.start(leftovers, { gateway: false });
    toNodes = await registerTestGateway(cluster.centralUrl);
    home = cluster.node('node-a');
    replica = cluster.node('node-b');
    witness = cluster.node('node-c');
    for (const node of [home, replica, witness])
      ok(
        await central('mutation($n: ID!) { updateNode(id: $n, autoSyncInterval: 3600) { id } }', {
          n: node.id,
        }),
      );
    const password = 'pw-alice-secret';
    ok(
      await central(
        'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
        {
          u: 'alice',
          p: password,
        },
      ),
    );
    alice = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
        { u: 'alice', p: password },
      ),
    ).login.token;
    room = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "frozen", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: home.id, r: [replica.id] },
        { token: alice },
      ),
    ).createRoom.id;
    marker = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "marker", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: home.id, r: [witness.id] },
        { token: alice },
      ),
    ).createRoom.id;
  });

  it('holds the 3 posts made while it was away soon after it is let go, with no further post', async () => {
    // Replication works, and nothing is queued that would carry the later posts by itself.
    await post('0 before');
    await expect.poll(() => contents(replica), { timeout: 30_000 }).toEqual(['0 before']);
    await expect.poll(active, { timeout: 30_000 }).toBe(0);

    replica.proc.child.kill('SIGSTOP');
    try {
      await expect.poll(() => statusOf(replica), { timeout: 30_000 }).toBe('OFFLINE');
      for (const n of [1, 2, 3]) await post(`${n} while away`);
      // The home node tells central of its writes in order, a few ms later: once the witness has
      // the marker, central has heard of the 3 posts too, and skipped the OFFLINE replica.
      await post('marker', marker);
      await expect.poll(() => contents(witness, marker), { timeout: 30_000 }).toEqual(['marker']);
      expect(await statusOf(replica)).toBe('OFFLINE');
    } finally {
      replica.proc.child.kill('SIGCONT');
    }
    await expect.poll(() => statusOf(replica), { timeout: 30_000 }).toBe('ONLINE');
    // Far below the hour of autoSyncInterval: only the comeback can have brought them.
    await expect
      .poll(() => contents(replica), { timeout: 30_000 })
      .toEqual(['0 before', '1 while away', '2 while away', '3 while away']);
  });
});
