// What central believes of its nodes (issue 14): a sync report only within the session's scope
// (finding 5: a report marked another room's message deleted in the index for good), quarantined
// versions as reported and released, and the writer authority the nodes ask before applying a
// version. Real central on PGlite and PostgreSQL; the nodes are played over real HTTP.
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SYNC_AUTHORITY_PATH,
  type AppliedChange,
  type AuthorityAnswer,
  type QuarantinedVersion,
  type SyncJob,
} from '../../lib/syncProtocol.ts';
import { distributedMessages, rooms, settings } from '../../subgraphs/central/db/schema.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat, openJobStream, postAsNode, report } from '../sync/nodeSide.ts';

interface FakeNode {
  readonly id: string;
  readonly apiKey: string;
}

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const hlc = (ms: number, node: string) => `${String(ms).padStart(15, '0')}:00000000:${node}`;
const CREATED = 1_700_000_000_000;

describe.each(['PGlite', 'PostgreSQL'] as const)('what central believes, on %s', (backend) => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let t: TestCentral;
  let a: FakeNode, b: FakeNode, c: FakeNode;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let ab: string; // on A and B
  let ac: string; // on A and C: outside every A -> B session
  let moving: string; // on A and B, then moved to A and C
  let fromAtoB: SyncJob;
  let fromAtoC: SyncJob;

  const change = (
    messageId: string,
    roomId: string,
    over: Partial<AppliedChange> = {},
  ): AppliedChange => ({
    messageId,
    roomId,
    senderId: alice.id,
    contentHash: sha(messageId),
    originNode: a.id,
    createdAt: CREATED,
    updatedAt: CREATED,
    deleted: false,
    action: 'CREATE',
    hlc: hlc(1, a.id),
    ...over,
  });

  const post = (node: FakeNode, job: SyncJob, body: Record<string, unknown>) =>
    report(t.url, node.apiKey, {
      sessionId: job.sessionId,
      status: 'IN_PROGRESS',
      messagesSynced: 1,
      applied: [],
      cursor: 1,
      ...body,
    });

  const indexed = async (id: string) =>
    (
      await t.central.db.db.select().from(distributedMessages).where(eq(distributedMessages.id, id))
    )[0];

  const sessionCounts = async (id: string) =>
    ok(
      await gql<{
        syncSession: {
          messagesQuarantined: number;
          entriesRefused: number;
          log: { edges: Array<{ node: { messageId: string } }> };
        };
      }>(
        t.url,
        'query($id: ID!) { syncSession(id: $id) { messagesQuarantined entriesRefused log { edges { node { messageId } } } } }',
        { id },
        { token: t.adminToken },
      ),
    ).syncSession;

  const createRoom = async (home: string, replicas: string[]) =>
    ok(
      await gql<{ createRoom: { id: string } }>(
        t.url,
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "r", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: home, r: replicas },
        { token: alice.token },
      ),
    ).createRoom.id;

  beforeAll(async () => {
    t = await startTestCentral(leftovers, {
      heartbeatIntervalMs: 600_000,
      pglite: backend === 'PGlite',
    });
    const online = async (name: string): Promise<FakeNode> => {
      const url = `http://127.0.0.1:1/${name}`;
      const node = await t.registerNode(name, url);
      expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
      return node;
    };
    [a, b, c] = [await online('node-a'), await online('node-b'), await online('node-c')];
    alice = await t.createUser('alice');
    bob = await t.createUser('bob');
    ab = await createRoom(a.id, [b.id]);
    ac = await createRoom(a.id, [c.id]);
    moving = await createRoom(a.id, [b.id]);
    // Each target catches up with A as soon as its job stream opens. B acknowledges central's
    // notices, as a node does (see the writer authority test).
    const streamB = await openJobStream(leftovers, t.url, b.apiKey, { ackNotices: true });
    fromAtoB = await streamB.waitForJob((j) => j.sourceNodeId === a.id);
    const streamC = await openJobStream(leftovers, t.url, c.apiKey);
    fromAtoC = await streamC.waitForJob((j) => j.sourceNodeId === a.id);
    expect(fromAtoB.roomIds).toEqual([ab, moving].sort());
    expect(fromAtoC.roomIds).toEqual([ac]);
  });

  it('records only the entries of rooms the session covers, and never rewrites an indexed message', async () => {
    expect((await post(c, fromAtoC, { applied: [change('mc', ac)] })).status).toBe(200);
    expect((await post(b, fromAtoB, { applied: [change('m1', ab)] })).status).toBe(200);

    // B names a message of a room its session does not cover (finding 5), and rewrites m1's
    // room, sender and creation time; one honest new message rides along.
    const answer = await post(b, fromAtoB, {
      messagesSynced: 6,
      cursor: 6,
      applied: [
        change('mc', ac, { deleted: true, action: 'DELETE', hlc: hlc(9, b.id) }),
        change('m1', moving, { deleted: true, action: 'DELETE', hlc: hlc(9, b.id) }),
        change('m1', ab, { senderId: bob.id, action: 'UPDATE', hlc: hlc(8, b.id) }),
        change('m5', ab),
      ],
      held: [change('m1', ab, { createdAt: CREATED + 1, hlc: hlc(7, b.id) })],
    });
    expect(answer).toEqual({ status: 200, body: { continue: true } });

    const mc = await indexed('mc');
    expect(mc).toMatchObject({ roomId: ac, deleted: false, storageNodeIds: [a.id, c.id].sort() });
    const m1 = await indexed('m1');
    expect(m1).toMatchObject({
      roomId: ab,
      senderId: alice.id,
      deleted: false,
      contentHash: sha('m1'),
      hlc: hlc(1, a.id),
    });
    expect(m1?.createdAt.getTime()).toBe(CREATED);
    expect(await indexed('m5')).toMatchObject({ roomId: ab });
    const counts = await sessionCounts(fromAtoB.sessionId);
    expect(counts.entriesRefused).toBe(4);
    expect(counts.log.edges.map((e) => e.node.messageId)).toEqual(['m1', 'm5']);
  });

  it("indexes a keyed post made on two nodes with the winning copy's origin, in any report order, refusing neither", async () => {
    const before = (await sessionCounts(fromAtoB.sessionId)).entriesRefused;
    // The same message id made on A (hlc 2) and on B (hlc 3): B's copy wins on every node.
    const onA = change('mk', ab, { originNode: a.id, hlc: hlc(2, a.id) });
    const onB = change('mk', ab, { originNode: b.id, hlc: hlc(3, b.id) });
    expect((await post(b, fromAtoB, { applied: [onA] })).status).toBe(200);
    expect(await indexed('mk')).toMatchObject({ originatingNodeId: a.id, hlc: hlc(2, a.id) });
    expect((await post(b, fromAtoB, { held: [onB] })).status).toBe(200);
    expect(await indexed('mk')).toMatchObject({ originatingNodeId: b.id, hlc: hlc(3, b.id) });
    // The losing copy again, later: the index keeps the winner.
    expect((await post(b, fromAtoB, { held: [onA], applied: [onA] })).status).toBe(200);
    expect(await indexed('mk')).toMatchObject({ originatingNodeId: b.id, hlc: hlc(3, b.id) });
    expect((await sessionCounts(fromAtoB.sessionId)).entriesRefused).toBe(before);
  });

  it('refuses the entries of a room the target no longer stores and records the rest', async () => {
    // The room moves off B while B's session runs (what an admin's re-placement would do).
    await t.central.db.db
      .update(rooms)
      .set({ replicaNodeIds: [c.id] })
      .where(eq(rooms.id, moving));
    const answer = await post(b, fromAtoB, {
      messagesSynced: 8,
      cursor: 8,
      applied: [change('m6', moving), change('m7', ab)],
    });
    expect(answer).toEqual({ status: 200, body: { continue: true } });
    expect(await indexed('m6')).toBeUndefined();
    expect(await indexed('m7')).toMatchObject({ roomId: ab });
    expect((await sessionCounts(fromAtoB.sessionId)).entriesRefused).toBe(5);
  });

  it('lists quarantined versions for ADMINs only, counts them on the session, and hides released ones', async () => {
    const quarantined: QuarantinedVersion = {
      messageId: 'mq',
      roomId: ab,
      hlc: hlc(4, a.id),
      seq: 9,
      reason: `senderId ${bob.id} was not a member of room ${ab} at its createdAt`,
    };
    const outside: QuarantinedVersion = { ...quarantined, messageId: 'mq2', roomId: ac };
    expect((await post(b, fromAtoB, { quarantined: [quarantined, outside] })).status).toBe(200);
    // A FULL sync meeting the same version again adds no second row.
    expect((await post(b, fromAtoB, { quarantined: [quarantined] })).status).toBe(200);

    const query = `query($n: ID, $r: Boolean) { quarantinedVersions(nodeId: $n, includeReleased: $r) {
      id messageId hlc reason quarantinedAt releasedAt room { id } sourceNode { name }
      targetNode { name } session { id } } }`;
    type Listed = {
      quarantinedVersions: Array<{
        messageId: string;
        hlc: string;
        reason: string;
        releasedAt: string | null;
        room: { id: string } | null;
        sourceNode: { name: string };
        targetNode: { name: string };
        session: { id: string } | null;
      }>;
    };
    const list = (variables: Record<string, unknown> = {}) =>
      gql<Listed>(t.url, query, variables, { token: t.adminToken });
    const listed = ok(await list()).quarantinedVersions;
    expect(listed).toHaveLength(1);
    expect(listed[0]).toMatchObject({
      messageId: 'mq',
      hlc: quarantined.hlc,
      reason: quarantined.reason,
      releasedAt: null,
      room: { id: ab },
      sourceNode: { name: 'node-a' },
      targetNode: { name: 'node-b' },
      session: { id: fromAtoB.sessionId },
    });
    expect(ok(await list({ n: c.id })).quarantinedVersions).toEqual([]);
    expect(ok(await list({ n: a.id })).quarantinedVersions).toHaveLength(1);
    const counts = await sessionCounts(fromAtoB.sessionId);
    expect(counts.messagesQuarantined).toBe(2);
    expect(counts.entriesRefused).toBe(6);

    expect(codes(await gql(t.url, query, {}, { token: alice.token }))).toEqual(['FORBIDDEN']);
    expect(
      codes(
        await gql(t.url, '{ quarantinedVersions(first: 0) { id } }', {}, { token: t.adminToken }),
      ),
    ).toEqual(['BAD_USER_INPUT']);

    // A newer valid version replaced it on B.
    expect((await post(b, fromAtoB, { released: ['mq'] })).status).toBe(200);
    expect(ok(await list()).quarantinedVersions).toEqual([]);
    const released = ok(await list({ r: true })).quarantinedVersions;
    expect(released.map((q) => q.messageId)).toEqual(['mq']);
    expect(released[0]?.releasedAt).not.toBeNull();
  });

  it('answers writer authority: storage nodes now, and membership at a time', async () => {
    const ask = (body: unknown) => postAsNode(t.url, a.apiKey, SYNC_AUTHORITY_PATH, body);
    const anonymous = { roomIds: [], senders: [] };
    expect((await postAsNode(t.url, undefined, SYNC_AUTHORITY_PATH, anonymous)).status).toBe(401);
    const bad: unknown[] = [
      [],
      { roomIds: 'x', senders: [] },
      { roomIds: new Array<string>(1001).fill(ab), senders: [] },
      { roomIds: [], senders: new Array(5001).fill({ roomId: ab, userId: bob.id, at: 1 }) },
      { roomIds: [''], senders: [] },
      { roomIds: [], senders: [{ roomId: ab, userId: bob.id, at: -1 }] },
      { roomIds: [], senders: [{ roomId: ab, at: 1 }] },
    ];
    for (const body of bad) {
      const refused = await ask(body);
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }

    // Bob's leave waits for the room's ONLINE nodes, A and B, to confirm it: A answers too, so
    // that the leave is not held for central's whole deadline (5 s) by a silent node.
    await openJobStream(leftovers, t.url, a.apiKey, { ackNotices: true });

    // The history covers all time from here on: every check is against it.
    const db = t.central.db.db;
    await db.update(settings).set({ value: 0 }).where(eq(settings.key, 'membership_history_since'));
    const beforeJoin = Date.now();
    ok(await gql(t.url, `mutation { joinRoom(roomId: "${ab}") { id } }`, {}, { token: bob.token }));
    const member = Date.now();
    ok(
      await gql(t.url, `mutation { leaveRoom(roomId: "${ab}") { id } }`, {}, { token: bob.token }),
    );
    const afterLeave = Date.now();
    const carol = await t.createUser('carol');
    const margin = 60_000;

    const answer = await ask({
      roomIds: [ab, ac, 'no-such-room'],
      senders: [
        { roomId: ab, userId: bob.id, at: beforeJoin - margin - 1000 },
        { roomId: ab, userId: bob.id, at: member },
        { roomId: ab, userId: bob.id, at: afterLeave + margin + 1000 },
        { roomId: ab, userId: alice.id, at: Date.now() },
        { roomId: ab, userId: carol.id, at: Date.now() },
        { roomId: 'no-such-room', userId: alice.id, at: Date.now() },
      ],
    });
    expect(answer.status).toBe(200);
    const body = answer.body as AuthorityAnswer;
    expect(body.storageNodes).toEqual({ [ab]: [a.id, b.id], [ac]: [a.id, c.id] });
    expect(body.senders).toEqual([false, true, false, true, false, false]);

    // Before the history began there is nothing to check: an existing user counts as a member.
    await db
      .update(settings)
      .set({ value: Date.now() + 86_400_000 })
      .where(eq(settings.key, 'membership_history_since'));
    const old = await ask({
      roomIds: [],
      senders: [
        { roomId: ab, userId: carol.id, at: Date.now() },
        { roomId: ab, userId: 'ghost', at: Date.now() },
      ],
    });
    expect(old.body).toEqual({ storageNodes: {}, senders: [true, false] });
  });
});
