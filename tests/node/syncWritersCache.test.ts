// Writer checks without a round trip to central per batch (issue 15): a node keeps what central
// said of a room's writers and judges the batches that follow by it. A real central behind a
// recording proxy (every request the node sends central is counted), a real node pulling from a
// hand-written source (a real HTTP server serving versions of a room stored by another node, so
// their times can be anything), and the node's own writer checks with a clock the test moves to
// run out the minute an open membership is trusted for.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import {
  SYNC_AUTHORITY_PATH,
  SYNC_CHANGES_PATH,
  type SyncReport,
  type WireVersion,
} from '../../lib/syncProtocol.ts';
import { createCentralClient } from '../../subgraphs/node/centralClient.ts';
import { sha256Hex } from '../../subgraphs/node/content.ts';
import { encodeHlc } from '../../subgraphs/node/hlc.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { WRITER_TRUST_MS } from '../../subgraphs/node/sync/writerRights.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { RecordingProxy } from '../helpers/recordingHttpProxy.ts';
import { heartbeat } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
let proxy: RecordingProxy;
let target: NodeServer;
/** The writer checks' clock on the target. */
let writerClock = 0;
const reports: SyncReport[] = [];
/** A registered node that stores the room with the target; it never runs. */
let originId: string;
let room: string;
let alice: { id: string; token: string };
let bob: { id: string; token: string };
const log: WireVersion[] = [];
let source: { id: string; url: string };

beforeAll(async () => {
  // Neither node here acknowledges central's notices (the origin never runs, the target runs no
  // job stream: the cache under test must not hear of bob's leave), so his leave waits out
  // central's whole deadline: a short one.
  central = await startTestCentral(leftovers, { membershipNoticeDeadlineMs: 100 });
  proxy = leftovers.add(await RecordingProxy.start(), (p) => p.close());
  proxy.retarget(central.url);
  const origin = await central.registerNode('cache-origin');
  originId = origin.id;
  expect((await heartbeat(central.url, origin.apiKey, 'http://127.0.0.1:1/origin')).status).toBe(
    200,
  );
  const registered = await central.registerNode('cache-target');
  const real = createCentralClient({ centralUrl: proxy.url, apiKey: registered.apiKey });
  target = leftovers.add(
    await startNode({
      name: 'cache-target',
      dataDir: await leftovers.tempDir('switchboard-cache-target-'),
      centralUrl: proxy.url,
      apiKey: registered.apiKey,
      // Central's real client, through the proxy; only the session reports stay here, as the
      // sessions are this test's, not central's.
      central: {
        ...real,
        reportSync(report) {
          reports.push(report);
          return Promise.resolve({ continue: true });
        },
        async roomsChanged() {},
        openSyncJobs: () => Promise.reject(new Error('not used: sync is off in this test')),
      },
      sync: false,
      logger: silentLogger,
      writerChecks: { clock: () => writerClock },
    }),
    (n) => n.close(),
  );
  alice = await central.createUser('alice');
  bob = await central.createUser('bob');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      central.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "cached", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: originId, r: [target.nodeId] },
      { token: alice.token },
    ),
  ).createRoom.id;
  ok(await gql(central.url, `mutation { joinRoom(roomId: "${room}") { id } }`, {}, bob));
  source = await feed();
});

/** A real HTTP server serving `log` as a change feed: the versions after `after`. */
async function feed(): Promise<{ id: string; url: string }> {
  const id = `cache-source-${randomUUID()}`;
  const server = createServer((request, response) => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    let body: unknown = { digests: {} };
    if (url.pathname === SYNC_CHANGES_PATH) {
      const after = Number(url.searchParams.get('after'));
      const head = log.at(-1)?.seq ?? 0;
      body = {
        sourceNodeId: id,
        versions: log.filter((v) => v.seq > after),
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

/** Adds a new message by `sender`, created at `createdAt` on the origin, to the source's log. */
function posted(sender: { id: string }, createdAt: number): WireVersion {
  const seq = log.length + 1;
  const content = `message ${seq}`;
  const now = Date.now();
  const version: WireVersion = {
    seq,
    op: 'create',
    id: randomUUID(),
    roomId: room,
    senderId: sender.id,
    content,
    contentHash: sha256Hex(content),
    createdAt,
    updatedAt: createdAt,
    deletedAt: null,
    hlc: encodeHlc({ physical: now, logical: seq, node: originId }),
    originNode: originId,
  };
  log.push(version);
  return version;
}

/** One INCREMENTAL session from the source, as central would assign it. */
async function pull() {
  const grant = await central.central.services.tokens.signPull({
    sourceNodeId: source.id,
    targetNodeId: target.nodeId,
    roomIds: [room],
  });
  return target.puller.enqueue({
    sessionId: randomUUID(),
    syncType: 'INCREMENTAL',
    sourceNodeId: source.id,
    sourceUrl: source.url,
    roomIds: [room],
    batchSize: 1000,
    pullToken: grant.token,
    pullTokenExpiresAt: grant.expiresAt,
  });
}

/** Writer checks the target asked central for, so far. */
const asked = () => proxy.requests.filter((r) => r.url === SYNC_AUTHORITY_PATH).length;

const quarantined = (sessionId: string) =>
  reports.filter((r) => r.sessionId === sessionId).flatMap((r) => r.quarantined ?? []);

describe("central's word on writers, kept by the node", () => {
  it('asks once for a room and its senders; their later messages, and a removed member’s older ones, are judged without central; newer ones are refused', async () => {
    const t0 = Date.now();
    const first = await pull();
    expect(first.status).toBe('COMPLETED');
    posted(alice, t0);
    posted(bob, t0 + 1);
    expect(await pull()).toMatchObject({ status: 'COMPLETED', applied: 2, quarantined: 0 });
    expect(asked()).toBe(1);

    // A second batch by the same senders: no request to central at all.
    posted(alice, t0 + 2);
    posted(bob, t0 + 3);
    expect(await pull()).toMatchObject({ status: 'COMPLETED', applied: 2, quarantined: 0 });
    expect(asked()).toBe(1);

    // Bob leaves. His message made before that, arriving now, still applies, and is judged by
    // what central said while he was a member.
    ok(await gql(central.url, `mutation { leaveRoom(roomId: "${room}") { id } }`, {}, bob));
    const left = Date.now();
    const before = posted(bob, t0 + 4);
    expect(await pull()).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 0 });
    expect(target.store.get(before.id)).toBeDefined();
    expect(asked()).toBe(1);

    // The minute an open membership is trusted for runs out: a message bob "made" after leaving
    // (beyond the margin) is asked about and refused; alice, still a member, is confirmed.
    writerClock += WRITER_TRUST_MS + 1;
    const after = posted(bob, left + 61_000);
    const stillMember = posted(alice, t0 + 5);
    const refused = await pull();
    expect(refused).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 1 });
    expect(asked()).toBe(2);
    expect(quarantined(refused.sessionId).map((q) => [q.messageId, q.reason])).toEqual([
      [
        after.id,
        `senderId: user ${bob.id} was not a member of room ${room} at the message's createdAt (${new Date(after.createdAt).toISOString()})`,
      ],
    ]);
    expect(target.store.get(after.id)).toBeUndefined();
    expect(target.store.get(stillMember.id)).toBeDefined();

    // Bob's membership is history now: his older messages need central no more.
    const older = posted(bob, t0 + 6);
    expect(await pull()).toMatchObject({ status: 'COMPLETED', applied: 1, quarantined: 0 });
    expect(target.store.get(older.id)).toBeDefined();
    expect(asked()).toBe(2);
  });
});
