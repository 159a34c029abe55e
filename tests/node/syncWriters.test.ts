// Zero trust on the target side of sync (issue 14): a version is applied only if its writer had
// the right to write it, and one bad version never stops the rest. Real nodes (HTTP, SQLite
// files) against a real central; the sources are real nodes or a hand-written hostile source (a
// real HTTP server serving forged batches). The nodes' central client is central's real one but
// for three calls this file answers itself: the key check (a table of the keys issued), the sync
// reports (a list) and the writer check (`syncAuthority`, a plain function over the tables below:
// central's SYNC_AUTHORITY_PATH is built separately; the last test goes through the real one).
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import {
  SYNC_AUTHORITY_PATH,
  SYNC_CHANGES_PATH,
  type AuthorityQuery,
  type SyncJob,
  type SyncReport,
  type WireVersion,
} from '../../lib/syncProtocol.ts';
import {
  CentralUnavailableError,
  createCentralClient,
  type CentralClient,
} from '../../subgraphs/node/centralClient.ts';
import { lastSeq } from '../../subgraphs/node/changeLog.ts';
import { sha256Hex } from '../../subgraphs/node/content.ts';
import { encodeHlc } from '../../subgraphs/node/hlc.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { readCursor } from '../../subgraphs/node/sync/cursors.ts';
import { Quarantine } from '../../subgraphs/node/sync/quarantine.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { snapshot } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

interface SyncNode {
  readonly node: NodeServer;
  readonly apiKey: string;
}

let central: TestCentral;
const reports: SyncReport[] = [];
/** Every writer check the nodes asked for. */
const authorityQueries: AuthorityQuery[] = [];
/** `room \n user`: who is NOT a member (everyone else is, whenever asked). */
const outsiders = new Set<string>();
/** Rooms central would say are stored by `storage` only; every other room by a, b and the rogue. */
const storageOf = new Map<string, string[]>();
let authorityDown = false;

let a: SyncNode;
let b: SyncNode;
/** A registered node whose id the hostile source uses; it never runs. */
let rogueId: string;
let alice: { id: string; token: string };
/** Calls nodes as a gateway would: nodes take nothing but a gateway's assertion. */
let gateway: TestGateway;
let realRoom: string;

/** The writer check as central would answer it, from this file's tables. */
function authority(query: AuthorityQuery) {
  authorityQueries.push(query);
  if (authorityDown) return Promise.reject(new CentralUnavailableError('central is down (test)'));
  const everyone = [a.node.nodeId, b.node.nodeId, rogueId];
  return Promise.resolve({
    storageNodes: Object.fromEntries(
      query.roomIds.map((room) => [room, storageOf.get(room) ?? everyone]),
    ),
    senders: query.senders.map((s) => !outsiders.has(`${s.roomId}\n${s.userId}`)),
  });
}

async function startSyncNode(name: string): Promise<SyncNode> {
  const registered = await central.registerNode(name);
  const real = createCentralClient({ centralUrl: central.url, apiKey: registered.apiKey });
  const client: CentralClient = {
    ...real,
    reportSync(report) {
      reports.push(report);
      return Promise.resolve({ continue: true });
    },
    syncAuthority: authority,
    async roomsChanged() {},
    openSyncJobs: () => Promise.reject(new Error('not used: sync is off in these tests')),
  };
  const node = leftovers.add(
    await startNode({
      name,
      dataDir: await leftovers.tempDir(`switchboard-${name}-`),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      central: client,
      sync: false,
      logger: silentLogger,
    }),
    (n) => n.close(),
  );
  return { node, apiKey: registered.apiKey };
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  gateway = await registerTestGateway(central.url);
  a = await startSyncNode('writers-a');
  b = await startSyncNode('writers-b');
  rogueId = (await central.registerNode('writers-rogue')).id;
  alice = await central.createUser('alice');
  realRoom = ok(
    await gql<{ createRoom: { id: string } }>(
      central.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "writers", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: a.node.nodeId, r: [b.node.nodeId] },
      { token: alice.token },
    ),
  ).createRoom.id;
});

beforeEach(() => {
  authorityDown = false;
  authorityQueries.length = 0;
});

/**
 * A room of these tests exists only here, not at central: both nodes take local writes for it
 * (heldRooms.ts: a node writes only rooms central says it holds; the test says it instead).
 */
const testRooms = new Set<string>();
function newRoom(): string {
  const room = `room-${randomUUID()}`;
  testRooms.add(room);
  for (const n of [a, b]) n.node.held.apply([...testRooms]);
  return room;
}

