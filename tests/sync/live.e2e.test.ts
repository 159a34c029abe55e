// Live replication end to end (issue 15): central and three chat nodes as real processes, written
// to directly as a gateway would (no gateway process: nothing here goes through one). A change moves node to node over the live streams, with no central round trip, and
// central records it afterwards in windows (SyncSessions with trigger CHANGE) from the targets'
// outboxes: exactly once, even when the source dies mid-stream, central is down meanwhile, or a
// report is sent twice. Every wait polls real state; nothing sleeps a fixed time.
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_LIVE_REPORT_PATH, type LiveReport } from '../../lib/syncProtocol.ts';
import { MEMBERSHIP_CLOCK_MARGIN_MS } from '../../subgraphs/central/membership.ts';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { HostileNode } from '../helpers/hostileNode.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';
import { postAsNode } from './nodeSide.ts';

interface Session {
  id: string;
  status: string;
  syncType: string;
  trigger: string;
  messagesSynced: number;
  sourceNode: { id: string };
  targetNode: { id: string };
}
interface LogPage {
  syncSession: {
    log: {
      edges: Array<{ node: { messageId: string; action: string } }>;
      pageInfo: { hasNextPage: boolean; endCursor: string | null };
    };
  };
}
const SESSION = 'id status syncType trigger messagesSynced sourceNode { id } targetNode { id }';

