// Sync end to end (issue 6 acceptance): central, three chat nodes and the gateway as real
// processes. Nodes' rows are read from their SQLite files, digests from their sync feed, sessions
// and the index from central. Nothing waits on a fixed delay: every wait polls real state or
// waits for an event.
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import Database from 'better-sqlite3';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { PULL_TOKEN_HEADER, PULL_TOKEN_TYPE, roomSetDigest } from '../../lib/pullToken.ts';
import {
  SYNC_CHANGES_PATH,
  SYNC_DIGESTS_PATH,
  type ChangeBatch,
  type RoomDigests,
  type WireVersion,
} from '../../lib/syncProtocol.ts';
import { greatestHlc } from '../../subgraphs/node/changeLog.ts';
import { openNodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../../subgraphs/node/messageStore.ts';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { askPullToken, feedDigests, pullToken } from '../helpers/pullTokens.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';
import { until } from '../helpers/until.ts';
import { heartbeat } from './nodeSide.ts';

interface Row {
  id: string;
  room_id: string;
  sender_id: string;
  content: string;
  content_hash: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  hlc: string;
  origin_node: string;
}

interface Session {
  id: string;
  status: string;
  syncType: string;
  trigger: string;
  messagesSynced: number;
  error: string | null;
  cursorBefore: number | null;
  sourceNode: { id: string };
  targetNode: { id: string };
}
const SESSION =
  'id status syncType trigger messagesSynced error cursorBefore sourceNode { id } targetNode { id }';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** Deterministic pseudo-random numbers (mulberry32): the same run every time. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * The bulk rooms' size, and the batch sizes everything moves in: the product's defaults (1000 per
 * batch, 5000 in FULL sessions and at most from a source's feed) and central's log pages, all
 * divided by ten with the bulk. 1,000 messages in batches of 100 are the same ten batches, the
 * same live windows and kill -9 mid-stream, the same pages of a session's log as 10,000 in batches
 * of 1000, for a tenth of the writes, pulls, reports and index rows: 20,000 bulk messages were
 * most of this file's CPU (#18).
 */
const BULK = 1000;
const BATCH = 100;

describe('sync across real processes', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let cluster: Cluster;
  let a: ClusterNode, b: ClusterNode, c: ClusterNode;
  /** Writes and subscribes on nodes directly, as a gateway would: nodes take nothing else. */
  let toNodes: TestGateway;
  const users: Record<string, { id: string; token: string }> = {};
  /** roomId -> the names of the nodes that store it. */
  const holders = new Map<string, string[]>();
  let r1: string, r2: string, r3: string; // r1, r2 everywhere; r3 on C and A
  let r4: string, r5: string; // bulk rooms: r4 on A and B, r5 on A and C

  const central = <T>(query: string, variables: Record<string, unknown> = {}) =>
    gql<T>(cluster.centralUrl, query, variables, { token: cluster.adminToken });

  const sqliteRows = (node: ClusterNode, roomIds: readonly string[]): Row[] => {
    const db = new Database(databaseFile(cluster.dataDir, node.name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return db
        .prepare(
          `SELECT id, room_id, sender_id, content, content_hash, created_at, updated_at, deleted_at, hlc, origin_node
           FROM messages WHERE room_id IN (${roomIds.map(() => '?').join(',')}) ORDER BY id`,
        )
        .all(...roomIds) as Row[];
    } finally {
      db.close();
    }
  };

  /**
   * A node's room digests from its feed, asked as `asker` with a pull token from central: both
   * must store the rooms.
   */
  const digests = (node: ClusterNode, roomIds: readonly string[], asker: ClusterNode) =>
    feedDigests(cluster.centralUrl, node, asker, roomIds);

  const nodeGql = <T>(node: ClusterNode, user: string, query: string, vars: object) =>
    toNodes.gql<T>({ url: node.url, nodeId: node.id }, query, vars as Record<string, unknown>, {
      token: users[user]?.token ?? '',
    });
  const post = async (node: ClusterNode, user: string, roomId: string, content: string) =>
    ok(
      await nodeGql<{ postMessage: { id: string } }>(
        node,
        user,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: roomId, c: content },
      ),
    ).postMessage.id;

  const active = async () => [
    ...ok(
      await central<{ syncSessions: Session[] }>(
        `{ syncSessions(last: 500, status: PENDING) { ${SESSION} } }`,
      ),
    ).syncSessions,
    ...ok(
      await central<{ syncSessions: Session[] }>(
        `{ syncSessions(last: 500, status: IN_PROGRESS) { ${SESSION} } }`,
      ),
    ).syncSessions,
  ];

  const session = async (id: string) =>
    ok(
      await central<{ syncSession: Session }>(
        `query($id: ID!) { syncSession(id: $id) { ${SESSION} } }`,
        { id },
      ),
    ).syncSession;

  /** Every message id a session logged (all pages). */
  const logged = async (id: string): Promise<string[]> => {
    const ids: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        edges: Array<{ node: { messageId: string } }>;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      } = ok(
        await central<{ syncSession: { log: any } }>(
          'query($id: ID!, $a: String, $f: Int) { syncSession(id: $id) { log(first: $f, after: $a) { edges { node { messageId } } pageInfo { hasNextPage endCursor } } } }',
          { id, a: after, f: BATCH },
        ),
      ).syncSession.log;
      ids.push(...page.edges.map((e) => e.node.messageId));
      if (!page.pageInfo.hasNextPage) return ids;
      after = page.pageInfo.endCursor;
    }
  };

  /** Waits until every holder of every room has the same rows and digests; returns the rows. */
  const converged = async (roomIds: readonly string[]) =>
    until(
      async () => {
        const perRoom = new Map<string, Row[][]>();
        for (const roomId of roomIds) {
          const nodes = (holders.get(roomId) ?? []).map((name) => cluster.node(name));
          const rows = nodes.map((n) => sqliteRows(n, [roomId]));
          const ds = await Promise.all(
            nodes.map((n) => digests(n, [roomId], nodes.find((peer) => peer !== n) ?? n)),
          );
          const same =
            rows.every((r) => JSON.stringify(r) === JSON.stringify(rows[0])) &&
            ds.every((d) => JSON.stringify(d[roomId]) === JSON.stringify(ds[0]?.[roomId]));
          if (!same) return undefined;
          perRoom.set(roomId, rows);
        }
        return perRoom;
      },
      (value) => value !== undefined,
      `rooms ${roomIds.join(', ')} to converge`,
    ) as Promise<Map<string, Row[][]>>;

  beforeAll(async () => {
    cluster = await Cluster.start(leftovers, {
      centralEnv: {
        SWITCHBOARD_SYNC_BATCH_SIZE: String(BATCH),
        SWITCHBOARD_SYNC_FULL_BATCH_SIZE: String(5 * BATCH),
      },
      nodeEnv: {
        SWITCHBOARD_SYNC_BATCH_SIZE: String(BATCH),
        SWITCHBOARD_SYNC_MAX_BATCH_SIZE: String(5 * BATCH),
      },
    });
    toNodes = await registerTestGateway(cluster.centralUrl);
    [a, b, c] = ['node-a', 'node-b', 'node-c'].map((n) => cluster.node(n)) as [
      ClusterNode,
      ClusterNode,
      ClusterNode,
    ];
    for (const name of ['alice', 'bob']) {
      const password = `pw-${name}-secret`;
      const created = ok(
        await central<{ createUser: { id: string } }>(
          'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
          { u: name, p: password },
        ),
      ).createUser;
      const token = ok(
        await gql<{ login: { token: string } }>(
          cluster.centralUrl,
          'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
          { u: name, p: password },
        ),
      ).login.token;
      users[name] = { id: created.id, token };
    }
    const room = async (home: ClusterNode, replicas: ClusterNode[] | null) => {
      const id = ok(
        await gql<{ createRoom: { id: string } }>(
          cluster.centralUrl,
          'mutation($h: ID, $r: [ID!]) { createRoom(name: "room", homeNodeId: $h, replicaNodeIds: $r) { id } }',
          { h: home.id, r: replicas?.map((n) => n.id) ?? null },
          { token: users['alice']?.token ?? '' },
        ),
      ).createRoom.id;
      ok(
        await gql(
          cluster.centralUrl,
          'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
          { r: id },
          {
            token: users['bob']?.token ?? '',
          },
        ),
      );
      holders.set(
        id,
        [home, ...(replicas ?? [a, b, c].filter((n) => n !== home))].map((n) => n.name),
      );
      return id;
    };
    r1 = await room(a, null);
    r2 = await room(b, null);
    r3 = await room(c, [a]);
    r4 = await room(a, [b]);
    r5 = await room(a, [c]);
  });

  it('random posts, edits and deletes on every node converge: same rows and digests, index right', async () => {
    const rand = random(6);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
    const rooms = [r1, r2, r3];
    const posted = new Map<string, { roomId: string; sender: string }>();
    const deleted = new Set<string>();
    for (let op = 0; op < 80; op++) {
      const roomId = pick(rooms);
      const node = cluster.node(pick(holders.get(roomId) ?? []));
      const live = sqliteRows(node, [roomId]).filter((r) => r.deleted_at === null);
      const roll = rand();
      if (roll < 0.6 || live.length === 0) {
        const sender = pick(['alice', 'bob']);
        const id = await post(node, sender, roomId, `post ${op} on ${node.name}`);
        posted.set(id, { roomId, sender });
        continue;
      }
      const target = pick(live);
      const sender = target.sender_id === users['alice']?.id ? 'alice' : 'bob';
      const response =
        roll < 0.85
          ? await nodeGql(
              node,
              sender,
              'mutation($i: ID!, $c: String!) { editMessage(id: $i, content: $c) { id } }',
              {
                i: target.id,
                c: `edit ${op} on ${node.name}`,
              },
            )
          : await nodeGql(node, sender, 'mutation($i: ID!) { deleteMessage(id: $i) { id } }', {
              i: target.id,
            });
      // A sync may have deleted the message here since it was read: CONFLICT, not a sync failure.
      if (response.errors) expect(response.errors[0]?.extensions?.['code']).toBe('CONFLICT');
      else if (roll >= 0.85) deleted.add(target.id);
    }

    // A subscriber on central sees a triggered session go PENDING -> IN_PROGRESS -> COMPLETED.
    const events = collect<{ syncSessionUpdated: Session }>(
      wsClient(leftovers, cluster.centralUrl, cluster.adminToken),
      `subscription { syncSessionUpdated { ${SESSION} } }`,
    );
    // Live once it hears anything: keep asking B to catch up until an event comes.
    const pump = setInterval(
      () =>
        void central(`mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { id } }`, {
          n: b.id,
        }),
      200,
    );
    try {
      await events.waitFor(1);
    } finally {
      clearInterval(pump);
    }
    const triggered = ok(
      await central<{ triggerSync: Session[] }>(`mutation { triggerSync { ${SESSION} } }`),
    ).triggerSync;
    const pairs = triggered.map((s) => `${s.sourceNode.id}>${s.targetNode.id}`).sort();
    const ids = [a, b, c].map((n) => n.id);
    expect(pairs).toEqual(
      ids.flatMap((s) => ids.filter((t) => t !== s).map((t) => `${s}>${t}`)).sort(),
    );
    await until(active, (list) => list.length === 0, 'every session to end');
    const fulls = triggered.filter((s) => s.syncType === 'FULL');
    expect(fulls.length).toBeGreaterThan(0);
    // Each session went forward only (a coalesced request re-publishes PENDING, so repeats are
    // collapsed), and at least one was seen through all three states.
    const order = ['PENDING', 'IN_PROGRESS', 'COMPLETED'];
    const seenNow = () =>
      triggered.map((t) =>
        events.events
          .map((e) => e.syncSessionUpdated)
          .filter((e) => e.id === t.id)
          .map((e) => e.status)
          .filter((status, i, all) => status !== all[i - 1]),
      );
    // A session's last event is published after its row is committed, so it may still be on its
    // way over the socket when the query above already reads every session ended.
    await expect
      .poll(() => seenNow().map((steps) => steps.at(-1)))
      .toEqual(triggered.map(() => 'COMPLETED'));
    const seen = seenNow();
    for (const steps of seen) {
      expect(steps).toEqual(order.slice(order.indexOf(steps[0] ?? '')));
    }
    expect(seen.map((steps) => steps.join())).toContain(order.join());

    const state = await converged(rooms);
    for (const roomId of rooms) {
      const rows = state.get(roomId)?.[0] ?? [];
      const expected = [...posted]
        .filter(([, p]) => p.roomId === roomId)
        .map(([id]) => id)
        .sort();
      // Nothing lost or duplicated...
      expect(rows.map((r) => r.id)).toEqual(expected);
      // ...nor resurrected.
      for (const row of rows) if (deleted.has(row.id)) expect(row.deleted_at).not.toBeNull();

      // The index lists every message with its storage nodes, hash and tombstone.
      const index = ok(
        await central<{
          messageIndex: {
            edges: Array<{
              node: {
                id: string;
                contentHash: string;
                deleted: boolean;
                storageNodes: Array<{ name: string }>;
              };
            }>;
          };
        }>(
          'query($r: ID!) { messageIndex(roomId: $r, first: 500) { edges { node { id contentHash deleted storageNodes { name } } } } }',
          { r: roomId },
        ),
      ).messageIndex.edges.map((e) => e.node);
      expect(index.map((m) => m.id)).toEqual(expected);
      const byId = new Map(rows.map((r) => [r.id, r]));
      for (const entry of index) {
        const row = byId.get(entry.id);
        expect(entry.contentHash).toBe(row?.content_hash);
        expect(entry.deleted).toBe(row?.deleted_at !== null);
        expect(entry.storageNodes.map((n) => n.name).sort()).toEqual(
          [...(holders.get(roomId) ?? [])].sort(),
        );
      }
    }
    // Once converged, a FULL round finds equal digests for every pair, and nobody is behind.
    ok(await central('mutation { triggerSync(syncType: FULL) { id } }'));
    await until(active, (list) => list.length === 0, 'the FULL round to end');
    const view = ok(
      await central<{ syncPairs: Array<{ behind: number; digestsMatch: boolean | null }> }>(
        '{ syncPairs { behind digestsMatch } }',
      ),
    ).syncPairs;
    expect(view.length).toBeGreaterThan(0);
    expect(view.every((p) => p.behind === 0 && p.digestsMatch === true)).toBe(true);
    // The same view through the gateway, the one public endpoint.
    const viaGateway = ok(
      await gql<{ syncPairs: Array<{ behind: number; sourceNode: { name: string } }> }>(
        cluster.gatewayUrl,
        '{ syncPairs { behind digestsMatch sourceNode { name } targetNode { name } } }',
        {},
        { token: cluster.adminToken },
      ),
    ).syncPairs;
    expect(viaGateway).toHaveLength(view.length);
    expect(viaGateway.every((p) => p.behind === 0)).toBe(true);
  }, 120_000);

  it('a post on one node reaches another through change detection (waits on the event)', async () => {
    const events = collect<{ messageAdded: { id: string } }>(
      leftovers.add(toNodes.wsClient({ url: b.url, nodeId: b.id }, users['bob']?.token), (client) =>
        client.dispose(),
      ),
      'subscription($r: ID!) { messageAdded(roomId: $r) { id } }',
      { r: r1 },
    );
    // Live once B's own post comes back on it.
    const own = new Set<string>();
    const pump = setInterval(
      () => void post(b, 'bob', r1, 'hello from b').then((id) => own.add(id)),
      100,
    );
    try {
      await events.waitUntil((e) => own.has(e.messageAdded.id));
    } finally {
      clearInterval(pump);
    }
    const id = await post(a, 'alice', r1, 'hello from a');
    await events.waitUntil((e) => e.messageAdded.id === id);
    expect(sqliteRows(b, [r1]).some((r) => r.id === id)).toBe(true);
    await converged([r1]);
  }, 10_000);

  it('concurrent edits converge on one winner; a concurrent delete is never undone', async () => {
    const m = await post(a, 'alice', r1, 'original');
    const d = await post(a, 'alice', r1, 'to be deleted');
    await converged([r1]);
    await Promise.all([
      nodeGql(
        a,
        'alice',
        'mutation($i: ID!) { editMessage(id: $i, content: "edit on a") { id } }',
        { i: m },
      ),
      nodeGql(
        b,
        'alice',
        'mutation($i: ID!) { editMessage(id: $i, content: "edit on b") { id } }',
        { i: m },
      ),
      nodeGql(
        c,
        'alice',
        'mutation($i: ID!) { editMessage(id: $i, content: "edit on c") { id } }',
        { i: m },
      ),
      nodeGql(b, 'alice', 'mutation($i: ID!) { deleteMessage(id: $i) { id } }', { i: d }),
      nodeGql(
        c,
        'alice',
        'mutation($i: ID!) { editMessage(id: $i, content: "edit racing the delete") { id } }',
        { i: d },
      ),
    ]);
    const state = await converged([r1]);
    const rows = state.get(r1)?.[0] ?? [];
    const edited = rows.find((r) => r.id === m);
    expect(['edit on a', 'edit on b', 'edit on c']).toContain(edited?.content);
    expect(rows.find((r) => r.id === d)?.deleted_at).not.toBeNull();
    // A later FULL sync in every direction changes nothing.
    ok(await central('mutation { triggerSync(syncType: FULL) { id } }'));
    await until(active, (list) => list.length === 0, 'the FULL syncs to end');
    const again = (await converged([r1])).get(r1)?.[0] ?? [];
    expect(again).toEqual(rows);
  });

  describe(`with ${BULK} messages a room, ${BULK / BATCH} batches`, () => {
    const bulk = new Map<string, string[]>();

    beforeAll(async () => {
      // Written by node A's own store while it is down: fast, and with a real change log.
      await cluster.killNode('node-a', 'SIGTERM');
      const db = openNodeDb(databaseFile(cluster.dataDir, 'node-a'));
      // Test data only: without an fsync per commit, thousands of posts take a moment, not minutes.
      db.sqlite.pragma('synchronous = OFF');
      try {
        const latest = greatestHlc(db.db);
        const store = new MessageStore({
          db: db.db,
          clock: new HybridLogicalClock({
            nodeId: a.id,
            ...(latest ? { resumeFrom: latest } : {}),
          }),
          events: new MessageEvents(silentLogger),
        });
        // One transaction per room: each post's own becomes a savepoint in it (better-sqlite3),
        // the same rows and change log, without a commit each (#18).
        for (const [roomId, count] of [
          [r4, BULK],
          [r5, BULK],
        ] as const) {
          const ids: string[] = [];
          db.sqlite.transaction(() => {
            for (let i = 0; i < count; i++)
              ids.push(
                store.post({ roomId, senderId: users['alice']?.id ?? '', content: `bulk ${i}` }).id,
              );
          })();
          bulk.set(roomId, ids);
        }
      } finally {
        db.close();
      }
      a = await cluster.startNode('node-a');
    }, 120_000);

    it('kill -9 of the target mid-stream: its live stream resumes from the cursor and every message lands once', async () => {
      // A came back with BULK new messages of r5: C's live stream from A is pulling them now.
      await until(
        () => sqliteRows(c, [r5]).length,
        (n) => n > 0,
        'C to hold the first batch',
      );
      await cluster.killNode('node-c', 'SIGKILL');
      const before = sqliteRows(c, [r5]).length;
      c = await cluster.startNode('node-c');
      const rows = (await converged([r5])).get(r5)?.[0] ?? [];
      expect(rows.map((r) => r.id)).toEqual([...(bulk.get(r5) ?? [])].sort());
      // Every message is in exactly one of C's records (live windows or sessions), once the
      // windows are reported: nothing was applied twice across the kill.
      const wanted = new Set(bulk.get(r5));
      const loggedOnC = await until(
        async () => {
          const sessions = ok(
            await central<{ syncSessions: Session[] }>(
              `query($n: ID) { syncSessions(last: 500, nodeId: $n) { ${SESSION} } }`,
              { n: c.id },
            ),
          ).syncSessions.filter((s) => s.targetNode.id === c.id);
          return (await Promise.all(sessions.map((s) => logged(s.id))))
            .flat()
            .filter((id) => wanted.has(id));
        },
        (ids) => new Set(ids).size === wanted.size,
        `central to record all of C's ${BULK}`,
      );
      expect(loggedOnC).toHaveLength(wanted.size);
      expect(before).toBeLessThanOrEqual(BULK);
    }, 120_000);

    it(`INCREMENTAL after 10 new messages on a node holding ${BULK} moves exactly those 10`, async () => {
      ok(
        await central(
          `mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { id } }`,
          { n: b.id },
        ),
      );
      await until(
        () => sqliteRows(b, [r4]).length,
        (n) => n === BULK,
        `B to hold the ${BULK}`,
      );
      await until(active, (list) => list.length === 0, 'quiet');
      const before = new Set(
        ok(
          await central<{ syncSessions: Session[] }>(`{ syncSessions(last: 500) { id } }`),
        ).syncSessions.map((s) => s.id),
      );
      const fresh: string[] = [];
      for (let i = 0; i < 10; i++) fresh.push(await post(a, 'alice', r4, `new ${i}`));
      await until(
        () => sqliteRows(b, [r4]).length,
        (n) => n === BULK + 10,
        'B to hold the 10 new',
      );
      await until(active, (list) => list.length === 0, 'quiet');
      // The live stream moves them, recorded in CHANGE windows; a window open before the posts
      // (it closes after an idle second) may hold them too: look at every A -> B session's log.
      const pairLogs = async () => {
        const pair = ok(
          await central<{ syncSessions: Session[] }>(
            `query($n: ID) { syncSessions(last: 500, nodeId: $n) { ${SESSION} } }`,
            { n: b.id },
          ),
        ).syncSessions.filter((s) => s.sourceNode.id === a.id && s.targetNode.id === b.id);
        return Promise.all(pair.map(async (s) => ({ s, ids: await logged(s.id) })));
      };
      // A window reaches central in the outbox's next report, after B holds the versions.
      const logs = await until(
        pairLogs,
        (list) =>
          fresh.every((id) => list.some(({ ids }) => ids.includes(id))) &&
          list.every(({ s }) => s.status === 'COMPLETED' || s.status === 'FAILED'),
        'the windows carrying the 10 to be recorded and closed',
      );
      const carrying = logs.filter(({ ids }) => ids.some((id) => fresh.includes(id)));
      expect(carrying.length).toBeGreaterThan(0);
      for (const { s } of carrying) {
        expect(s).toMatchObject({ status: 'COMPLETED', syncType: 'INCREMENTAL' });
      }
      // Each new message moved exactly once, and the sessions begun since moved nothing else.
      const moved = logs.flatMap(({ ids }) => ids.filter((id) => fresh.includes(id)));
      expect(moved.sort()).toEqual([...fresh].sort());
      const movedSince = logs.filter(({ s }) => !before.has(s.id)).flatMap(({ ids }) => ids);
      expect(movedSince.every((id) => fresh.includes(id))).toBe(true);
      await converged([r4]);
    }, 120_000);
  });

  it('quarantines bad versions (session COMPLETED, reason kept), refuses a disordered batch whole (target unchanged); the target shows the source a pull token that works nowhere else, never its key', async () => {
    // A node's API key is no credential at a peer's feed, not even a valid one.
    const refused = await fetch(`${a.url}${SYNC_CHANGES_PATH}?after=0&rooms=${r1}`, {
      headers: { [NODE_KEY_HEADER]: b.apiKey },
    });
    expect(refused.status).toBe(401);

    // An impostor source: registered at central (so jobs name it), serving bad batches.
    const registered = ok(
      await central<{ registerNode: { node: { id: string }; apiKey: string } }>(
        'mutation { registerNode(name: "impostor", url: "http://127.0.0.1:1") { node { id } apiKey } }',
      ),
    ).registerNode;
    // The impostor's change log: each step below appends to it, and its feed serves what is after
    // the cursor asked, so a step that applied is not served again.
    const log: unknown[] = [];
    const version: WireVersion = {
      seq: 1,
      op: 'create',
      id: '01890000-0000-7000-8000-000000000001',
      roomId: r1,
      senderId: users['alice']?.id ?? '',
      content: 'forged',
      contentHash: 'f'.repeat(64),
      createdAt: Date.now(),
      updatedAt: Date.now(),
      deletedAt: null,
      hlc: `${String(Date.now()).padStart(15, '0')}:00000000:${registered.node.id}`,
      originNode: registered.node.id,
    };
    const seen: Array<{ url: string; headers: Record<string, unknown> }> = [];
    const server = createServer((req, res) => {
      seen.push({ url: req.url ?? '', headers: { ...req.headers } });
      const after = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('after') ?? 0);
      const head = Math.max(after, ...log.map((v) => (v as WireVersion).seq));
      const body: ChangeBatch | RoomDigests = req.url?.startsWith(SYNC_DIGESTS_PATH)
        ? { digests: {} }
        : {
            sourceNodeId: registered.node.id,
            versions: log.filter((v) => (v as WireVersion).seq > after) as WireVersion[],
            nextAfter: head,
            headSeq: head,
          };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    });
    const port = await listen(server, 0);
    leftovers.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const impostorUrl = `http://127.0.0.1:${port}`;
    const beat = () => heartbeat(cluster.centralUrl, registered.apiKey, impostorUrl);
    await beat();
    const pulse = setInterval(() => void beat(), 100);
    leftovers.defer(() => clearInterval(pulse));

    const quarantined = (): Array<{ seq: number; message_id: string; reason: string }> => {
      const db = new Database(databaseFile(cluster.dataDir, b.name), { readonly: true });
      try {
        return db
          .prepare('SELECT seq, message_id, reason FROM sync_quarantine WHERE source_node_id = ?')
          .all(registered.node.id) as Array<{ seq: number; message_id: string; reason: string }>;
      } finally {
        db.close();
      }
    };
    const before = sqliteRows(b, [r1, r2]);
    const steps = [
      ['hash', [version], /^contentHash: f{64} is not the SHA-256 of the content$/],
      [
        'malformed',
        [{ ...version, seq: 2, contentHash: sha256('forged'), createdAt: 'yesterday' }],
        /^createdAt: expected epoch milliseconds/,
      ],
      [
        'disorder',
        [
          { ...version, seq: 4 },
          { ...version, seq: 3 },
        ],
        /versions\[1\]\.seq: 3 is not greater than the previous seq 4/,
      ],
    ] as const;
    const reasons: RegExp[] = [];
    for (const [which, versions, reason] of steps) {
      log.push(...versions);
      const sessions = ok(
        await central<{ triggerSync: Session[] }>(
          `mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { ${SESSION} } }`,
          { n: b.id },
        ),
      ).triggerSync;
      const forged = sessions.find(
        (s) => s.sourceNode.id === registered.node.id && s.targetNode.id === b.id,
      );
      if (!forged) throw new Error('no session from the impostor to B');
      const ended = await until(
        () => session(forged.id),
        (s) => s.status === 'FAILED' || s.status === 'COMPLETED',
        'the forged session to end',
      );
      if (which === 'disorder') {
        expect(ended.status).toBe('FAILED');
        expect(ended.error).toMatch(reason);
      } else {
        // One bad version is kept aside with its reason; the pair goes on syncing.
        expect(ended.status).toBe('COMPLETED');
        reasons.push(reason);
        expect(quarantined()).toEqual(
          reasons.map((r, i) => ({
            seq: i + 1,
            message_id: version.id,
            reason: expect.stringMatching(r),
          })),
        );
      }
      expect(sqliteRows(b, [r1, r2])).toEqual(before);
    }
    clearInterval(pulse);

    // What the impostor received (from B's pulls, and the gateway's schema checks): no node key
    // at all; on every pull a token for itself and B's shared rooms.
    const pulls = seen.filter((request) => request.url.startsWith('/internal/sync/'));
    expect(pulls.length).toBeGreaterThan(0);
    for (const request of seen) {
      expect(Object.keys(request.headers)).not.toContain(NODE_KEY_HEADER);
      expect(JSON.stringify(request.headers)).not.toContain(b.apiKey);
    }
    for (const request of pulls)
      expect(request.headers[PULL_TOKEN_HEADER]).toEqual(expect.any(String));
    // Every node sharing rooms with the impostor pulls from it (live streams): take B's pull.
    const fromB = pulls.find(
      (request) => decodeJwt(String(request.headers[PULL_TOKEN_HEADER])).sub === b.id,
    );
    expect(fromB).toBeDefined();
    const captured = String(fromB?.headers[PULL_TOKEN_HEADER]);
    const claims = decodeJwt(captured);
    expect(decodeProtectedHeader(captured).typ).toBe(PULL_TOKEN_TYPE);
    const rooms = new URL(fromB?.url ?? '', 'http://x').searchParams.get('rooms') ?? '';
    expect(claims).toMatchObject({
      iss: 'switchboard-central',
      aud: `node:${registered.node.id}`,
      sub: b.id,
      rdg: roomSetDigest(rooms.split(',')),
    });
    expect((claims.exp ?? 0) - (claims.iat ?? 0)).toBe(600);

    // Replayed anywhere else, it opens nothing: another node's feed (same rooms, which that node
    // stores too), central's internal API as a key, central's GraphQL through the gateway.
    const atFeed = await fetch(`${a.url}${SYNC_CHANGES_PATH}?after=0&rooms=${rooms}`, {
      headers: { [PULL_TOKEN_HEADER]: captured },
    });
    expect(atFeed.status).toBe(401);
    expect(await heartbeat(cluster.centralUrl, captured, 'http://127.0.0.1:9/x')).toMatchObject({
      status: 401,
    });
    const asKey = await askPullToken(cluster.centralUrl, captured, a.id, [r1]);
    expect(asKey.status).toBe(401);
    const asUser = await gql(cluster.gatewayUrl, '{ rooms { id } }', {}, { token: captured });
    expect(asUser.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/invalid token/),
      extensions: { code: 'UNAUTHENTICATED' },
    });
    // And at its own source, for a room set it does not name: refused too.
    const other = await fetch(`${a.url}${SYNC_DIGESTS_PATH}?rooms=${r1}`, {
      headers: { [PULL_TOKEN_HEADER]: await pullToken(cluster.centralUrl, b.apiKey, a.id, [r2]) },
    });
    expect(other.status).toBe(403);
  });
});