/** A job for target B as central sends it, with a pull token from central's real signer. */
async function job(
  source: string,
  sourceUrl: string,
  roomIds: string[],
  syncType: SyncJob['syncType'] = 'INCREMENTAL',
): Promise<SyncJob> {
  const grant = await central.central.services.tokens.signPull({
    sourceNodeId: source,
    targetNodeId: b.node.nodeId,
    roomIds,
  });
  return {
    sessionId: randomUUID(),
    syncType,
    sourceNodeId: source,
    sourceUrl,
    roomIds,
    batchSize: 1000,
    pullToken: grant.token,
    pullTokenExpiresAt: grant.expiresAt,
  };
}

function reportsOf(sessionId: string): SyncReport[] {
  return reports.filter((report) => report.sessionId === sessionId);
}

function quarantinedIn(sessionId: string) {
  return reportsOf(sessionId).flatMap((r) => r.quarantined ?? []);
}

function quarantineRows(n: SyncNode): unknown[] {
  return n.node.db.sqlite
    .prepare('SELECT * FROM sync_quarantine ORDER BY source_node_id, seq')
    .all();
}

/** Everything sync may write on a node. */
function state(n: SyncNode): unknown {
  const taken = snapshot(n.node.db) as { messages: Array<Record<string, unknown>> };
  return {
    ...taken,
    // Every send of a version moves its last_sync_attempt (a replay too), nothing else.
    messages: taken.messages.map(({ last_sync_attempt: _sent, ...row }) => row),
    // Their updated_at says when a session last ran, not what it changed.
    cursors: n.node.db.sqlite
      .prepare(
        'SELECT source_node_id, room_id, seq FROM sync_cursors ORDER BY source_node_id, room_id',
      )
      .all(),
    quarantine: quarantineRows(n),
  };
}

/** A version as a hostile source would send it: valid unless the overrides make it not. */
function forged(
  seq: number,
  fields: Partial<WireVersion> & Pick<WireVersion, 'id' | 'roomId'>,
): WireVersion {
  const content = fields.content ?? `forged ${seq}`;
  const now = Date.now();
  return {
    seq,
    op: 'create',
    senderId: alice.id,
    content,
    contentHash: sha256Hex(content),
    createdAt: now - 1000 + seq,
    updatedAt: now,
    deletedAt: null,
    hlc: encodeHlc({ physical: now, logical: seq, node: rogueId }),
    originNode: rogueId,
    ...fields,
  };
}

interface Hostile {
  /** The node id it serves its feed as (its own, so each test's quarantine rows are its own). */
  readonly id: string;
  readonly url: string;
}

/**
 * A real HTTP server that serves `log()` (versions in seq order, as raw JSON values) as a change
 * feed: the versions after `after`, the head being the last seq. Its versions' origin is
 * `rogueId` unless they say otherwise.
 */
