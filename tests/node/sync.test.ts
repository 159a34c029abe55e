// Sync between real nodes in one process: each node is a real HTTP server with its own SQLite
// file, started against a real central; the target pulls from the source's change feed over HTTP
// with pull tokens signed by central's real signer (the rooms here are made up, so tests sign
// them directly instead of asking central's endpoint, which checks placement: tested in
// tests/central/sync.test.ts). The nodes' central client answers three calls from this file: token
// renewals (recorded, and signed as a test says), the sync reports (a list, so a test can read
// every report and answer `continue: false`) and the writer checks (every room is stored by every
// node here, every sender a member); sessions are handed to the puller directly instead
// of through central's job stream. Central's side of sessions is tested with central's own tests.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { PULL_TOKEN_HEADER } from '../../lib/pullToken.ts';
import {
  SYNC_CHANGES_PATH,
  SYNC_DIGESTS_PATH,
  type ChangeBatch,
  type PullTokenResponse,
  type RoomDigests,
  type SyncJob,
  type SyncReport,
} from '../../lib/syncProtocol.ts';
import { remoteUserKeys } from '../../lib/userAuth.ts';
import { createCentralClient, type CentralClient } from '../../subgraphs/node/centralClient.ts';
import { lastSeq } from '../../subgraphs/node/changeLog.ts';
import type { RemoteVersion } from '../../subgraphs/node/messageStore.ts';
import { startNode, type NodeOptions, type NodeServer } from '../../subgraphs/node/server.ts';
import { readCursor, saveCursor } from '../../subgraphs/node/sync/cursors.ts';
import { EMPTY_DIGEST, roomDigests } from '../../subgraphs/node/sync/digest.ts';
import type { SessionOutcome } from '../../subgraphs/node/sync/puller.ts';
import type { PullGrantRequest } from '../../subgraphs/central/tokens.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { failInsertsInto, snapshot } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

interface SyncNode {
  readonly node: NodeServer;
  readonly apiKey: string;
}

let central: TestCentral;
const reports: SyncReport[] = [];
let continueSession: (report: SyncReport) => boolean = () => true;
/** Every renewal a target asked its central client for. */
const renewals: PullGrantRequest[] = [];
/** Every node started here: each stores every room, as far as the writer checks are told. */
const nodeIds: string[] = [];
/** How a renewal is signed; a test may make them short-lived or expired. */
let renew: (grant: PullGrantRequest) => Promise<PullTokenResponse> = (grant) => sign(grant);

let a: SyncNode; // the usual source; its feed serves at most 3 versions per batch
let b: SyncNode; // the usual target
let c: SyncNode;

/** A pull token from central's real signer, for rooms made up by the test. */
function sign(grant: PullGrantRequest, lifetimeSeconds?: number): Promise<PullTokenResponse> {
  return central.central.services.tokens.signPull(grant, lifetimeSeconds);
}

async function tokenFor(
  target: SyncNode,
  source: SyncNode,
  roomIds: readonly string[],
  lifetimeSeconds?: number,
): Promise<string> {
  const grant = { sourceNodeId: source.node.nodeId, targetNodeId: target.node.nodeId, roomIds };
  return (await sign(grant, lifetimeSeconds)).token;
}

async function startSyncNode(name: string, extra: Partial<NodeOptions> = {}): Promise<SyncNode> {
  const registered = await central.registerNode(name);
  nodeIds.push(registered.id);
  const real = createCentralClient({ centralUrl: central.url, apiKey: registered.apiKey });
  const client: CentralClient = {
    ...real,
    pullToken(sourceNodeId, roomIds) {
      const grant = { sourceNodeId, targetNodeId: registered.id, roomIds };
      renewals.push(grant);
      return renew(grant);
    },
    reportSync(report) {
      reports.push(report);
      return Promise.resolve({ continue: continueSession(report) });
    },
    syncAuthority(query) {
      return Promise.resolve({
        storageNodes: Object.fromEntries(query.roomIds.map((room) => [room, nodeIds])),
        senders: query.senders.map(() => true),
      });
    },
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
      ...extra,
    }),
    (n) => n.close(),
  );
  return { node, apiKey: registered.apiKey };
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  a = await startSyncNode('sync-a', { syncMaxBatchSize: 3 });
  b = await startSyncNode('sync-b');
  c = await startSyncNode('sync-c');
});

/** A source that serves whatever `batch(after)` returns as its change feed. */
async function hostileSource(batch: (after: number) => unknown): Promise<string> {
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    const body =
      url.pathname === SYNC_CHANGES_PATH ? batch(Number(url.searchParams.get('after'))) : {};
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  });
  const port = await listen(server, 0);
  leftovers.add(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
  return `http://127.0.0.1:${port}`;
}

function newRoom(): string {
  return `room-${randomUUID()}`;
}

/**
 * The rooms of these tests exist only here, not at central: a node takes local writes only for
 * rooms central says it holds (heldRooms.ts), so the test says it instead.
 */
const testRooms = new Set<string>();
function hold(n: SyncNode, roomId: string): void {
  if (n.node.held.accepts(roomId)) return;
  testRooms.add(roomId);
  // Every node: the tests edit and delete a room's messages on its replicas too.
  for (const each of new Set([a, b, c, n])) each.node.held.apply([...testRooms]);
}

