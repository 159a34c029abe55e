// Room placement changes with real processes (issue 17): updateRoom moves a room's home and swaps
// a replica while a writer keeps posting through the gateway; removeNode is refused while a node
// is a room's only holder, then decommissions it. No acknowledged post may be missing from the
// room's holders afterwards, and the gateway routes by the new placement.
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { Leftovers } from '../helpers/leftovers.ts';

describe('room placement changes', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let cluster: Cluster;
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;
  let alice: string;
  let room: string;
  /** Per room: the ids of the posts the gateway acknowledged. */
  const acknowledged = new Map<string, string[]>();
  const acked = (roomId: string) => [...(acknowledged.get(roomId) ?? [])].sort();

  const central = <T>(query: string, variables: Record<string, unknown> = {}, token?: string) =>
    gql<T>(cluster.centralUrl, query, variables, { token: token ?? cluster.adminToken });

  const rows = (node: ClusterNode, roomId: string): Array<{ id: string; content: string }> => {
    const db = new Database(databaseFile(cluster.dataDir, node.name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return db
        .prepare('SELECT id, content FROM messages WHERE room_id = ? ORDER BY id')
        .all(roomId) as Array<{ id: string; content: string }>;
    } finally {
      db.close();
    }
  };
  const ids = (node: ClusterNode, roomId: string): string[] => rows(node, roomId).map((r) => r.id);

  /**
   * The acknowledged posts of the room a holder lacks. A post whose answer was an error may have
   * been written too (e.g. a node timeout under load), so holders may have more, never fewer.
   */
  const missing = (node: ClusterNode, roomId: string): string[] => {
    const held = new Set(ids(node, roomId));
    return acked(roomId).filter((id) => !held.has(id));
  };

  const post = async (roomId: string, content: string) => {
    const response = await gql<{ postMessage: { id: string; originNode: { name: string } } }>(
      cluster.gatewayUrl,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id originNode { name } } }',
      { r: roomId, c: content },
      { token: alice },
    );
    if (response.data?.postMessage)
      acknowledged.set(roomId, [...(acknowledged.get(roomId) ?? []), response.data.postMessage.id]);
    return response;
  };

  /** Posts until stopped; every acknowledged id is recorded. */
  const writer = (roomId: string) => {
    let running = true;
    const done = (async () => {
      for (let n = 0; running; n++) await post(roomId, `w${n}`);
    })();
    return async () => {
      running = false;
      await done;
    };
  };

  const placement = async (roomId: string) =>
    ok(
      await central<{
        room: { homeNode: { name: string }; replicaNodes: Array<{ name: string }> };
      }>('query($r: ID!) { room(id: $r) { homeNode { name } replicaNodes { name } } }', {
        r: roomId,
      }),
    ).room;

  beforeAll(async () => {
    cluster = await Cluster.start(leftovers);
    [a, b, c] = ['node-a', 'node-b', 'node-c'].map((n) => cluster.node(n)) as [
      ClusterNode,
      ClusterNode,
      ClusterNode,
    ];
    ok(
      await central(
        'mutation { createUser(username: "alice", password: "pw-alice-secret") { id } }',
      ),
    );
    alice = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation { login(username: "alice", password: "pw-alice-secret") { token } }',
      ),
    ).login.token;
    room = ok(
      await central<{ createRoom: { id: string } }>(
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "moving", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id] },
        alice,
      ),
    ).createRoom.id;
  });

  it('refuses non-admins and unknown nodes, changing nothing', async () => {
    const byAlice = await central(
      'mutation($r: ID!, $h: ID) { updateRoom(roomId: $r, homeNodeId: $h) { id } }',
      { r: room, h: c.id },
      alice,
    );
    expect(codes(byAlice)).toEqual(['FORBIDDEN']);
    const absent = '01900000-0000-7000-8000-000000000000';
    const unknown = await central(
      'mutation($r: ID!, $n: ID!) { updateRoom(roomId: $r, replicaNodeIds: [$n]) { id } }',
      { r: room, n: absent },
    );
    expect(codes(unknown)).toEqual(['NOT_FOUND']);
    const malformed = await central(
      'mutation($r: ID!) { updateRoom(roomId: $r, homeNodeId: "nope") { id } }',
      { r: room },
    );
    expect(codes(malformed)).toEqual(['BAD_USER_INPUT']);
    expect(
      codes(await central('mutation($n: ID!) { removeNode(nodeId: $n) { id } }', { n: absent })),
    ).toEqual(['NOT_FOUND']);
    expect(await placement(room)).toEqual({
      homeNode: { name: 'node-a' },
      replicaNodes: [{ name: 'node-b' }],
    });
  });

  it('moves the home a -> c while posts continue; c is filled, a leaves, no acknowledged post is lost', async () => {
    for (let n = 0; n < 20; n++) ok(await post(room, `before ${n}`));
    const stop = writer(room);
    const moved = ok(
      await central<{ updateRoom: { homeNode: { name: string } } }>(
        'mutation($r: ID!, $h: ID, $rs: [ID!]) { updateRoom(roomId: $r, homeNodeId: $h, replicaNodeIds: $rs) { homeNode { name } } }',
        { r: room, h: c.id, rs: [b.id] },
      ),
    ).updateRoom;
    await stop();
    expect(moved.homeNode.name).toBe('node-c');
    expect(await placement(room)).toEqual({
      homeNode: { name: 'node-c' },
      replicaNodes: [{ name: 'node-b' }],
    });
    // The gateway follows the roomChanged event: new posts land on the new home.
    await expect
      .poll(async () => ok(await post(room, 'after')).postMessage.originNode.name, {
        timeout: 30_000,
      })
      .toBe('node-c');
    for (const holder of [b, c])
      await expect.poll(() => missing(holder, room), { timeout: 60_000 }).toEqual([]);
  });

  it('loses no acknowledged write while a replica is removed and the home moved under steady writes, also those a stale gateway sends the leaving replica', async () => {
    const steady = ok(
      await central<{ createRoom: { id: string } }>(
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "steady", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id] },
        alice,
      ),
    ).createRoom.id;
    const toNodes: TestGateway = await registerTestGateway(cluster.centralUrl, cluster.secret);
    /** Acknowledged contents, each posted once: by the gateway, or straight to node-b. */
    const done: string[] = [];
    const refusedByB: string[] = [];
    let changed = false;
    let afterChange = 0;
    const gatewayWriter = async (w: number) => {
      for (let n = 0; !changed || afterChange < 30; n++) {
        const content = `gw${w}-${n}`;
        if (changed) afterChange += 1;
        const response = await post(steady, content);
        if (response.data?.postMessage) done.push(content);
      }
    };
    // A gateway that has not seen the change keeps sending node-b the room's writes.
    const staleWriter = async () => {
      let late = 0;
      for (let n = 0; !changed || late < 10; n++) {
        const content = `stale-${n}`;
        if (changed) late += 1;
        const response = await toNodes.gql<{ postMessage: { id: string } }>(
          { url: b.url, nodeId: b.id },
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: steady, c: content },
          { token: alice },
        );
        if (response.data?.postMessage) done.push(content);
        else if (codes(response).includes('ROOM_MOVED')) refusedByB.push(content);
      }
    };
    const writers = Promise.all([0, 1, 2].map(gatewayWriter).concat(staleWriter()));
    // Some writes before the change, so that it happens under load.
    await expect.poll(() => done.length, { timeout: 30_000 }).toBeGreaterThan(20);
    const moved = await central<{ updateRoom: { homeNode: { name: string } } }>(
      'mutation($r: ID!, $h: ID, $rs: [ID!]) { updateRoom(roomId: $r, homeNodeId: $h, replicaNodeIds: $rs) { homeNode { name } } }',
      { r: steady, h: c.id, rs: [a.id] },
    );
    changed = true;
    await writers;
    expect(ok(moved).updateRoom.homeNode.name).toBe('node-c');
    expect(await placement(steady)).toEqual({
      homeNode: { name: 'node-c' },
      replicaNodes: [{ name: 'node-a' }],
    });
    // node-b refused what it got once it stopped taking the room's writes.
    expect(refusedByB.length).toBeGreaterThanOrEqual(10);
    const exactlyOnce = (holder: ClusterNode) => {
      const counts = new Map<string, number>();
      for (const row of rows(holder, steady))
        counts.set(row.content, (counts.get(row.content) ?? 0) + 1);
      return done.filter((content) => counts.get(content) !== 1);
    };
    for (const holder of [c, a])
      await expect.poll(() => exactlyOnce(holder), { timeout: 60_000 }).toEqual([]);

    // Put back as a replica, node-b takes the room's writes again.
    ok(
      await central(
        'mutation($r: ID!, $rs: [ID!]) { updateRoom(roomId: $r, replicaNodeIds: $rs) { id } }',
        { r: steady, rs: [a.id, b.id] },
      ),
    );
    const direct = () =>
      toNodes.gql<{ postMessage: { id: string } }>(
        { url: b.url, nodeId: b.id },
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: steady, c: 'b is back' },
        { token: alice },
      );
    expect(ok(await direct()).postMessage.id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses the very next post of a member removed from a room (no cached "member" answer outlives the removal)', async () => {
    ok(await central('mutation { createUser(username: "bob", password: "pw-bob-secret") { id } }'));
    const bob = ok(
      await gql<{ login: { token: string; user: { id: string } } }>(
        cluster.centralUrl,
        'mutation { login(username: "bob", password: "pw-bob-secret") { token user { id } } }',
      ),
    ).login;
    const club = ok(
      await central<{ createRoom: { id: string } }>(
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "club", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id] },
        alice,
      ),
    ).createRoom.id;
    ok(await central('mutation($r: ID!) { joinRoom(roomId: $r) { id } }', { r: club }, bob.token));
    const bobPosts = (content: string) =>
      gql<{ postMessage: { id: string } }>(
        cluster.gatewayUrl,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: club, c: content },
        { token: bob.token },
      );
    // The home node now holds a fresh "member" answer for bob (kept --membership-cache-ms, 5 s).
    ok(await bobPosts('hello'));
    ok(
      await central(
        'mutation($r: ID!, $u: ID!) { removeFromRoom(roomId: $r, userId: $u) { id } }',
        { r: club, u: bob.user.id },
        alice,
      ),
    );
    expect(codes(await bobPosts('still here?'))).toEqual(['FORBIDDEN']);
  });

  it('refuses removeNode while the node is the only holder of a room, then decommissions it', async () => {
    const lonely = ok(
      await central<{ createRoom: { id: string } }>(
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "lonely", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: c.id, r: [] },
        alice,
      ),
    ).createRoom.id;
    for (let n = 0; n < 5; n++) ok(await post(lonely, `lonely ${n}`));
    const refused = await central('mutation($n: ID!) { removeNode(nodeId: $n) { id } }', {
      n: c.id,
    });
    expect(codes(refused)).toEqual(['ONLY_HOLDER']);
    expect((await placement(lonely)).homeNode.name).toBe('node-c');

    // Add a replica (filled by a FULL sync at once), then node-c may go.
    ok(
      await central(
        'mutation($r: ID!, $rs: [ID!]) { updateRoom(roomId: $r, replicaNodeIds: $rs) { id } }',
        {
          r: lonely,
          rs: [b.id],
        },
      ),
    );
    const stop = writer(room);
    const removed = ok(
      await central<{ removeNode: { name: string; status: string } }>(
        'mutation($n: ID!) { removeNode(nodeId: $n) { name status } }',
        { n: c.id },
      ),
    ).removeNode;
    await stop();
    expect(removed).toEqual({ name: 'node-c', status: 'OFFLINE' });
    expect(await placement(room)).toEqual({ homeNode: { name: 'node-b' }, replicaNodes: [] });
    expect(await placement(lonely)).toEqual({ homeNode: { name: 'node-b' }, replicaNodes: [] });
    const listed = ok(await central<{ nodes: Array<{ name: string }> }>('{ nodes { name } }'));
    expect(listed.nodes.map((n) => n.name)).toEqual(['node-a', 'node-b']);
    await cluster.waitForReady((report) => !report.nodes.some((n) => n.name === 'node-c'));
    await expect
      .poll(async () => ok(await post(room, 'after removal')).postMessage.originNode.name, {
        timeout: 30_000,
      })
      .toBe('node-b');
    await expect.poll(() => missing(b, room), { timeout: 60_000 }).toEqual([]);
    await expect.poll(() => missing(b, lonely), { timeout: 60_000 }).toEqual([]);
    expect(
      codes(await central('mutation($n: ID!) { removeNode(nodeId: $n) { id } }', { n: c.id })),
    ).toEqual(['NOT_FOUND']);
  });
  it('replaces a node by a fresh one (restore from nothing): filled by FULL sync, the old one removed under writes', async () => {
    const kept = ok(
      await central<{ createRoom: { id: string } }>(
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "kept", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id] },
        alice,
      ),
    ).createRoom.id;
    for (let n = 0; n < 30; n++) ok(await post(kept, `kept ${n}`));
    const d = await cluster.addNode('node-d');
    await cluster.waitUntilRoutable(['node-d']);
    expect(ids(d, kept)).toEqual([]);
    ok(
      await central(
        'mutation($r: ID!, $rs: [ID!]) { updateRoom(roomId: $r, replicaNodeIds: $rs) { id } }',
        { r: kept, rs: [b.id, d.id] },
      ),
    );
    await expect.poll(() => missing(d, kept), { timeout: 60_000 }).toEqual([]);
    const stop = writer(kept);
    ok(await central('mutation($n: ID!) { removeNode(nodeId: $n) { id } }', { n: a.id }));
    await stop();
    const after = await placement(kept);
    expect([after.homeNode.name, ...after.replicaNodes.map((n) => n.name)].sort()).toEqual([
      'node-b',
      'node-d',
    ]);
    await cluster.waitForReady((report) => !report.nodes.some((n) => n.name === 'node-a'));
    for (const holder of [b, d])
      await expect.poll(() => missing(holder, kept), { timeout: 60_000 }).toEqual([]);
  });
});