async function hostileSource(log: () => readonly unknown[]): Promise<Hostile> {
  const id = `rogue-source-${randomUUID()}`;
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    let body: unknown = { digests: {} };
    if (url.pathname === SYNC_CHANGES_PATH) {
      const after = Number(url.searchParams.get('after'));
      const all = log();
      const seqOf = (v: unknown) => (v as { seq: number }).seq;
      const head = all.length === 0 ? 0 : seqOf(all.at(-1));
      const versions = all.filter((v) => seqOf(v) > after);
      body = {
        sourceNodeId: id,
        versions,
        nextAfter: Math.max(after, head),
        headSeq: Math.max(after, head),
      };
    }
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  const port = await listen(server, 0);
  leftovers.add(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
  return { id, url: `http://127.0.0.1:${port}` };
}

async function pullFrom(
  source: Hostile,
  roomIds: string[],
  syncType: SyncJob['syncType'] = 'INCREMENTAL',
) {
  return b.node.puller.enqueue(await job(source.id, source.url, roomIds, syncType));
}

function postAs(user: { token: string }, roomId: string, content: string) {
  return gateway.gql<{ postMessage: { id: string; contentHash: string } }>(
    a.node,
    'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id contentHash } }',
    { r: roomId, c: content },
    { token: user.token },
  );
}

describe('poison content (finding 1)', () => {
  it('refuses a lone surrogate at post and edit with BAD_USER_INPUT, and the room keeps syncing', async () => {
    const before = snapshot(a.node.db);
    const poisoned = await postAs(alice, realRoom, 'poison \ud800 here');
    expect(codes(poisoned)).toEqual(['BAD_USER_INPUT']);
    expect(poisoned.errors?.[0]?.message).toBe(
      'content is not valid Unicode: lone UTF-16 surrogate \\ud800 at character 8',
    );
    expect(snapshot(a.node.db)).toEqual(before);

    const fine = ok(await postAs(alice, realRoom, 'fine 👋')).postMessage;
    const edited = await gateway.gql(
      a.node,
      'mutation($id: ID!, $c: String!) { editMessage(id: $id, content: $c) { id } }',
      { id: fine.id, c: '👋 \udc00' },
      { token: alice.token },
    );
    expect(codes(edited)).toEqual(['BAD_USER_INPUT']);
    expect(edited.errors?.[0]?.message).toBe(
      'content is not valid Unicode: lone UTF-16 surrogate \\udc00 at character 3',
    );
    expect(a.node.store.get(fine.id)?.content).toBe('fine 👋');

    const outcome = await b.node.puller.enqueue(await job(a.node.nodeId, a.node.url, [realRoom]));
    expect(outcome).toMatchObject({ status: 'COMPLETED', quarantined: 0 });
    expect(b.node.store.get(fine.id)).toMatchObject({
      content: 'fine 👋',
      contentHash: fine.contentHash,
    });
  });

  it('a poisoned row stored before the fix is quarantined on the target; the rest of the batch applies', async () => {
    const room = newRoom();
    const before = a.node.store.post({ roomId: room, senderId: alice.id, content: 'before' });
    const poison = a.node.store.post({ roomId: room, senderId: alice.id, content: 'placeholder' });
    const after = a.node.store.post({ roomId: room, senderId: alice.id, content: 'after' });
    // What the old code stored: the hash of the string accepted, its WTF-8 bytes as the content.
    a.node.db.sqlite
      .prepare('UPDATE messages SET content = ?, content_hash = ? WHERE id = ?')
      .run('a\ud800b', sha256Hex('a\ud800b'), poison.id);

    const outcome = await b.node.puller.enqueue(await job(a.node.nodeId, a.node.url, [room]));
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 2, quarantined: 1 });
    expect(quarantinedIn(outcome.sessionId)).toEqual([
      {
        messageId: poison.id,
        roomId: room,
        hlc: poison.hlc,
        seq: expect.any(Number),
        reason: `contentHash: ${sha256Hex('a\ud800b')} is not the SHA-256 of the content`,
      },
    ]);
    expect(b.node.store.get(before.id)?.content).toBe('before');
    expect(b.node.store.get(after.id)?.content).toBe('after');
    expect(b.node.store.get(poison.id)).toBeUndefined();
    expect(readCursor(b.node.db.db, a.node.nodeId, [room])).toBe(lastSeq(a.node.db.db));
  });

  it('quarantines a version whose content holds a lone surrogate, even with a matching hash', async () => {
    const room = newRoom();
    const id = randomUUID();
    const source = await hostileSource(() => [
      { ...forged(1, { id, roomId: room }), content: 'x\ud800', contentHash: sha256Hex('x\ud800') },
    ]);
    const outcome = await pullFrom(source, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', quarantined: 1 });
    expect(quarantinedIn(outcome.sessionId)[0]?.reason).toBe(
      'content: content is not valid Unicode: lone UTF-16 surrogate \\ud800 at character 2',
    );
    expect(b.node.store.get(id)).toBeUndefined();
  });
});

