// Central's side of sync, in process against real PGlite: sessions and their coalescing, the job
// stream, reports (validation, log, index, pairs), change notifications, pull tokens, recovery
// after a dropped stream or a restart, the schedule, and syncSessionUpdated over graphql-ws. The
// nodes are played by real HTTP clients speaking the protocol (tests/sync/nodeSide.ts).
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_PULL_TOKEN_ROOMS,
  PULL_TOKEN_TTL_SECONDS,
  roomSetDigest,
  verifyPullToken,
} from '../../lib/pullToken.ts';
import { SYNC_PULL_TOKEN_PATH, type AppliedChange, type SyncJob } from '../../lib/syncProtocol.ts';
import {
  DISCONNECT_REASON,
  RECONNECT_REASON,
  RESTART_REASON,
} from '../../subgraphs/central/sync/coordinator.ts';
import {
  distributedMessages,
  syncSessions,
  type SyncSessionRow,
} from '../../subgraphs/central/db/schema.ts';
import { toSnapshot } from '../../subgraphs/central/sync/snapshot.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';
import { heartbeat, openJobStream, postAsNode, report, roomsChanged } from '../sync/nodeSide.ts';

interface Session {
  id: string;
  status: string;
  syncType: string;
  trigger: string;
  messagesSynced: number;
  messagesChecked: number;
  messagesTotal: number | null;
  error: string | null;
  digestsMatch: boolean | null;
  completedAt: string | null;
  sourceNode: { id: string };
  targetNode: { id: string };
}
const SESSION = `id status syncType trigger messagesSynced messagesChecked messagesTotal error digestsMatch completedAt
  sourceNode { id } targetNode { id }`;

interface FakeNode {
  readonly id: string;
  readonly apiKey: string;
  readonly url: string;
}

/** The node the test messages were first posted on (set once the nodes exist). */
let origin = '';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const hlc = (ms: number, counter: number, node: string) =>
  `${String(ms).padStart(15, '0')}:${String(counter).padStart(8, '0')}:${node}`;

function change(
  messageId: string,
  roomId: string,
  senderId: string,
  over: Partial<AppliedChange> = {},
): AppliedChange {
  return {
    messageId,
    roomId,
    senderId,
    contentHash: sha(messageId),
    originNode: origin,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    deleted: false,
    action: 'CREATE',
    ...over,
  };
}

async function setup(leftovers: Leftovers, options: Parameters<typeof startTestCentral>[1] = {}) {
  // Nodes heartbeat once here; a long interval keeps them ONLINE for the whole file.
  const t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000, ...options });
  const online = async (name: string): Promise<FakeNode> => {
    const url = `http://127.0.0.1:1/${name}`;
    const node = await t.registerNode(name, url);
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
    return { ...node, url };
  };
  return { t, online };
}

const sessions = async (t: TestCentral, filter = '') =>
  ok(
    await gql<{ syncSessions: Session[] }>(
      t.url,
      `{ syncSessions(last: 500${filter}) { ${SESSION} } }`,
      {},
      { token: t.adminToken },
    ),
  ).syncSessions;

const session = async (t: TestCentral, id: string) =>
  ok(
    await gql<{ syncSession: Session }>(
      t.url,
      `query($id: ID!) { syncSession(id: $id) { ${SESSION} } }`,
      { id },
      { token: t.adminToken },
    ),
  ).syncSession;

const trigger = (t: TestCentral, token: string, nodeId?: string, syncType?: string) =>
  gql<{ triggerSync: Session[] }>(
    t.url,
    `mutation($n: ID, $t: SyncType) { triggerSync(nodeId: $n, syncType: $t) { ${SESSION} } }`,
    { n: nodeId, ...(syncType === undefined ? {} : { t: syncType }) },
    { token },
  );

const createRoom = async (t: TestCentral, token: string, home: string, replicas?: string[]) =>
  ok(
    await gql<{ createRoom: { id: string } }>(
      t.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "r", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: home, r: replicas },
      { token },
    ),
  ).createRoom.id;