function post(n: SyncNode, roomId: string, content: string) {
  hold(n, roomId);
  return n.node.store.post({ roomId, senderId: 'user-1', content });
}

/** A job as central sends it, with a token for the pair and rooms (10 minutes unless said). */
async function job(
  target: SyncNode,
  source: SyncNode,
  roomIds: string[],
  syncType: SyncJob['syncType'] = 'INCREMENTAL',
  tokenLifetimeSeconds?: number,
): Promise<SyncJob> {
  const grant = await sign(
    { sourceNodeId: source.node.nodeId, targetNodeId: target.node.nodeId, roomIds },
    tokenLifetimeSeconds,
  );
  return {
    sessionId: randomUUID(),
    syncType,
    sourceNodeId: source.node.nodeId,
    sourceUrl: source.node.url,
    roomIds,
    batchSize: 1000,
    pullToken: grant.token,
    pullTokenExpiresAt: grant.expiresAt,
  };
}

async function pull(
  target: SyncNode,
  source: SyncNode,
  roomIds: string[],
  syncType: SyncJob['syncType'] = 'INCREMENTAL',
): Promise<SessionOutcome> {
  return target.node.puller.enqueue(await job(target, source, roomIds, syncType));
}

/** A room's rows as they sync: everything but the node-local sync status columns. */
function rows(n: SyncNode, roomId: string): unknown[] {
  return n.node.db.sqlite
    .prepare(
      `SELECT id, room_id, sender_id, content, content_hash, created_at, updated_at, deleted_at,
              hlc, origin_node FROM messages WHERE room_id = ? ORDER BY id`,
    )
    .all(roomId);
}

function status(
  n: SyncNode,
  id: string,
): { sync_status: string; last_sync_attempt: number | null } {
  return n.node.db.sqlite
    .prepare('SELECT sync_status, last_sync_attempt FROM messages WHERE id = ?')
    .get(id) as { sync_status: string; last_sync_attempt: number | null };
}

/** A snapshot without the messages' `last_sync_attempt`, which every send of a version moves. */
function withoutSendTimes(taken: unknown): unknown {
  const { messages, ...rest } = taken as { messages: Array<Record<string, unknown>> };
  return {
    ...rest,
    messages: messages.map(({ last_sync_attempt: _sent, ...row }) => row),
  };
}

function changeRows(n: SyncNode, roomId: string): number {
  return (
    n.node.db.sqlite
      .prepare('SELECT count(*) AS n FROM change_log WHERE room_id = ?')
      .get(roomId) as { n: number }
  ).n;
}

function head(n: SyncNode): number {
  return lastSeq(n.node.db.db);
}

function reportsOf(sessionId: string): SyncReport[] {
  return reports.filter((report) => report.sessionId === sessionId);
}

/**
 * Asks `source`'s feed. Headers default to a pull token for target b and the rooms asked; `null`
 * sends none.
 */
async function feed(
  source: SyncNode,
  params: Record<string, string>,
  headers: Record<string, string> | null = {},
  path = SYNC_CHANGES_PATH,
): Promise<{ status: number; body: any }> {
  const rooms = params['rooms'] ? params['rooms'].split(',') : [];
  const sent =
    headers === null
      ? {}
      : Object.keys(headers).length > 0
        ? headers
        : { [PULL_TOKEN_HEADER]: await tokenFor(b, source, rooms) };
  const response = await fetch(
    `${source.node.url}${path}?${new URLSearchParams(params).toString()}`,
    { headers: sent },
  );
  return { status: response.status, body: await response.json() };
}

async function changes(
  source: SyncNode,
  after: number,
  roomIds: string[],
  limit?: number,
): Promise<ChangeBatch> {
  const params: Record<string, string> = { after: String(after), rooms: roomIds.join(',') };
  if (limit !== undefined) params['limit'] = String(limit);
  const { status: code, body } = await feed(source, params);
  expect(code).toBe(200);
  return body as ChangeBatch;
}