describe('writer rights (finding 4)', () => {
  it('refuses versions that change what a message keeps for life, and applies the rest', async () => {
    const home = newRoom();
    const other = newRoom();
    const mine = b.node.store.post({ roomId: home, senderId: alice.id, content: 'original' });
    const elsewhere = b.node.store.post({
      roomId: other,
      senderId: alice.id,
      content: 'not yours',
    });
    const created = mine.createdAt.getTime();
    const goodId = randomUUID();
    const log = [
      // Moves a message of a session room to another session room.
      forged(1, {
        id: mine.id,
        roomId: other,
        op: 'update',
        createdAt: created,
        originNode: b.node.nodeId,
      }),
      // Rewrites a message of a room outside the session by claiming it is in one.
      forged(2, {
        id: elsewhere.id,
        roomId: home,
        op: 'update',
        content: 'rewritten',
        createdAt: elsewhere.createdAt.getTime(),
        originNode: b.node.nodeId,
      }),
      forged(3, { id: goodId, roomId: home }),
    ];
    const source = await hostileSource(() => log);
    const held = b.node.store.get(mine.id);
    const outcome = await pullFrom(source, [home, other]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 2 });
    expect(quarantinedIn(outcome.sessionId)).toEqual([
      {
        messageId: mine.id,
        roomId: other,
        hlc: log[0]!.hlc,
        seq: 1,
        reason: `roomId: message ${mine.id} is in room ${home} here; a version may not move it to ${other}`,
      },
      {
        messageId: elsewhere.id,
        roomId: home,
        hlc: log[1]!.hlc,
        seq: 2,
        reason: `roomId: message ${elsewhere.id} is in room ${other} here; a version may not move it to ${home}`,
      },
    ]);
    expect(b.node.store.get(mine.id)).toEqual(held);
    expect(b.node.store.get(elsewhere.id)?.content).toBe('not yours');
    expect(b.node.store.get(goodId)?.content).toBe('forged 3');
    expect(readCursor(b.node.db.db, source.id, [home, other])).toBe(3);
  });

  it('refuses a version that changes the sender or creation time of a message held, or its origin to a node not storing the room', async () => {
    const room = newRoom();
    storageOf.set(room, [a.node.nodeId, b.node.nodeId]);
    const m = b.node.store.post({ roomId: room, senderId: alice.id, content: 'kept' });
    const same = {
      id: m.id,
      roomId: room,
      op: 'update' as const,
      createdAt: m.createdAt.getTime(),
      originNode: b.node.nodeId,
    };
    const cases: Array<[Partial<WireVersion>, string]> = [
      [
        { senderId: 'someone-else' },
        `senderId: message ${m.id} was sent by ${alice.id}; a version may not change it to someone-else`,
      ],
      [
        { originNode: rogueId },
        `originNode: message ${m.id} was first posted on ${b.node.nodeId} here, and node ${rogueId} is not a storage node of room ${room}`,
      ],
      [
        { createdAt: 1 },
        `createdAt: message ${m.id} was created at ${m.createdAt.getTime()}; a version may not change it to 1`,
      ],
    ];
    for (const [change, reason] of cases) {
      const source = await hostileSource(() => [forged(1, { ...same, ...change })]);
      const outcome = await pullFrom(source, [room]);
      expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 0, quarantined: 1 });
      expect(quarantinedIn(outcome.sessionId).map((q) => q.reason)).toEqual([reason]);
      expect(b.node.store.get(m.id)?.content).toBe('kept');
    }
    // Only the other origin's right was central's to say; the sender's was judged already.
    expect(authorityQueries).toEqual([{ roomIds: [room], senders: [] }]);

    // Another storage node of the room as the origin: a retry-safe post that two nodes both made.
    const source = await hostileSource(() => [forged(1, { ...same, originNode: a.node.nodeId })]);
    const outcome = await pullFrom(source, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 0 });
    expect(b.node.store.get(m.id)?.originNode).toBe(a.node.nodeId);
  });

  it('asks central once per batch about new messages: a forged sender and a foreign origin are quarantined', async () => {
    const room = newRoom();
    outsiders.add(`${room}\nmallory`);
    storageOf.set(room, [a.node.nodeId, b.node.nodeId]);
    const ids = [randomUUID(), randomUUID(), randomUUID(), randomUUID()];
    const log = [
      forged(1, { id: ids[0]!, roomId: room, originNode: a.node.nodeId }),
      forged(2, { id: ids[1]!, roomId: room, senderId: 'mallory', originNode: a.node.nodeId }),
      forged(3, { id: ids[2]!, roomId: room, originNode: rogueId }),
      forged(4, { id: ids[3]!, roomId: room, originNode: a.node.nodeId }),
    ];
    const source = await hostileSource(() => log);
    const outcome = await pullFrom(source, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 2, quarantined: 2 });
    expect(quarantinedIn(outcome.sessionId).map((q) => [q.messageId, q.reason])).toEqual([
      [
        ids[1],
        `senderId: user mallory was not a member of room ${room} at the message's createdAt (${new Date(log[1]!.createdAt).toISOString()})`,
      ],
      [ids[2], `originNode: node ${rogueId} is not a storage node of room ${room}`],
    ]);
    expect(b.node.store.get(ids[0]!)).toBeDefined();
    expect(b.node.store.get(ids[1]!)).toBeUndefined();
    expect(b.node.store.get(ids[2]!)).toBeUndefined();
    expect(b.node.store.get(ids[3]!)).toBeDefined();
    // One question for the batch, about this room and each new message's sender.
    expect(authorityQueries).toEqual([
      {
        roomIds: [room],
        senders: log.map((v) => ({ roomId: room, userId: v.senderId, at: v.createdAt })),
      },
    ]);
  });

  it('applies nothing and quarantines nothing while central cannot say who may write', async () => {
    const room = newRoom();
    const source = await hostileSource(() => [forged(1, { id: randomUUID(), roomId: room })]);
    const before = state(b);
    authorityDown = true;
    const outcome = await pullFrom(source, [room]);
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toMatch(
      /^batch after seq 0 from .+ not applied: central could not say who may write it: central is down \(test\)$/,
    );
    expect(state(b)).toEqual(before);
  });
});