const pairOf = (s: Session) => `${s.sourceNode.id}>${s.targetNode.id}`;

// Reports are recorded with SQL the database expands (json_to_recordset): run on both backends.
describe.each(['PGlite', 'PostgreSQL'] as const)('central sync coordination on %s', (backend) => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let t: TestCentral;
  let a: FakeNode, b: FakeNode, c: FakeNode, d: { id: string; apiKey: string };
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let everywhere: string; // on A, B, C and D
  let ab: string; // on A and B only

  beforeAll(async () => {
    const s = await setup(leftovers, { pglite: backend === 'PGlite' });
    t = s.t;
    [a, b, c] = [await s.online('node-a'), await s.online('node-b'), await s.online('node-c')];
    d = await t.registerNode('node-d'); // never heartbeats: OFFLINE
    origin = a.id;
    alice = await t.createUser('alice');
    bob = await t.createUser('bob');
    everywhere = await createRoom(t, alice.token, a.id);
    ab = await createRoom(t, alice.token, a.id, [b.id]);
  });

  it('lets only an ADMIN trigger a sync; a member changes nothing', async () => {
    const refused = await trigger(t, alice.token);
    expect(codes(refused)).toEqual(['FORBIDDEN']);
    expect(codes(await trigger(t, alice.token, a.id))).toEqual(['FORBIDDEN']);
    expect(codes(await trigger(t, t.adminToken, d.id))).toEqual(['NODE_UNAVAILABLE']);
    expect(codes(await trigger(t, t.adminToken, 'not-an-id'))).toEqual(['BAD_USER_INPUT']);
    expect(await sessions(t)).toEqual([]);
  });

  it('queues one FULL session per ordered pair of ONLINE nodes without nodeId, coalescing repeats', async () => {
    const first = ok(await trigger(t, t.adminToken)).triggerSync;
    const pairs = first.map(pairOf).sort();
    const online = [a, b, c].map((n) => n.id);
    const expected = online
      .flatMap((s) => online.filter((x) => x !== s).map((x) => `${s}>${x}`))
      .sort();
    expect(pairs).toEqual(expected);
    expect(first.every((s) => s.status === 'PENDING' && s.syncType === 'FULL')).toBe(true);
    expect(first.every((s) => s.trigger === 'MANUAL')).toBe(true);
    expect(pairs.some((p) => p.includes(d.id))).toBe(false);

    // Again, and INCREMENTAL: the same PENDING sessions come back, still FULL, nothing new.
    const again = ok(await trigger(t, t.adminToken, undefined, 'INCREMENTAL')).triggerSync;
    expect(again.map((s) => s.id).sort()).toEqual(first.map((s) => s.id).sort());
    expect(again.every((s) => s.syncType === 'FULL')).toBe(true);
    expect(await sessions(t)).toHaveLength(6);
  });

  it('sends a target its jobs, records reports and publishes every step', async () => {
    const ws = collect<{ syncSessionUpdated: Session }>(
      wsClient(leftovers, t.url, t.adminToken),
      `subscription($n: ID) { syncSessionUpdated(nodeId: $n) { ${SESSION} } }`,
      { n: b.id },
    );
    // The subscription is live once an event published on the bus reaches it.
    const probe = await t.central.db.db.select().from(syncSessions).limit(1);
    const warmUp = {
      ...toSnapshot(probe[0] as SyncSessionRow),
      id: '00000000-0000-7000-8000-000000000000',
      sourceNodeId: b.id,
    };
    const pump = setInterval(
      () => void t.central.services.events.publish({ type: 'syncSessionUpdated', session: warmUp }),
      20,
    );
    try {
      await ws.waitUntil((e) => e.syncSessionUpdated.id === warmUp.id);
    } finally {
      clearInterval(pump);
    }
    const stream = await openJobStream(leftovers, t.url, b.apiKey);
    const fromA = await stream.waitForJob((j) => j.sourceNodeId === a.id);
    const fromC = await stream.waitForJob((j) => j.sourceNodeId === c.id);
    // FULL sessions are asked in batches sized for throughput (--sync-full-batch-size).
    expect(fromA).toMatchObject({
      syncType: 'FULL',
      sourceNodeName: 'node-a',
      sourceUrl: a.url,
      batchSize: 5000,
    });
    expect(fromA.roomIds).toEqual([everywhere, ab].sort());
    expect(fromC.roomIds).toEqual([everywhere]);
    // Each job brings a pull token for that source, this target and exactly the job's rooms.
    const grant = await verifyPullToken(fromA.pullToken, t.central.services.tokens.keys, a.id);
    expect(grant).toEqual({
      peerNodeId: b.id,
      roomDigest: roomSetDigest(fromA.roomIds),
      expiresAt: fromA.pullTokenExpiresAt,
    });
    expect(fromA.pullTokenExpiresAt - Date.now()).toBeGreaterThan(
      (PULL_TOKEN_TTL_SECONDS - 60) * 1000,
    );
    await expect(
      verifyPullToken(fromA.pullToken, t.central.services.tokens.keys, c.id),
    ).rejects.toThrow(/aud/);
    expect((await session(t, fromA.sessionId)).status).toBe('IN_PROGRESS');

    const m1 = change('m1', everywhere, alice.id, { hlc: hlc(1, 0, a.id) });
    const m2 = change('m2', ab, alice.id, { hlc: hlc(2, 0, a.id) });
    const progress = await report(t.url, b.apiKey, {
      sessionId: fromA.sessionId,
      status: 'IN_PROGRESS',
      messagesSynced: 2,
      messagesTotal: 3,
      applied: [m1, m2],
      cursor: 2,
      sourceHeadSeq: 3,
    });
    expect(progress).toEqual({ status: 200, body: { continue: true } });
    // Without messagesChecked (an older node's report), what it counted is what it examined.
    expect(await session(t, fromA.sessionId)).toMatchObject({
      messagesSynced: 2,
      messagesChecked: 2,
    });
    const m3 = change('m3', ab, alice.id, { deleted: true, action: 'DELETE' });
    const done = await report(t.url, b.apiKey, {
      sessionId: fromA.sessionId,
      status: 'COMPLETED',
      messagesSynced: 3,
      // One more version examined than applied: the target already held it.
      messagesChecked: 4,
      messagesTotal: 4,
      applied: [m3],
      cursor: 3,
      sourceHeadSeq: 3,
      digestsMatch: true,
    });
    expect(done.body).toEqual({ continue: false });

    const finished = await session(t, fromA.sessionId);
    expect(finished).toMatchObject({
      status: 'COMPLETED',
      messagesSynced: 3,
      messagesChecked: 4,
      messagesTotal: 4,
      digestsMatch: true,
      error: null,
    });
    expect(finished.completedAt).not.toBeNull();
    const log = ok(
      await gql<{
        syncSession: {
          log: {
            totalCount: number;
            edges: Array<{ cursor: string; node: { messageId: string; action: string } }>;
            pageInfo: { hasNextPage: boolean; endCursor: string };
          };
        };
      }>(
        t.url,
        'query($id: ID!) { syncSession(id: $id) { log(first: 2) { totalCount edges { cursor node { messageId action } } pageInfo { hasNextPage endCursor } } } }',
        { id: fromA.sessionId },
        { token: t.adminToken },
      ),
    ).syncSession.log;
    expect(log.totalCount).toBe(3);
    expect(log.edges.map((e) => [e.node.messageId, e.node.action])).toEqual([
      ['m1', 'CREATE'],
      ['m2', 'CREATE'],
    ]);
    expect(log.pageInfo.hasNextPage).toBe(true);
    const rest = ok(
      await gql<{ syncSession: { log: { edges: Array<{ node: { messageId: string } }> } } }>(
        t.url,
        'query($id: ID!, $after: String) { syncSession(id: $id) { log(first: 2, after: $after) { edges { node { messageId } } } } }',
        { id: fromA.sessionId, after: log.pageInfo.endCursor },
        { token: t.adminToken },
      ),
    ).syncSession.log.edges;
    expect(rest.map((e) => e.node.messageId)).toEqual(['m3']);

    // The subscriber saw the session start, grow and end, in that order.
    const seen = await ws.waitUntil(
      (e) =>
        e.syncSessionUpdated.id === fromA.sessionId && e.syncSessionUpdated.status === 'COMPLETED',
    );
    expect(seen.syncSessionUpdated.messagesSynced).toBe(3);
    const steps = ws.events
      .map((e) => e.syncSessionUpdated)
      .filter((s) => s.id === fromA.sessionId)
      .map((s) => `${s.status}:${s.messagesSynced}`);
    expect(steps).toEqual(['IN_PROGRESS:0', 'IN_PROGRESS:2', 'COMPLETED:3']);

    // A new request for the pair is published PENDING, then dispatched at once (B is connected).
    const [next] = ok(await trigger(t, t.adminToken, b.id, 'INCREMENTAL')).triggerSync.filter(
      (s) => s.sourceNode.id === a.id && s.targetNode.id === b.id,
    );
    if (!next) throw new Error('no A -> B session');
    const job = await stream.waitForJob((j) => j.sessionId === next.id);
    expect(job.syncType).toBe('INCREMENTAL');
    await report(t.url, b.apiKey, {
      sessionId: next.id,
      status: 'COMPLETED',
      messagesSynced: 0,
      applied: [],
      cursor: 3,
    });
    await ws.waitUntil(
      (e) => e.syncSessionUpdated.id === next.id && e.syncSessionUpdated.status === 'COMPLETED',
    );
    expect(
      ws.events
        .filter((e) => e.syncSessionUpdated.id === next.id)
        .map((e) => e.syncSessionUpdated.status),
    ).toEqual(['PENDING', 'IN_PROGRESS', 'COMPLETED']);
    // Only sessions where B is source or target reached this subscriber.
    expect(
      ws.events.every((e) =>
        [e.syncSessionUpdated.sourceNode.id, e.syncSessionUpdated.targetNode.id].includes(b.id),
      ),
    ).toBe(true);

    // The pair view: B has everything of A it knows about; lastSyncAt set on both nodes.
    const view = ok(
      await gql<{
        syncPairs: Array<{
          sourceNode: { id: string };
          targetNode: { id: string };
          behind: number;
          digestsMatch: boolean | null;
          lastSyncAt: string | null;
        }>;
        nodes: Array<{ id: string; lastSyncAt: string | null }>;
      }>(
        t.url,
        '{ syncPairs { sourceNode { id } targetNode { id } behind digestsMatch lastSyncAt } nodes { id lastSyncAt } }',
        {},
        { token: t.adminToken },
      ),
    );
    const abPair = view.syncPairs.find((p) => p.sourceNode.id === a.id && p.targetNode.id === b.id);
    expect(abPair).toMatchObject({ behind: 0, digestsMatch: true });
    expect(abPair?.lastSyncAt).not.toBeNull();
    // C has pulled nothing from A yet: it is behind by A's head.
    const acPair = view.syncPairs.find((p) => p.sourceNode.id === a.id && p.targetNode.id === c.id);
    expect(acPair).toMatchObject({ behind: 3, lastSyncAt: null });
    expect(view.nodes.find((n) => n.id === b.id)?.lastSyncAt).not.toBeNull();
    expect(codes(await gql(t.url, '{ syncPairs { behind } }', {}, { token: alice.token }))).toEqual(
      ['FORBIDDEN'],
    );

    // The still-running C -> B session, finished for the next tests.
    await report(t.url, b.apiKey, {
      sessionId: fromC.sessionId,
      status: 'COMPLETED',
      messagesSynced: 0,
      applied: [],
      cursor: 0,
    });
    await stream.close();
  });

  it('refuses bad reports (400), other nodes (403) and unknown sessions (404), changing nothing', async () => {
    const stream = await openJobStream(leftovers, t.url, c.apiKey);
    const job = await stream.waitForJob((j) => j.sourceNodeId === a.id);
    const before = await session(t, job.sessionId);
    const good = {
      sessionId: job.sessionId,
      status: 'IN_PROGRESS',
      messagesSynced: 1,
      applied: [change('x1', everywhere, alice.id)],
      cursor: 1,
    };
    const bad: Array<[unknown, RegExp]> = [
      [{ ...good, status: 'DONE' }, /status/],
      [{ ...good, cursor: -1 }, /cursor/],
      [{ ...good, messagesSynced: 1.5 }, /messagesSynced/],
      [{ ...good, messagesChecked: -1 }, /messagesChecked/],
      [{ ...good, applied: 'x' }, /applied/],
      [
        { ...good, applied: [{ ...good.applied[0], contentHash: 'nope' }] },
        /applied\[0\]\.contentHash/,
      ],
      [{ ...good, applied: [{ ...good.applied[0], action: 'MOVE' }] }, /applied\[0\]\.action/],
      [{ ...good, applied: [{ ...good.applied[0], messageId: '' }] }, /applied\[0\]\.messageId/],
      [{ ...good, sessionId: 'x' }, /sessionId/],
      [[1, 2], /object/],
    ];
    for (const [body, message] of bad) {
      const answer = await report(t.url, c.apiKey, body);
      expect(answer.status).toBe(400);
      expect(answer.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(answer.body.errors[0].message).toMatch(message);
    }
    const notJson = await postAsNode(t.url, c.apiKey, '/internal/sync/report', '{');
    expect(notJson.status).toBe(400);

    const foreign = await report(t.url, b.apiKey, good);
    expect(foreign.status).toBe(403);
    expect(foreign.body.errors[0].extensions.code).toBe('FORBIDDEN');
    const unknown = await report(t.url, c.apiKey, {
      ...good,
      sessionId: '01890000-0000-7000-8000-000000000000',
    });
    expect(unknown.status).toBe(404);
    const anonymous = await postAsNode(t.url, undefined, '/internal/sync/report', good);
    expect(anonymous.status).toBe(401);

    expect(await session(t, job.sessionId)).toEqual(before);
    const index = ok(
      await gql<{ messageIndex: { edges: Array<{ node: { id: string } }> } }>(
        t.url,
        'query($r: ID!) { messageIndex(roomId: $r, first: 500) { edges { node { id } } } }',
        { r: everywhere },
        { token: t.adminToken },
      ),
    ).messageIndex.edges.map((e) => e.node.id);
    expect(index).not.toContain('x1');
    await report(t.url, c.apiKey, { ...good, status: 'COMPLETED', applied: [], messagesSynced: 0 });
    await stream.close();
  });

  it('keeps the index on the winning version, never resurrects, and serves it to members only', async () => {
    const stream = await openJobStream(leftovers, t.url, c.apiKey);
    // B -> C was cut when C's previous stream closed; its continuation comes now.
    const job = await stream.waitForJob((j) => j.sourceNodeId === b.id);
    const fromB = { id: job.sessionId };
    // m1 edited (greater HLC) arrives on C from B; then an older version of it, then m2 is
    // deleted on one side (older HLC) while a newer edit exists: the tombstone stays.
    const edited = change('m1', everywhere, alice.id, {
      hlc: hlc(5, 0, b.id),
      contentHash: sha('edited'),
      updatedAt: 1_700_000_000_500,
      action: 'UPDATE',
    });
    const stale = change('m1', everywhere, alice.id, {
      hlc: hlc(3, 0, b.id),
      contentHash: sha('stale'),
    });
    const post = (applied: AppliedChange[], cursor: number, status = 'IN_PROGRESS') =>
      report(t.url, c.apiKey, {
        sessionId: fromB.id,
        status,
        messagesSynced: cursor,
        applied,
        cursor,
      });
    await post([edited], 1);
    await post([stale], 2);
    await post(
      [change('m4', everywhere, bob.id, { deleted: true, action: 'DELETE', hlc: hlc(1, 0, c.id) })],
      3,
    );
    await post(
      [change('m4', everywhere, bob.id, { hlc: hlc(9, 0, c.id), contentHash: sha('alive') })],
      4,
      'COMPLETED',
    );

    const query =
      'query($r: ID!, $f: Int, $a: String) { messageIndex(roomId: $r, first: $f, after: $a) { edges { cursor node { id contentHash deleted sender { id } room { id } originatingNode { id } storageNodes { id } } } pageInfo { hasNextPage endCursor } } }';
    type Index = {
      messageIndex: {
        edges: Array<{
          cursor: string;
          node: {
            id: string;
            contentHash: string;
            deleted: boolean;
            storageNodes: Array<{ id: string }>;
          };
        }>;
        pageInfo: { hasNextPage: boolean; endCursor: string };
      };
    };
    const all = ok(
      await gql<Index>(t.url, query, { r: everywhere, f: 100 }, { token: alice.token }),
    ).messageIndex.edges.map((e) => e.node);
    const m1 = all.find((m) => m.id === 'm1');
    expect(m1?.contentHash).toBe(sha('edited'));
    expect(m1?.storageNodes.map((n) => n.id).sort()).toEqual([a.id, b.id, c.id].sort());
    const m4 = all.find((m) => m.id === 'm4');
    expect(m4?.deleted).toBe(true);
    // Epoch milliseconds come back exactly (the database turns them into timestamps itself).
    const [m1Row] = await t.central.db.db
      .select()
      .from(distributedMessages)
      .where(eq(distributedMessages.id, 'm1'));
    expect(m1Row?.createdAt.getTime()).toBe(1_700_000_000_000);
    expect(m1Row?.updatedAt.getTime()).toBe(1_700_000_000_500);
    expect(m1Row?.hlc).toBe(hlc(5, 0, b.id));

    // Paging: one at a time gives the same list.
    const paged: string[] = [];
    let after: string | undefined;
    for (;;) {
      const page = ok(
        await gql<Index>(t.url, query, { r: everywhere, f: 1, a: after }, { token: alice.token }),
      ).messageIndex;
      paged.push(...page.edges.map((e) => e.node.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(paged).toEqual(all.map((m) => m.id));

    expect(codes(await gql(t.url, query, { r: everywhere }, { token: bob.token }))).toEqual([
      'FORBIDDEN',
    ]);
    expect(
      codes(await gql(t.url, query, { r: everywhere, a: 'zzz' }, { token: alice.token })),
    ).toEqual(['BAD_USER_INPUT']);
    ok(await gql(t.url, query, { r: everywhere }, { token: t.adminToken }));
    await stream.close();
  });

  it('enqueues CHANGE syncs to the other ONLINE storage nodes of changed rooms', async () => {
    const answer = await roomsChanged(t.url, a.apiKey, [ab, 'unknown-room']);
    expect(answer.status).toBe(200);
    const queued = await Promise.all(
      (answer.body.sessionIds as string[]).map((id) => session(t, id)),
    );
    // ab is stored on A and B only.
    expect(queued.map(pairOf)).toEqual([`${a.id}>${b.id}`]);
    // B holds no stream now: the session waits for it.
    expect(queued[0]).toMatchObject({
      trigger: 'CHANGE',
      syncType: 'INCREMENTAL',
      status: 'PENDING',
    });
    const bad = await postAsNode(t.url, a.apiKey, '/internal/sync/changed', { roomIds: 'x' });
    expect(bad.status).toBe(400);
  });

  it('signs pull tokens only for rooms both the caller and the source store; refuses bad input; no key oracle', async () => {
    const ask = (apiKey: string | undefined, body: unknown) =>
      postAsNode(t.url, apiKey, SYNC_PULL_TOKEN_PATH, body);
    const issued = await ask(b.apiKey, { sourceNodeId: a.id, roomIds: [ab, everywhere] });
    expect(issued.status).toBe(200);
    const { token, expiresAt } = issued.body as { token: string; expiresAt: number };
    expect(await verifyPullToken(token, t.central.services.tokens.keys, a.id)).toEqual({
      peerNodeId: b.id,
      roomDigest: roomSetDigest([ab, everywhere]),
      expiresAt,
    });
    // Not a user's token, at central's GraphQL either.
    expect(codes(await gql(t.url, '{ syncSessions(last: 1) { id } }', {}, { token }))).toEqual([
      'UNAUTHENTICATED',
    ]);

    // C does not store ab: no token for it, alone or with a room C does store.
    for (const roomIds of [[ab], [everywhere, ab]]) {
      const refused = await ask(c.apiKey, { sourceNodeId: a.id, roomIds });
      expect(refused.status).toBe(403);
      expect(refused.body.errors[0]).toMatchObject({
        message: expect.stringContaining(ab),
        extensions: { code: 'FORBIDDEN' },
      });
    }
    // Nor for a room the source does not store, or that does not exist.
    expect((await ask(a.apiKey, { sourceNodeId: c.id, roomIds: [ab] })).status).toBe(403);
    expect((await ask(b.apiKey, { sourceNodeId: a.id, roomIds: ['no-such-room'] })).status).toBe(
      403,
    );
    expect((await ask(b.apiKey, { sourceNodeId: 'no-such-node', roomIds: [ab] })).status).toBe(404);
    for (const body of [
      { sourceNodeId: b.id, roomIds: [ab] },
      { sourceNodeId: a.id },
      { sourceNodeId: a.id, roomIds: [] },
      { sourceNodeId: a.id, roomIds: [ab, 7] },
      { sourceNodeId: a.id, roomIds: [`${ab},${everywhere}`] },
      { sourceNodeId: a.id, roomIds: Array.from({ length: MAX_PULL_TOKEN_ROOMS + 1 }, () => ab) },
      { roomIds: [ab] },
      [a.id, ab],
      'not json',
    ]) {
      const refused = await ask(b.apiKey, body);
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    expect((await ask(undefined, { sourceNodeId: a.id, roomIds: [ab] })).status).toBe(401);
    expect((await ask('sbk_nope', { sourceNodeId: a.id, roomIds: [ab] })).status).toBe(401);
    // The old key check is gone: central tells no node whose key another one presented.
    const oracle = await postAsNode(t.url, a.apiKey, '/internal/nodes/verify', {
      apiKey: b.apiKey,
    });
    expect(oracle.status).toBe(404);
    expect(JSON.stringify(oracle.body)).not.toContain(b.id);
  });

  it('fails the running sessions of a stream that drops or is replaced, and resumes them in new ones', async () => {
    const first = await openJobStream(leftovers, t.url, b.apiKey);
    const runningJob = await first.waitForJob((j) => j.sourceNodeId === c.id);
    const running = { id: runningJob.sessionId };

    // A second stream of B replaces the first: the session is cut and continued.
    const second = await openJobStream(leftovers, t.url, b.apiKey);
    await first.ended;
    const resumed: SyncJob = await second.waitForJob((j) => j.sourceNodeId === c.id);
    expect(resumed.sessionId).not.toBe(running.id);
    expect(await session(t, running.id)).toMatchObject({
      status: 'FAILED',
      error: RECONNECT_REASON,
    });
    // A late report on the cut session is recorded but told to stop.
    const late = await report(t.url, b.apiKey, {
      sessionId: running.id,
      status: 'IN_PROGRESS',
      messagesSynced: 1,
      applied: [change('late', everywhere, alice.id)],
      cursor: 1,
    });
    expect(late.body).toEqual({ continue: false });
    expect((await session(t, running.id)).status).toBe('FAILED');

    // The stream drops: its running session fails and waits, PENDING, for B to come back.
    await second.close();
    // Waits for central to notice the closed stream; poll's 1 s default was too short for
    // PostgreSQL on 2 busy cores (seen once in a full run).
    await expect
      .poll(async () => (await session(t, resumed.sessionId)).status, { timeout: 15_000 })
      .toBe('FAILED');
    expect((await session(t, resumed.sessionId)).error).toBe(DISCONNECT_REASON);
    const waitingNow = async () =>
      (await sessions(t, `, nodeId: "${b.id}", status: PENDING`)).filter(
        (s) => s.sourceNode.id === c.id && s.targetNode.id === b.id,
      );
    // Central fails the cut session, then queues its continuation: a moment apart, so a read right
    // after the failure may come before the continuation (seen once in a full run).
    await expect.poll(waitingNow).toHaveLength(1);
    const waiting = await waitingNow();
    expect(waiting).toHaveLength(1);
    const third = await openJobStream(leftovers, t.url, b.apiKey);
    await third.waitForJob((j) => j.sessionId === waiting[0]?.id);
    await third.close();
  });
});

describe('central sync across a restart and on a schedule', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());

  it('fails sessions left IN_PROGRESS by a previous run and queues their continuation', async () => {
    const dataDir = await leftovers.tempDir('switchboard-central-restart-');
    const s = await setup(leftovers, { dataDir });
    const a = await s.online('node-a');
    const b = await s.online('node-b');
    const owner = await s.t.createUser('owner');
    await createRoom(s.t, owner.token, a.id);
    // B catches up with A as soon as its stream opens: that session is running when central stops.
    const stream = await openJobStream(leftovers, s.t.url, b.apiKey);
    const job = await stream.waitForJob((j) => j.sourceNodeId === a.id);
    const cut = await session(s.t, job.sessionId);
    expect(cut.status).toBe('IN_PROGRESS');
    await s.t.central.close();
    await stream.ended;

    const again = await startTestCentral(leftovers, { dataDir, heartbeatIntervalMs: 600_000 });
    const after = await session(again, cut.id);
    expect(after).toMatchObject({ status: 'FAILED', error: RESTART_REASON });
    const queued = (await sessions(again)).filter(
      (x) => pairOf(x) === pairOf(cut) && x.status === 'PENDING',
    );
    expect(queued).toHaveLength(1);
    expect(queued[0]?.syncType).toBe(cut.syncType);
    // B comes back and gets the continuation.
    await heartbeat(again.url, b.apiKey, b.url);
    await heartbeat(again.url, a.apiKey, a.url);
    const back = await openJobStream(leftovers, again.url, b.apiKey);
    await back.waitForJob((j) => j.sessionId === queued[0]?.id);
    await back.close();
  });

  it('schedules INCREMENTAL pulls per node every autoSyncInterval, and follows updateNode', async () => {
    // 1 "second" of autoSyncInterval = 5 ms here, so the minimum of 10 s is 50 ms.
    const s = await setup(leftovers, { syncIntervalUnitMs: 5 });
    const a = await s.online('node-a');
    const b = await s.online('node-b');
    const owner = await s.t.createUser('owner');
    await createRoom(s.t, owner.token, a.id);
    const update = (id: string, fields: string) =>
      gql(
        s.t.url,
        `mutation { updateNode(id: "${id}", ${fields}) { id } }`,
        {},
        { token: s.t.adminToken },
      );
    ok(await update(a.id, 'syncEnabled: false'));
    ok(await update(b.id, 'autoSyncInterval: 10'));
    await expect
      .poll(async () => (await sessions(s.t)).filter((x) => x.trigger === 'SCHEDULE'), {
        timeout: 10_000,
      })
      .not.toHaveLength(0);
    const scheduled = (await sessions(s.t)).filter((x) => x.trigger === 'SCHEDULE');
    // Only B pulls (A has syncing off), INCREMENTAL, and coalesced into one PENDING session.
    expect(scheduled.map(pairOf)).toEqual([`${a.id}>${b.id}`]);
    expect(scheduled[0]?.syncType).toBe('INCREMENTAL');
  });
});