describe('the change feed', () => {
  it('refuses an API key, a missing, expired, forged or wrong-audience token, a user token and a token for other rooms; changes nothing', async () => {
    const room = newRoom();
    const other = newRoom();
    post(a, room, 'pending');
    const before = snapshot(a.node.db);
    const params = { after: String(head(a)), rooms: room };
    const refusal = async (headers: Record<string, string> | null, path = SYNC_CHANGES_PATH) => {
      const answer = await feed(
        a,
        path === SYNC_CHANGES_PATH ? params : { rooms: room },
        headers,
        path,
      );
      return {
        status: answer.status,
        code: answer.body.errors?.[0]?.extensions?.code,
        message: answer.body.errors?.[0]?.message,
      };
    };
    const unauthenticated = { status: 401, code: 'UNAUTHENTICATED' };

    expect(await refusal(null)).toMatchObject(unauthenticated);
    // A valid node key, even the target's own, is no credential here.
    expect(await refusal({ [NODE_KEY_HEADER]: b.apiKey })).toMatchObject(unauthenticated);
    expect(await refusal({ [NODE_KEY_HEADER]: b.apiKey }, SYNC_DIGESTS_PATH)).toMatchObject(
      unauthenticated,
    );
    expect(await refusal({ [PULL_TOKEN_HEADER]: await tokenFor(b, a, [room], -60) })).toMatchObject(
      { ...unauthenticated, message: 'pull token has expired' },
    );
    // Signed for c's feed: a's feed is not its audience.
    expect(await refusal({ [PULL_TOKEN_HEADER]: await tokenFor(b, c, [room]) })).toMatchObject({
      ...unauthenticated,
      message: expect.stringMatching(/aud/),
    });
    // A user's token (an ADMIN's, even) is not a pull token.
    expect(await refusal({ [PULL_TOKEN_HEADER]: central.adminToken })).toMatchObject(
      unauthenticated,
    );
    const good = await tokenFor(b, a, [room]);
    const [head64, body64] = good.split('.');
    expect(
      await refusal({ [PULL_TOKEN_HEADER]: `${head64}.${body64}.${'A'.repeat(86)}` }),
    ).toMatchObject(unauthenticated);
    expect(await refusal({ [PULL_TOKEN_HEADER]: 'x'.repeat(10_000) })).toMatchObject(
      unauthenticated,
    );
    // A token names its room set: a wider, narrower or other set needs its own token.
    const forbidden = { status: 403, code: 'FORBIDDEN' };
    for (const [tokenRooms, asked] of [
      [[room], `${room},${other}`],
      [[room, other], room],
      [[other], room],
    ] as const) {
      const answer = await feed(
        a,
        { after: String(head(a)), rooms: asked },
        { [PULL_TOKEN_HEADER]: await tokenFor(b, a, tokenRooms) },
      );
      expect(answer.status).toBe(403);
      expect(answer.body.errors[0].extensions.code).toBe(forbidden.code);
      expect(JSON.stringify(answer.body)).not.toContain('pending');
    }
    expect(snapshot(a.node.db)).toEqual(before);
    // The same room set in another order is the same set.
    const both = await tokenFor(b, a, [other, room]);
    expect(
      (
        await feed(
          a,
          { after: String(head(a)), rooms: `${room},${other}` },
          { [PULL_TOKEN_HEADER]: both },
        )
      ).status,
    ).toBe(200);
  });

  it("answers 503 while central's keys cannot be fetched, then serves the same token", async () => {
    let failing = 1;
    const real = remoteUserKeys(central.url);
    const flaky: JWTVerifyGetKey = (header, token) => {
      if (failing > 0) {
        failing -= 1;
        return Promise.reject(new joseErrors.JWKSTimeout());
      }
      return real(header, token);
    };
    const source = await startSyncNode('sync-keyless', { userKeys: flaky });
    const room = newRoom();
    post(source, room, 'behind a flaky JWKS');
    const headers = { [PULL_TOKEN_HEADER]: await tokenFor(b, source, [room]) };
    const down = await feed(source, { after: '0', rooms: room }, headers);
    expect(down.status).toBe(503);
    expect(down.body.errors[0].extensions.code).toBe('NODE_UNAVAILABLE');
    expect(down.body.errors[0].message).toMatch(/cannot check the pull token now/);
    expect((await feed(source, { after: '0', rooms: room }, headers)).status).toBe(200);

    // A target retries a source that answers 503 for a moment, and completes the session.
    failing = 2;
    const outcome = await pull(b, source, [room], 'FULL');
    expect(failing).toBe(0);
    expect(outcome.status).toBe('COMPLETED');
    expect(rows(b, room)).toEqual(rows(source, room));
  });

  it('a long session renews its token before it runs out (less than 2 minutes left), and shows no API key', async () => {
    const room = newRoom();
    for (let i = 0; i < 10; i++) post(a, room, `long ${i}`);
    const since = renewals.length;
    // The job's token has 90 s left: renewed before the first request. The first renewal is
    // short-lived too, the second is not: two renewals, then none for the rest of the session.
    let renewed = 0;
    renew = (grant) => sign(grant, (renewed += 1) === 1 ? 90 : undefined);
    try {
      const outcome = await b.node.puller.enqueue(await job(b, a, [room], 'FULL', 90));
      expect(outcome.status).toBe('COMPLETED');
      expect(outcome.messagesSynced).toBe(10);
    } finally {
      renew = (grant) => sign(grant);
    }
    expect(renewals.slice(since)).toEqual([
      { sourceNodeId: a.node.nodeId, targetNodeId: b.node.nodeId, roomIds: [room] },
      { sourceNodeId: a.node.nodeId, targetNodeId: b.node.nodeId, roomIds: [room] },
    ]);
    expect(rows(b, room)).toEqual(rows(a, room));

    // A session whose token does not need renewal never asks central.
    const quiet = renewals.length;
    post(a, room, 'one more');
    expect((await pull(b, a, [room])).status).toBe('COMPLETED');
    expect(renewals.length).toBe(quiet);
  });

  it('serves each changed message once, as its current version at its newest seq', async () => {
    const room = newRoom();
    const base = head(a);
    const m1 = post(a, room, 'v1');
    a.node.store.edit(m1.id, 'v2');
    const m2 = post(a, room, 'other');
    a.node.store.edit(m1.id, 'v3');

    const batch = await changes(a, base, [room]);
    expect(batch.sourceNodeId).toBe(a.node.nodeId);
    expect(batch.versions.map((v) => [v.id, v.seq, v.op, v.content])).toEqual([
      [m2.id, base + 3, 'create', 'other'],
      [m1.id, base + 4, 'update', 'v3'],
    ]);
    const current = a.node.store.get(m1.id);
    expect(batch.versions[1]).toMatchObject({
      roomId: room,
      senderId: 'user-1',
      contentHash: current?.contentHash,
      hlc: current?.hlc,
      originNode: a.node.nodeId,
      createdAt: current?.createdAt.getTime(),
      updatedAt: current?.updatedAt.getTime(),
      deletedAt: null,
    });
    expect(batch.nextAfter).toBe(base + 4);
    expect(batch.headSeq).toBe(base + 4);

    // Older changes of a message are skipped even in a batch that ends before its newest one.
    const one = await changes(a, base, [room], 1);
    expect(one.versions.map((v) => v.id)).toEqual([m2.id]);
    expect(one.nextAfter).toBe(base + 3);
  });

  it('filters rooms, and nextAfter moves past the rows it filtered out', async () => {
    const [r1, r2] = [newRoom(), newRoom()];
    const base = head(a);
    const x = post(a, r1, 'x');
    post(a, r2, 'skipped 1');
    post(a, r2, 'skipped 2');
    const y = post(a, r1, 'y');
    post(a, r2, 'skipped 3');

    const first = await changes(a, base, [r1], 1);
    expect(first.versions.map((v) => v.id)).toEqual([x.id]);
    expect(first.nextAfter).toBe(base + 1);
    const second = await changes(a, first.nextAfter, [r1], 1);
    expect(second.versions.map((v) => v.id)).toEqual([y.id]);
    expect(second.nextAfter).toBe(base + 4);
    // Short of the limit: nothing else of r1 up to the head, so the caller may skip to it.
    const last = await changes(a, second.nextAfter, [r1], 1);
    expect(last.versions).toEqual([]);
    expect(last.nextAfter).toBe(base + 5);
    expect(last.headSeq).toBe(base + 5);

    const none = await changes(a, base, []);
    expect(none.versions).toEqual([]);
    expect(none.nextAfter).toBe(base + 5);
  });

  it('acknowledges `after`: messages changed up to it become SYNCED, later changes stay PENDING', async () => {
    const room = newRoom();
    const base = head(a);
    const x = post(a, room, 'x');
    const y = post(a, room, 'y');
    expect(status(a, x.id)).toEqual({ sync_status: 'PENDING', last_sync_attempt: null });

    // Serving writes no message row: the send is one row of sync_sends, dated by the batch.
    const messagesBefore = (snapshot(a.node.db) as { messages: unknown }).messages;
    const served = await changes(a, base, [room]);
    expect(served.versions).toHaveLength(2);
    expect(served.sentAt).toEqual(expect.any(Number));
    expect((snapshot(a.node.db) as { messages: unknown }).messages).toEqual(messagesBefore);
    expect(status(a, x.id)).toEqual({ sync_status: 'PENDING', last_sync_attempt: null });

    a.node.store.edit(y.id, 'y2');
    const second = await changes(a, served.nextAfter, [room]);
    // The acknowledgement dates what was served with the batch's time, the one the peer keeps.
    expect(status(a, x.id)).toEqual({ sync_status: 'SYNCED', last_sync_attempt: served.sentAt });
    // y changed after it was served: its new version was never sent.
    expect(status(a, y.id)).toEqual({ sync_status: 'PENDING', last_sync_attempt: null });

    // Another room's acknowledgement does not touch this one.
    await changes(a, head(a), [newRoom()]);
    expect(status(a, y.id).sync_status).toBe('PENDING');
    await changes(a, head(a), [room]);
    expect(status(a, y.id)).toEqual({ sync_status: 'SYNCED', last_sync_attempt: second.sentAt });
  });

  it('marks a version the peer says it refused FAILED instead of SYNCED, and refuses a bad `refused` list', async () => {
    const room = newRoom();
    const base = head(a);
    const good = post(a, room, 'good');
    const bad = post(a, room, 'bad');
    const served = await changes(a, base, [room]);
    const badSeq = served.versions.find((v) => v.id === bad.id)!.seq;

    for (const refused of ['x', String(served.nextAfter + 1), '0']) {
      const before = snapshot(a.node.db);
      const answer = await feed(a, {
        after: String(served.nextAfter),
        refused,
        rooms: room,
      });
      expect(answer.status).toBe(400);
      expect(answer.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(snapshot(a.node.db)).toEqual(before);
    }

    const told = await feed(a, {
      after: String(served.nextAfter),
      refused: String(badSeq),
      rooms: room,
    });
    expect(told.status).toBe(200);
    expect(status(a, good.id)).toEqual({ sync_status: 'SYNCED', last_sync_attempt: served.sentAt });
    expect(status(a, bad.id)).toEqual({ sync_status: 'FAILED', last_sync_attempt: served.sentAt });
    // A later acknowledgement by any peer does not hide the refusal; a new version starts over.
    await changes(a, head(a), [room]);
    expect(status(a, bad.id).sync_status).toBe('FAILED');
    a.node.store.edit(bad.id, 'bad, edited');
    expect(status(a, bad.id)).toEqual({ sync_status: 'PENDING', last_sync_attempt: null });
  });

  it('acknowledges only up to `ack` when asked ahead, and refuses an `ack` beyond `after`', async () => {
    const room = newRoom();
    const base = head(a);
    const x = post(a, room, 'x');
    const served = await changes(a, base, [room]);
    expect(served.versions.map((v) => v.id)).toEqual([x.id]);

    // The caller asks for what follows while still applying `served`: nothing is acknowledged.
    const ahead = await feed(a, {
      after: String(served.nextAfter),
      ack: String(base),
      rooms: room,
    });
    expect(ahead.status).toBe(200);
    expect(status(a, x.id).sync_status).toBe('PENDING');

    const beyond = await feed(a, {
      after: String(base),
      ack: String(served.nextAfter),
      rooms: room,
    });
    expect(beyond.status).toBe(400);
    expect(beyond.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(beyond.body.errors[0].message).toMatch(/ack .* must not exceed after/);
    expect(status(a, x.id).sync_status).toBe('PENDING');

    await feed(a, { after: String(served.nextAfter), ack: String(served.nextAfter), rooms: room });
    expect(status(a, x.id).sync_status).toBe('SYNCED');
  });

  it('acknowledges a session whose request sent ahead came back empty', async () => {
    const room = newRoom();
    // Three versions fill a batch (A serves at most 3); a later change in another room leaves the
    // source's head beyond them, so the target asks ahead, and that request finds nothing here.
    const posted = Array.from({ length: 3 }, (_, i) => post(a, room, `ahead ${i}`));
    post(a, newRoom(), 'elsewhere');
    const outcome = await pull(b, a, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 3, cursor: head(a) });
    for (const row of posted) expect(status(a, row.id).sync_status).toBe('SYNCED');
  });

  it('caps the batch at --sync-max-batch-size and refuses bad parameters', async () => {
    const room = newRoom();
    const base = head(a);
    for (let i = 0; i < 5; i += 1) post(a, room, `m${i}`);
    const capped = await changes(a, base, [room], 1000);
    expect(capped.versions).toHaveLength(3);
    expect(capped.nextAfter).toBe(base + 3);

    const before = snapshot(a.node.db);
    const ahead = await feed(a, { after: String(head(a) + 100), rooms: room });
    expect(ahead.status).toBe(409);
    expect(ahead.body.errors[0].extensions.code).toBe('CONFLICT');
    expect(ahead.body.errors[0].message).toMatch(/ahead of this node's change log/);
    for (const [params, message] of [
      [{ after: '-1', rooms: room }, 'after must be a non-negative integer, got "-1"'],
      [{ after: '0', rooms: room, limit: '0' }, 'limit must be at least 1'],
      [
        { after: '0', rooms: room, limit: 'ten' },
        'limit must be a non-negative integer, got "ten"',
      ],
      [{ after: '0' }, 'rooms is required: a comma-separated list of room ids (may be empty)'],
      [{ after: '0', rooms: `${room},` }, 'rooms must not contain an empty room id'],
    ] as const) {
      const refused = await feed(a, params);
      expect(refused.status).toBe(400);
      expect(refused.body.errors[0]).toMatchObject({
        message,
        extensions: { code: 'BAD_USER_INPUT' },
      });
    }
    const posted = await fetch(`${a.node.url}${SYNC_CHANGES_PATH}`, {
      method: 'POST',
      headers: { [PULL_TOKEN_HEADER]: await tokenFor(b, a, []) },
    });
    expect(posted.status).toBe(405);
    expect(snapshot(a.node.db)).toEqual(before);
  });

  it('serves per-room digests that do not depend on the order versions were written in', async () => {
    const room = newRoom();
    const m = [post(a, room, 'one'), post(a, room, 'two'), post(a, room, 'three')];
    a.node.store.delete(m[1]!.id);
    const versions: RemoteVersion[] = m.map((row) => {
      const current = a.node.store.get(row.id)!;
      return { ...current };
    });
    // The same versions, applied in opposite orders on two other nodes.
    b.node.store.applyRemote(versions);
    c.node.store.applyRemote([...versions].reverse());

    const empty = newRoom();
    const served = await feed(a, { rooms: `${room},${empty}` }, {}, SYNC_DIGESTS_PATH);
    expect(served.status).toBe(200);
    const digests = served.body as RoomDigests;
    expect(digests.digests[room]).toEqual({
      digest: expect.stringMatching(/^[0-9a-f]{64}$/),
      count: 3,
    });
    expect(digests.digests[empty]).toEqual({ digest: EMPTY_DIGEST, count: 0 });
    expect(roomDigests(b.node.db, [room]).digests[room]).toEqual(digests.digests[room]);
    expect(roomDigests(c.node.db, [room]).digests[room]).toEqual(digests.digests[room]);

    c.node.store.edit(m[0]!.id, 'changed on c');
    expect(roomDigests(c.node.db, [room]).digests[room]?.digest).not.toBe(
      digests.digests[room]?.digest,
    );
  });
});

describe('pulling', () => {
  it('INCREMENTAL moves a room to the target in batches, with the cursor, and reports each batch', async () => {
    const room = newRoom();
    const posted = Array.from({ length: 7 }, (_, i) => post(a, room, `message ${i}`));
    a.node.store.edit(posted[2]!.id, 'edited before any sync');
    a.node.store.delete(posted[4]!.id);
    const sourceHead = head(a);

    const outcome = await pull(b, a, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', messagesSynced: 7, applied: 7 });
    expect(rows(b, room)).toEqual(rows(a, room));
    expect(readCursor(b.node.db.db, a.node.nodeId, [room])).toBe(sourceHead);
    expect(outcome.cursor).toBe(sourceHead);

    const sent = reportsOf(outcome.sessionId);
    expect(sent.map((r) => [r.status, r.messagesSynced, r.messagesTotal])).toEqual([
      ['IN_PROGRESS', 3, 7],
      ['IN_PROGRESS', 6, 7],
      ['IN_PROGRESS', 7, 7],
      ['COMPLETED', 7, 7],
    ]);
    expect(sent.at(-1)).toMatchObject({ cursor: sourceHead, sourceHeadSeq: sourceHead });
    const applied = sent.flatMap((r) => r.applied);
    expect(applied).toHaveLength(7);
    expect(new Set(applied.map((change) => change.messageId))).toEqual(
      new Set(posted.map((row) => row.id)),
    );
    // New on the target: CREATE, even for the one deleted before it ever synced.
    expect(applied.every((change) => change.action === 'CREATE')).toBe(true);
    expect(applied.find((change) => change.messageId === posted[4]!.id)).toMatchObject({
      hlc: a.node.store.get(posted[4]!.id)?.hlc,
      deleted: true,
      roomId: room,
      originNode: a.node.nodeId,
    });
    // The last (empty) request acknowledged everything: the source knows they are held elsewhere.
    for (const row of posted) expect(status(a, row.id).sync_status).toBe('SYNCED');

    // Nothing new: a second session moves nothing and writes nothing.
    const logRows = changeRows(b, room);
    const again = await pull(b, a, [room]);
    expect(again).toMatchObject({ status: 'COMPLETED', messagesSynced: 0, applied: 0 });
    expect(changeRows(b, room)).toBe(logRows);

    // Edits and deletes after the cursor arrive as UPDATE and DELETE.
    a.node.store.edit(posted[0]!.id, 'edited later');
    a.node.store.delete(posted[1]!.id);
    const later = await pull(b, a, [room]);
    expect(later).toMatchObject({ status: 'COMPLETED', messagesSynced: 2, applied: 2 });
    expect(
      reportsOf(later.sessionId)
        .flatMap((r) => r.applied)
        .map((change) => [change.messageId, change.action]),
    ).toEqual([
      [posted[0]!.id, 'UPDATE'],
      [posted[1]!.id, 'DELETE'],
    ]);
    expect(rows(b, room)).toEqual(rows(a, room));
  });

  it('FULL replays from 0 without changing anything already there, and checks digests', async () => {
    const room = newRoom();
    for (let i = 0; i < 4; i += 1) post(a, room, `full ${i}`);
    const first = await pull(b, a, [room], 'FULL');
    expect(first).toMatchObject({ status: 'COMPLETED', applied: 4, digestsMatch: true });
    expect(reportsOf(first.sessionId).at(-1)).toMatchObject({
      status: 'COMPLETED',
      digestsMatch: true,
    });

    // Sent again, the versions only get the new send's time (on both copies: see below).
    const before = withoutSendTimes(snapshot(b.node.db));
    const replay = await pull(b, a, [room], 'FULL');
    expect(replay).toMatchObject({
      status: 'COMPLETED',
      messagesSynced: 0,
      messagesChecked: 4,
      applied: 0,
    });
    expect(replay.digestsMatch).toBe(true);
    expect(withoutSendTimes(snapshot(b.node.db))).toEqual(before);
    const replayed = rows(a, room).map((row) => (row as { id: string }).id);
    for (const id of replayed) expect(status(b, id)).toEqual(status(a, id));

    // A cursor set back (a replayed batch) applies nothing twice either.
    saveCursor(b.node.db.db, a.node.nodeId, [room], 0);
    const rewound = await pull(b, a, [room]);
    expect(rewound).toMatchObject({ status: 'COMPLETED', applied: 0 });
    expect(withoutSendTimes(snapshot(b.node.db))).toMatchObject({
      messages: (before as { messages: unknown }).messages,
      changeLog: (before as { changeLog: unknown }).changeLog,
    });
  });

  it('FULL reports digests that differ when the target holds what the source lacks', async () => {
    const room = newRoom();
    post(a, room, 'on a');
    post(c, room, 'only on c');
    const outcome = await pull(c, a, [room], 'FULL');
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 1, digestsMatch: false });
  });

  it('a room newly shared with the source starts from 0, not from the cursor of the others', async () => {
    const [old, added] = [newRoom(), newRoom()];
    post(a, added, 'written before the pair shared this room');
    post(a, old, 'in the room the pair shared from the start');
    expect((await pull(b, a, [old])).applied).toBe(1);
    const outcome = await pull(b, a, [old, added]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 1 });
    expect(rows(b, added)).toEqual(rows(a, added));
    expect(readCursor(b.node.db.db, a.node.nodeId, [old, added])).toBe(head(a));
  });

  it("pulls only the job's rooms", async () => {
    const [wanted, other] = [newRoom(), newRoom()];
    post(a, wanted, 'wanted');
    post(a, other, 'not asked for');
    const outcome = await pull(b, a, [wanted]);
    expect(outcome.status).toBe('COMPLETED');
    expect(rows(b, wanted)).toEqual(rows(a, wanted));
    expect(rows(b, other)).toEqual([]);
  });

  it('quarantines a version with a wrong content hash, applies the rest, and moves on', async () => {
    const room = newRoom();
    const good = post(a, room, 'fine');
    const bad = post(a, room, 'will be tampered with');
    a.node.db.sqlite.prepare("UPDATE messages SET content = 'tampered' WHERE id = ?").run(bad.id);

    const outcome = await pull(b, a, [room]);
    expect(outcome).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 1 });
    const reason = `contentHash: ${bad.contentHash} is not the SHA-256 of the content`;
    expect(reportsOf(outcome.sessionId).flatMap((r) => r.quarantined ?? [])).toEqual([
      { messageId: bad.id, roomId: room, hlc: bad.hlc, seq: expect.any(Number), reason },
    ]);
    expect(b.node.store.get(good.id)?.content).toBe('fine');
    expect(b.node.store.get(bad.id)).toBeUndefined();
    expect(readCursor(b.node.db.db, a.node.nodeId, [room])).toBe(head(a));
    // The target told the source with its acknowledgement: the refused version is FAILED there,
    // the other SYNCED, both dated by the one send, as the target's copy of the good one is.
    expect(status(a, bad.id)).toEqual({
      sync_status: 'FAILED',
      last_sync_attempt: expect.any(Number),
    });
    expect(status(a, good.id)).toEqual(status(b, good.id));
    expect(status(a, good.id).sync_status).toBe('SYNCED');
  });

  it('refuses a batch whose seqs are out of order whole: FAILED with the reason, target unchanged', async () => {
    const room = newRoom();
    post(a, room, 'fine');
    const source = await hostileSource((after) => ({
      sourceNodeId: a.node.nodeId,
      versions: [{ seq: after + 2 }, { seq: after + 1 }],
      nextAfter: after + 2,
      headSeq: after + 2,
    }));
    const before = snapshot(b.node.db);
    const outcome = await b.node.puller.enqueue({
      ...(await job(b, a, [room])),
      sourceUrl: source,
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toMatch(
      /^batch after seq \d+ from .+ refused, nothing of it applied: versions\[1\]\.seq: \d+ is not greater than the previous seq \d+$/,
    );
    expect(reportsOf(outcome.sessionId).at(-1)).toMatchObject({
      status: 'FAILED',
      error: outcome.error,
      applied: [],
    });
    expect(snapshot(b.node.db)).toEqual(before);
  });

  it('a source that refuses the pull token fails the session with the reason after one renewal, target unchanged', async () => {
    const d = await startSyncNode('sync-d');
    const room = newRoom();
    post(a, room, 'not for d');
    const since = renewals.length;
    // Central's renewal gives a token the source refuses too (as after a revoked signing key).
    renew = async (grant) => ({
      token: (await sign(grant, -60)).token,
      expiresAt: Date.now() + 600_000,
    });
    const before = snapshot(d.node.db);
    let outcome: SessionOutcome;
    try {
      outcome = await d.node.puller.enqueue({
        ...(await job(d, a, [room])),
        pullToken: await tokenFor(d, a, [room], -60),
        // Not yet due for renewal as far as d knows: the source's refusal makes it renew.
        pullTokenExpiresAt: Date.now() + 600_000,
      });
    } finally {
      renew = (grant) => sign(grant);
    }
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toBe(
      `source node ${a.node.nodeId} at ${a.node.url} refused the pull token: pull token has expired`,
    );
    expect(renewals.length - since).toBe(1);
    expect(snapshot(d.node.db)).toEqual(before);
  });

  it('an unreachable source fails the session with the reason, naming the source by name then id', async () => {
    const unused = createServer();
    const port = await listen(unused, 0);
    await new Promise((resolve) => unused.close(resolve));
    const outcome = await b.node.puller.enqueue({
      ...(await job(b, a, [newRoom()])),
      sourceNodeName: 'node-a',
      sourceUrl: `http://127.0.0.1:${port}`,
    });
    expect(outcome.status).toBe('FAILED');
    expect(outcome.error).toMatch(
      new RegExp(
        `^source node node-a \\(${a.node.nodeId}\\) at http://127.0.0.1:${port} is unreachable: .*ECONNREFUSED`,
      ),
    );
    expect(reportsOf(outcome.sessionId)).toMatchObject([{ status: 'FAILED' }]);
  });

  it('a failure inside the apply transaction keeps rows and cursor; the rerun applies each once', async () => {
    const room = newRoom();
    post(a, room, 'already there');
    await pull(b, a, [room]);
    for (let i = 0; i < 5; i += 1) post(a, room, `crash ${i}`);
    const cursor = readCursor(b.node.db.db, a.node.nodeId, [room]);
    const before = snapshot(b.node.db);

    const restore = failInsertsInto(b.node.db.sqlite, 'sync_cursors');
    let failed: SessionOutcome;
    try {
      failed = await pull(b, a, [room]);
    } finally {
      restore();
    }
    expect(failed.status).toBe('FAILED');
    expect(failed.error).toMatch(/could not be applied, nothing of it was: .*forced failure/);
    expect(snapshot(b.node.db)).toEqual(before);
    expect(readCursor(b.node.db.db, a.node.nodeId, [room])).toBe(cursor);

    const rerun = await pull(b, a, [room]);
    expect(rerun).toMatchObject({ status: 'COMPLETED', applied: 5 });
    expect(rows(b, room)).toEqual(rows(a, room));
    expect(changeRows(b, room)).toBe(6);
  });

  it('stops when central answers continue: false', async () => {
    const room = newRoom();
    for (let i = 0; i < 7; i += 1) post(a, room, `stop ${i}`);
    const stopped = await job(b, a, [room]);
    continueSession = (report) => report.sessionId !== stopped.sessionId;
    let outcome: SessionOutcome;
    try {
      outcome = await b.node.puller.enqueue(stopped);
    } finally {
      continueSession = () => true;
    }
    expect(outcome).toMatchObject({ status: 'STOPPED', applied: 3 });
    expect(reportsOf(stopped.sessionId).map((r) => r.status)).toEqual(['IN_PROGRESS']);
    expect(rows(b, room)).toHaveLength(3);
  });

  it('runs one session at a time per source, in order, and skips a session it already has', async () => {
    const room = newRoom();
    for (let i = 0; i < 7; i += 1) post(a, room, `queued ${i}`);
    const first = await job(b, a, [room]);
    const second = await job(b, a, [room]);
    const outcomes = await Promise.all([
      b.node.puller.enqueue(first),
      b.node.puller.enqueue(second),
      b.node.puller.enqueue(first),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['COMPLETED', 'COMPLETED', 'SKIPPED']);
    expect(outcomes[0]?.applied).toBe(7);
    expect(outcomes[1]?.applied).toBe(0);
    const order = reports
      .filter((r) => r.sessionId === first.sessionId || r.sessionId === second.sessionId)
      .map((r) => (r.sessionId === first.sessionId ? 'first' : 'second'));
    expect(order.indexOf('second')).toBeGreaterThan(order.lastIndexOf('first'));
  });
});

describe('convergence', () => {
  const nodes = () => [a, b, c];
  const pairs = () =>
    nodes().flatMap((target) =>
      nodes()
        .filter((source) => source !== target)
        .map((source) => [target, source] as const),
    );

  async function syncAll(roomId: string, order: ReadonlyArray<readonly [SyncNode, SyncNode]>) {
    for (const [target, source] of order) {
      expect((await pull(target, source, [roomId])).status).toBe('COMPLETED');
    }
  }

  it('concurrent edits on three nodes converge to the same winner whatever the sync order', async () => {
    const orders = [pairs(), [...pairs()].reverse(), [...pairs().slice(3), ...pairs().slice(0, 3)]];
    for (const order of orders) {
      const room = newRoom();
      const m = post(a, room, 'original');
      await syncAll(room, [
        [b, a],
        [c, a],
      ]);
      const edits = nodes().map((n) => n.node.store.edit(m.id, `edited on ${n.node.name}`));
      const winner = edits.reduce((best, row) => (row.hlc > best.hlc ? row : best));

      await syncAll(room, order);
      for (const n of nodes()) {
        expect(n.node.store.get(m.id)).toMatchObject({ content: winner.content, hlc: winner.hlc });
      }
      expect(rows(b, room)).toEqual(rows(a, room));
      expect(rows(c, room)).toEqual(rows(a, room));
      const digest = roomDigests(a.node.db, [room]);
      expect(roomDigests(b.node.db, [room])).toEqual(digest);
      expect(roomDigests(c.node.db, [room])).toEqual(digest);
    }
  });

  it('a delete concurrent with a later edit is never undone by any sync', async () => {
    const room = newRoom();
    const m = post(a, room, 'to be deleted');
    await syncAll(room, [[b, a]]);
    const tombstone = a.node.store.delete(m.id);
    const edit = b.node.store.edit(m.id, 'edited after the delete, elsewhere');
    expect(edit.hlc > tombstone.hlc).toBe(true);

    await syncAll(room, [
      [a, b],
      [b, a],
      [c, b],
      [c, a],
      [a, c],
    ]);
    expect((await pull(a, b, [room], 'FULL')).status).toBe('COMPLETED');
    for (const n of nodes()) {
      expect(n.node.store.get(m.id)).toMatchObject({ content: '', hlc: tombstone.hlc });
      expect(n.node.store.get(m.id)?.deletedAt).not.toBeNull();
    }
    expect(rows(b, room)).toEqual(rows(a, room));
    expect(rows(c, room)).toEqual(rows(a, room));
  });
});

describe('stopping', () => {
  it('close() cancels the request in flight, starts no batch, and waits for the session', async () => {
    const e = await startSyncNode('sync-e');
    let requested: () => void = () => {};
    const requestArrived = new Promise<void>((resolve) => (requested = resolve));
    // A source that takes the request and never answers.
    const hanging = createServer(() => requested());
    const port = await listen(hanging, 0);
    leftovers.defer(() => {
      hanging.closeAllConnections();
      return new Promise<void>((resolve) => hanging.close(() => resolve()));
    });
    const before = snapshot(e.node.db);

    const session = e.node.puller.enqueue({
      ...(await job(e, a, [newRoom()])),
      sourceUrl: `http://127.0.0.1:${port}`,
    });
    await requestArrived;
    await e.node.close();
    const outcome = await session;
    expect(outcome.status).toBe('STOPPED');
    expect(reportsOf(outcome.sessionId)).toMatchObject([
      { status: 'FAILED', error: 'the target node shut down during the session' },
    ]);
    // The database is closed now: reopen the file to show that nothing was written.
    const { openNodeDb } = await import('../../subgraphs/node/db/open.ts');
    const reopened = openNodeDb(e.node.db.file);
    try {
      expect(snapshot(reopened)).toEqual(before);
    } finally {
      reopened.close();
    }
  });
});