describe('quarantine', () => {
  it('keeps a bad version aside with its reason and JSON, releases it when a newer valid one applies, and a replay changes nothing', async () => {
    const room = newRoom();
    const id = randomUUID();
    const other = randomUUID();
    const bad = { ...forged(1, { id, roomId: room }), contentHash: sha256Hex('something else') };
    const log: unknown[] = [bad, forged(2, { id: other, roomId: room })];
    const source = await hostileSource(() => log);

    const first = await pullFrom(source, [room]);
    expect(first).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 1 });
    const reason = `contentHash: ${bad.contentHash} is not the SHA-256 of the content`;
    expect(new Quarantine(b.node.db).list(source.id).filter((r) => r.roomId === room)).toEqual([
      {
        sourceNodeId: source.id,
        seq: 1,
        messageId: id,
        roomId: room,
        hlc: bad.hlc,
        reason,
        version: JSON.stringify(bad),
        quarantinedAt: expect.any(Date),
        // Refused, not deferred for its clock.
        deferredUntil: null,
      },
    ]);

    // The same batch again, from 0: nothing changes, nothing is reported anew.
    const before = state(b);
    const replay = await pullFrom(source, [room], 'FULL');
    expect(replay).toMatchObject({ status: 'COMPLETED', applied: 0, quarantined: 0 });
    expect(quarantinedIn(replay.sessionId)).toEqual([]);
    expect(state(b)).toEqual(before);

    // The source sends a newer, valid version of the message: it applies and releases the old one.
    log.push(forged(3, { id, roomId: room, content: 'repaired' }));
    const repaired = await pullFrom(source, [room]);
    expect(repaired).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 0 });
    expect(reportsOf(repaired.sessionId).flatMap((r) => r.released ?? [])).toEqual([id]);
    expect(b.node.store.get(id)?.content).toBe('repaired');
    expect(new Quarantine(b.node.db).list(source.id).filter((r) => r.roomId === room)).toEqual([]);
  });

  it('quarantines a malformed version with what it could read of it, and the rest of the batch applies', async () => {
    const room = newRoom();
    const good = randomUUID();
    const source = await hostileSource(() => [
      { seq: 1, id: 'not-a-uuid', roomId: room },
      { ...forged(2, { id: randomUUID(), roomId: newRoom() }) },
      forged(3, { id: good, roomId: room }),
    ]);
    const outcome = await pullFrom(source, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 2 });
    const reasons = quarantinedIn(outcome.sessionId).map((q) => [q.seq, q.messageId, q.reason]);
    expect(reasons).toEqual([
      [1, 'not-a-uuid', 'op: expected one of create, update, delete, got undefined'],
      [
        2,
        expect.any(String),
        expect.stringMatching(/^roomId: room .+ is not one of the session's rooms$/),
      ],
    ]);
    expect(b.node.store.get(good)).toBeDefined();
    expect(readCursor(b.node.db.db, source.id, [room])).toBe(3);
  });
});

describe("through central's real client", () => {
  // MERGE: needs central's POST SYNC_AUTHORITY_PATH (/internal/sync/authority), built in parallel
  // on another branch. Until it is there this test skips itself (central answers 404); after the
  // merge it must run and pass: a member's message and its origin are confirmed by central.
  it("central's real endpoint, through the node's client, confirms a member's message and the room's storage nodes", async (context) => {
    const registered = await central.registerNode('writers-probe');
    const probe = await fetch(new URL(SYNC_AUTHORITY_PATH, central.url), {
      method: 'POST',
      headers: { [NODE_KEY_HEADER]: registered.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ roomIds: [], senders: [] }),
    });
    await probe.body?.cancel();
    if (probe.status === 404) context.skip(`central has no ${SYNC_AUTHORITY_PATH} yet`);

    const client = createCentralClient({ centralUrl: central.url, apiKey: b.apiKey });
    const posted = ok(await postAs(alice, realRoom, 'confirmed by central')).postMessage;
    const message = a.node.store.get(posted.id)!;
    const answer = await client.syncAuthority({
      roomIds: [realRoom],
      senders: [{ roomId: realRoom, userId: alice.id, at: message.createdAt.getTime() }],
    });
    expect([...(answer.storageNodes[realRoom] ?? [])].sort()).toEqual(
      [a.node.nodeId, b.node.nodeId].sort(),
    );
    expect(answer.senders).toEqual([true]);
  });
});