describe('live replication across real processes', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let cluster: Cluster;
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;
  let toNodes: TestGateway;
  let alice: { id: string; token: string };
  let room: string;

  const central = async <T>(query: string, variables: Record<string, unknown> = {}) =>
    ok(await gql<T>(cluster.centralUrl, query, variables, { token: cluster.adminToken }));

  const rows = (node: ClusterNode): Map<string, string> => {
    const db = new Database(databaseFile(cluster.dataDir, node.name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      const list = db
        .prepare('SELECT id, content FROM messages WHERE room_id = ?')
        .all(room) as Array<{ id: string; content: string }>;
      return new Map(list.map((r) => [r.id, r.content]));
    } finally {
      db.close();
    }
  };

  const readNode = <T>(node: ClusterNode, read: (db: Database.Database) => T): T => {
    const db = new Database(databaseFile(cluster.dataDir, node.name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return read(db);
    } finally {
      db.close();
    }
  };
  const rowsOf = (node: ClusterNode, roomId: string): Set<string> =>
    readNode(
      node,
      (db) =>
        new Set(
          (
            db.prepare('SELECT id FROM messages WHERE room_id = ?').all(roomId) as Array<{
              id: string;
            }>
          ).map((r) => r.id),
        ),
    );
  const quarantineOf = (node: ClusterNode, messageId: string): string[] =>
    readNode(node, (db) =>
      (
        db
          .prepare(
            'SELECT reason FROM sync_quarantine WHERE message_id = ? AND deferred_until IS NULL',
          )
          .all(messageId) as Array<{ reason: string }>
      ).map((r) => r.reason),
    );
  /** B's gauge of how far the memberships it holds are certain (NaN before any is held). */
  const heldUntil = async (node: ClusterNode): Promise<number> => {
    const text = await (await fetch(`${node.url}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith('switchboard_node_sync_memberships_certain_until_ms '));
    return Number(line?.split(' ')[1] ?? Number.NaN);
  };

  const nodeGql = async <T>(node: ClusterNode, query: string, vars: Record<string, unknown>) =>
    ok(
      await toNodes.gql<T>({ url: node.url, nodeId: node.id }, query, vars, { token: alice.token }),
    );
  const post = async (node: ClusterNode, content: string) =>
    (
      await nodeGql<{ postMessage: { id: string } }>(
        node,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: room, c: content },
      )
    ).postMessage.id;

  /**
   * Every (message id, action) central logged for the target, over all its sessions: a change
   * reaches a node from whichever peer served it first (A's post may come to B through C).
   */
  const targetLog = async (target: ClusterNode) => {
    const { syncSessions } = await central<{ syncSessions: Session[] }>(
      `query($n: ID) { syncSessions(last: 500, nodeId: $n) { ${SESSION} } }`,
      { n: target.id },
    );
    const sessions = syncSessions.filter((s) => s.targetNode.id === target.id);
    const entries: Array<{ session: Session; messageId: string; action: string }> = [];
    for (const session of sessions) {
      let after: string | null = null;
      for (;;) {
        const page: LogPage = await central<LogPage>(
          'query($id: ID!, $a: String) { syncSession(id: $id) { log(first: 1000, after: $a) { edges { node { messageId action } } pageInfo { hasNextPage endCursor } } } }',
          { id: session.id, a: after },
        );
        const { syncSession } = page;
        for (const edge of syncSession.log.edges) entries.push({ session, ...edge.node });
        if (!syncSession.log.pageInfo.hasNextPage) break;
        after = syncSession.log.pageInfo.endCursor;
      }
    }
    return entries;
  };

  /** How many times each of `ids` was logged with `action` for the target. */
  const logCounts = async (target: ClusterNode, ids: readonly string[], action: string) => {
    const wanted = new Set(ids);
    const counts = new Map<string, number>();
    for (const entry of await targetLog(target)) {
      if (entry.action !== action || !wanted.has(entry.messageId)) continue;
      counts.set(entry.messageId, (counts.get(entry.messageId) ?? 0) + 1);
    }
    return counts;
  };

  beforeAll(async () => {
    // Membership answers last a minute: with central down, A still takes its users' writes.
    cluster = await Cluster.start(leftovers, {
      gateway: false,
      nodeEnv: {
        SWITCHBOARD_MEMBERSHIP_CACHE_MS: '60000',
        // The rooms' memberships are refetched often, so a join is held on B within a second.
        SWITCHBOARD_SYNC_MEMBERSHIP_REFRESH_MS: '300',
      },
    });
    toNodes = await registerTestGateway(cluster.centralUrl);
    [a, b, c] = ['node-a', 'node-b', 'node-c'].map((n) => cluster.node(n)) as [
      ClusterNode,
      ClusterNode,
      ClusterNode,
    ];
    const created = await central<{ createUser: { id: string } }>(
      'mutation { createUser(username: "alice", password: "pw-alice-secret") { id } }',
    );
    const login = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation { login(username: "alice", password: "pw-alice-secret") { token } }',
      ),
    ).login;
    alice = { id: created.createUser.id, token: login.token };
    room = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($h: ID) { createRoom(name: "live", homeNodeId: $h) { id } }',
        { h: a.id },
        { token: alice.token },
      ),
    ).createRoom.id;
  }, 120_000);

  it('a post on A reaches B and C over the live streams; central records each in a COMPLETED CHANGE window with its log row and index', async () => {
    const id = await post(a, 'hello, live');
    await until(
      () => [rows(b).has(id), rows(c).has(id)],
      (held) => held.every(Boolean),
      'B and C to hold the post',
    );
    for (const target of [b, c]) {
      const logged = await until(
        () => targetLog(target),
        (entries) => entries.some((e) => e.messageId === id && e.session.status === 'COMPLETED'),
        `a window to ${target.name} to be COMPLETED with the post`,
      );
      const mine = logged.filter((e) => e.messageId === id);
      expect(mine).toHaveLength(1);
      expect(mine[0]?.action).toBe('CREATE');
      expect(mine[0]?.session).toMatchObject({
        trigger: 'CHANGE',
        syncType: 'INCREMENTAL',
        status: 'COMPLETED',
      });
      expect(mine[0]?.session.messagesSynced).toBeGreaterThanOrEqual(1);
    }
    const index = await until(
      () =>
        central<{
          messageIndex: {
            edges: Array<{ node: { id: string; storageNodes: Array<{ id: string }> } }>;
          };
        }>(
          'query($r: ID!) { messageIndex(roomId: $r, first: 500) { edges { node { id storageNodes { id } } } } }',
          { r: room },
        ),
      (answer) =>
        answer.messageIndex.edges.find((e) => e.node.id === id)?.node.storageNodes.length === 3,
      'the index to name the three nodes',
    );
    const entry = index.messageIndex.edges.find((e) => e.node.id === id);
    expect(entry?.node.storageNodes.map((n) => n.id).sort()).toEqual([a.id, b.id, c.id].sort());
  }, 120_000);

  it('kill -9 of the source mid-stream: the targets resume from their cursors, nothing missing, nothing logged twice', async () => {
    const posted: string[] = [];
    for (let i = 0; i < 40; i++) posted.push(await post(a, `before ${i}`));
    // Some of these are on their way when A dies.
    await cluster.killNode('node-a', 'SIGKILL');
    a = await cluster.startNode('node-a');
    await cluster.waitUntilOnline(['node-a']);
    for (let i = 0; i < 40; i++) posted.push(await post(a, `after ${i}`));
    await until(
      () => [rows(b), rows(c)],
      (held) => held.every((r) => posted.every((id) => r.has(id))),
      'B and C to hold every post',
    );
    expect([...rows(b).keys()].sort()).toEqual([...rows(a).keys()].sort());
    expect([...rows(c).keys()].sort()).toEqual([...rows(a).keys()].sort());
    for (const target of [b, c]) {
      const counts = await until(
        () => logCounts(target, posted, 'CREATE'),
        (found) => found.size === posted.length,
        `central to log every post for ${target.name}`,
      );
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    }
  }, 180_000);

  it('central down: edits still flow node to node, and the records reach central once it is back, each exactly once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) ids.push(await post(a, `to edit ${i}`));
    await until(
      () => [rows(b), rows(c)],
      (held) => held.every((r) => ids.every((id) => r.has(id))),
      'B and C to hold the posts',
    );
    await cluster.central.kill('SIGKILL');
    for (const [i, id] of ids.entries()) {
      await nodeGql(
        a,
        'mutation($i: ID!, $c: String!) { editMessage(id: $i, content: $c) { id } }',
        {
          i: id,
          c: `edited ${i}`,
        },
      );
    }
    // Edits of messages the targets hold need no word from central: they arrive while it is down.
    await until(
      () => [rows(b), rows(c)],
      (held) => held.every((r) => ids.every((id, i) => r.get(id) === `edited ${i}`)),
      'B and C to hold the edits while central is down',
    );
    await cluster.startCentral();
    cluster.adminToken = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: 'admin-password-for-tests' },
      ),
    ).login.token;
    for (const target of [b, c]) {
      const counts = await until(
        () => logCounts(target, ids, 'UPDATE'),
        (found) => found.size === ids.length,
        `central to log the edits for ${target.name}`,
      );
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    }
  }, 180_000);

  it('a live report sent twice is recorded once; a gap, another target or a bad body is refused and changes nothing', async () => {
    const id = await post(a, 'reported by hand');
    const windowId = uuidv7();
    const report: LiveReport = {
      windowId,
      sourceNodeId: a.id,
      sequence: 1,
      final: false,
      cursorBefore: 0,
      cursor: 1,
      sourceHeadSeq: 1,
      applied: [
        {
          messageId: id,
          roomId: room,
          senderId: alice.id,
          contentHash: 'a'.repeat(64),
          originNode: a.id,
          createdAt: 1_700_000_000_000,
          updatedAt: 1_700_000_000_000,
          deleted: false,
          action: 'UPDATE',
        },
      ],
    };
    const first = await postAsNode(cluster.centralUrl, b.apiKey, SYNC_LIVE_REPORT_PATH, report);
    expect(first).toEqual({ status: 200, body: { recorded: true } });
    const again = await postAsNode(cluster.centralUrl, b.apiKey, SYNC_LIVE_REPORT_PATH, report);
    expect(again).toEqual({ status: 200, body: { recorded: false } });

    const gap = await postAsNode(cluster.centralUrl, b.apiKey, SYNC_LIVE_REPORT_PATH, {
      ...report,
      sequence: 3,
    });
    expect(gap.status).toBe(409);
    expect(gap.body.errors[0].extensions.code).toBe('CONFLICT');
    const other = await postAsNode(cluster.centralUrl, c.apiKey, SYNC_LIVE_REPORT_PATH, {
      ...report,
      sequence: 2,
    });
    expect(other.status).toBe(403);
    expect(other.body.errors[0].extensions.code).toBe('FORBIDDEN');
    const bad = await postAsNode(cluster.centralUrl, b.apiKey, SYNC_LIVE_REPORT_PATH, {
      ...report,
      sequence: 0,
    });
    expect(bad.status).toBe(400);
    expect(bad.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');

    const { syncSession } = await central<{
      syncSession: Session & { log: { totalCount: number } };
    }>(`query($id: ID!) { syncSession(id: $id) { ${SESSION} log { totalCount } } }`, {
      id: windowId,
    });
    expect(syncSession).toMatchObject({
      trigger: 'CHANGE',
      status: 'IN_PROGRESS',
      messagesSynced: 1,
      log: { totalCount: 1 },
    });
  }, 60_000);
  // Last: it registers a hostile node, which stores every room without a replica list from then on.
  it("central down: a member's first post on A is applied on B by the memberships B holds; a non-member's forged version waits and is refused once central is back", async () => {
    const registered = await central<{ registerNode: { apiKey: string } }>(
      'mutation { registerNode(name: "rogue", url: "http://127.0.0.1:1") { apiKey } }',
    );
    const hostile = await HostileNode.start(leftovers, {
      centralUrl: cluster.centralUrl,
      apiKey: registered.registerNode.apiKey,
    });
    const user = async (name: string) => {
      const made = await central<{ createUser: { id: string } }>(
        'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
        { u: name, p: `pw-${name}-secret` },
      );
      const { login } = ok(
        await gql<{ login: { token: string } }>(
          cluster.centralUrl,
          'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
          { u: name, p: `pw-${name}-secret` },
        ),
      );
      return { id: made.createUser.id, token: login.token };
    };
    const bob = await user('bob');
    const mallory = await user('mallory');
    const room2 = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($h: ID!, $r: [ID!]) { createRoom(name: "held", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id, hostile.nodeId] },
        { token: alice.token },
      ),
    ).createRoom.id;
    ok(
      await gql(
        cluster.centralUrl,
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: room2 },
        { token: bob.token },
      ),
    );
    const joinedAt = Date.now();
    const postAs = async (who: { token: string }, content: string) =>
      ok(
        await toNodes.gql<{ postMessage: { id: string } }>(
          { url: a.url, nodeId: a.id },
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: room2, c: content },
          { token: who.token },
        ),
      ).postMessage.id;
    // Alice's post is B's first word from central on the room; bob only reads on A (so A knows
    // him as a member while central is down): B never asked central about bob.
    const first = await postAs(alice, 'before central goes');
    await until(
      () => rowsOf(b, room2),
      (held) => held.has(first),
      'B to hold the first post',
    );
    ok(
      await toNodes.gql(
        { url: a.url, nodeId: a.id },
        'query($i: ID!) { message(id: $i) { id } }',
        { i: first },
        { token: bob.token },
      ),
    );
    // B holds the room's memberships as of after bob's join, and streams from the hostile node.
    await until(
      () => heldUntil(b),
      (until) => until - MEMBERSHIP_CLOCK_MARGIN_MS > joinedAt,
      "B to hold the room's memberships with bob in them",
    );
    await until(
      () => hostile.requests.some((r) => r.url.includes(room2)),
      Boolean,
      'B to stream from the hostile node',
    );
    await cluster.central.kill('SIGKILL');

    const now = Date.now();
    const content = 'mallory was never a member';
    const [forged] = hostile.publish([
      {
        op: 'create',
        id: uuidv7(),
        roomId: room2,
        senderId: mallory.id,
        content,
        contentHash: createHash('sha256').update(content, 'utf8').digest('hex'),
        createdAt: now,
        updatedAt: now,
        deletedAt: null,
        hlc: hostile.nextHlc(),
        originNode: hostile.nodeId,
      },
    ]);
    const bobs = await postAs(bob, 'posted while central is down');
    await until(
      () => rowsOf(b, room2),
      (held) => held.has(bobs),
      "B to hold bob's post",
    );
    await until(
      () => hostile.served.some((batch) => batch.seqs.includes(forged?.seq ?? -1)),
      Boolean,
      'the hostile node to serve the forged version',
    );
    expect(rowsOf(b, room2).has(forged?.id ?? '')).toBe(false);

    await cluster.startCentral();
    const quarantined = await until(
      () => quarantineOf(b, forged?.id ?? ''),
      (reasons) => reasons.length > 0,
      'B to refuse the forged version once central answers',
    );
    expect(quarantined[0]).toMatch(/member/);
    expect(rowsOf(b, room2).has(forged?.id ?? '')).toBe(false);
    cluster.adminToken = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: 'admin-password-for-tests' },
      ),
    ).login.token;
  }, 180_000);
});
