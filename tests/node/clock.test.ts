// A fast clock strands nothing (issue 15). A node measures its clock against central's on every
// heartbeat, and refuses writes (CLOCK_SKEW) while it is beyond the drift bound, saying why on
// /ready and /metrics; a version a peer sent with an HLC too far ahead is deferred, not dropped,
// and applied once this node's clock is within the bound of it. Real central, real nodes (HTTP,
// SQLite files); the clocks are injected (the node's wall clock and its monotonic clock), nothing
// sleeps. The source of the deferral test is a real HTTP server serving a hand-made change feed;
// the nodes' central client is central's real one but for the sync reports, the writer check and
// the pull requests, which this file answers.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listen } from '../../lib/http.ts';
import { silentLogger } from '../../lib/log.ts';
import {
  SYNC_CHANGES_PATH,
  type AuthorityQuery,
  type SyncJob,
  type SyncReport,
  type WireVersion,
} from '../../lib/syncProtocol.ts';
import { createCentralClient, type CentralClient } from '../../subgraphs/node/centralClient.ts';
import { sha256Hex } from '../../subgraphs/node/content.ts';
import { encodeHlc } from '../../subgraphs/node/hlc.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { snapshot } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

/** A node whose wall clock and monotonic clock the test moves. */
interface ClockedNode {
  readonly node: NodeServer;
  /** Added to the wall clock only: a skewed clock. */
  skewMs: number;
  /** Added to both clocks, and to central's time as this node hears it: time passing. */
  elapsedMs: number;
}

let central: TestCentral;
let gateway: TestGateway;
let alice: { id: string; token: string };
const reports: SyncReport[] = [];
const pullRequests: string[] = [];
/** Every node registered here; central's word is that each stores every room. */
const registeredIds: string[] = [];

async function register(name: string) {
  const registered = await central.registerNode(name);
  registeredIds.push(registered.id);
  return registered;
}

async function startClockedNode(name: string): Promise<ClockedNode> {
  const registered = await register(name);
  const real = createCentralClient({ centralUrl: central.url, apiKey: registered.apiKey });
  const client: CentralClient = {
    ...real,
    // Time passing moves central's clock too: a sample taken after a step agrees with the earlier
    // ones, instead of a later heartbeat undoing the step.
    async heartbeat(publicUrl, clock) {
      const reply = await real.heartbeat(publicUrl, clock);
      return reply.centralTime === undefined
        ? reply
        : { ...reply, centralTime: reply.centralTime + clocked.elapsedMs };
    },
    reportSync(report) {
      reports.push(report);
      return Promise.resolve({ continue: true });
    },
    syncAuthority: (query: AuthorityQuery) =>
      Promise.resolve({
        storageNodes: Object.fromEntries(query.roomIds.map((room) => [room, registeredIds])),
        senders: query.senders.map(() => true),
      }),
    requestPull(sourceNodeId) {
      pullRequests.push(sourceNodeId);
      return Promise.resolve();
    },
    async roomsChanged() {},
    openSyncJobs: () => Promise.reject(new Error('not used: sync is off in these tests')),
  };
  const clocked: { node?: NodeServer; skewMs: number; elapsedMs: number } = {
    skewMs: 0,
    elapsedMs: 0,
  };
  clocked.node = leftovers.add(
    await startNode({
      name,
      dataDir: await leftovers.tempDir(`switchboard-${name}-`),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      central: client,
      sync: false,
      logger: silentLogger,
      now: () => Date.now() + clocked.skewMs + clocked.elapsedMs,
      monotonic: () => performance.now() + clocked.elapsedMs,
    }),
    (n) => n.close(),
  );
  return clocked as ClockedNode;
}

beforeAll(async () => {
  central = await startTestCentral(leftovers, { heartbeatIntervalMs: 200 });
  gateway = await registerTestGateway(central.url);
  alice = await central.createUser('alice');
});

async function roomOn(node: NodeServer): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      central.url,
      'mutation($n: String!, $h: ID) { createRoom(name: $n, homeNodeId: $h) { id } }',
      { n: `clock-${randomUUID().slice(0, 8)}`, h: node.nodeId },
      { token: alice.token },
    ),
  ).createRoom.id;
}

function post(node: NodeServer, roomId: string, content: string) {
  return gateway.gql<{ postMessage: { id: string } }>(
    node,
    'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
    { r: roomId, c: content },
    { token: alice.token },
  );
}

async function ready(node: NodeServer) {
  const response = await fetch(`${node.url}/ready`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function metric(node: NodeServer, name: string): Promise<number> {
  const text = await (await fetch(`${node.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(name.length + 1));
}

describe('a node beyond the drift bound', () => {
  it('refuses writes with CLOCK_SKEW, says why on /ready and /metrics, and takes them again once back', async () => {
    const a = await startClockedNode('clock-fast');
    const room = await roomOn(a.node);
    const first = ok(await post(a.node, room, 'on time')).postMessage;
    expect((await ready(a.node)).status).toBe(200);
    expect(Math.abs(await metric(a.node, 'switchboard_node_clock_offset_ms'))).toBeLessThan(1000);
    expect(await metric(a.node, 'switchboard_node_clock_within_bound')).toBe(1);

    // The clock steps 164 s ahead: seen at once, without waiting for a heartbeat.
    a.skewMs = 164_000;
    const before = snapshot(a.node.db);
    const refused = await post(a.node, room, 'from the future');
    expect(codes(refused)).toEqual(['CLOCK_SKEW']);
    expect(refused.errors?.[0]?.message).toMatch(
      /^this node's clock is 16[34]\d{3} ms ahead of central's \(±\d+ ms\), beyond the 60000 ms allowed: writes are refused until it is$/,
    );
    const edit = await gateway.gql(
      a.node,
      'mutation($id: ID!) { editMessage(id: $id, content: "later") { id } }',
      { id: first.id },
      { token: alice.token },
    );
    expect(codes(edit)).toEqual(['CLOCK_SKEW']);
    const remove = await gateway.gql(
      a.node,
      'mutation($id: ID!) { deleteMessage(id: $id) { id } }',
      { id: first.id },
      { token: alice.token },
    );
    expect(codes(remove)).toEqual(['CLOCK_SKEW']);
    expect(snapshot(a.node.db)).toEqual(before);

    const notReady = await ready(a.node);
    expect(notReady.status).toBe(503);
    expect(notReady.body).toMatchObject({
      status: 'clock skew',
      nodeId: a.node.nodeId,
      clock: { maxDriftMs: 60_000, withinBound: false },
    });
    expect(notReady.body['reason']).toMatch(/16[34]\d{3} ms ahead of central's/);
    const offset = await metric(a.node, 'switchboard_node_clock_offset_ms');
    expect(offset).toBeLessThan(-163_000);
    expect(offset).toBeGreaterThan(-165_000);
    expect(await metric(a.node, 'switchboard_node_clock_within_bound')).toBe(0);

    // Corrected: writes are taken again.
    a.skewMs = 0;
    expect((await ready(a.node)).status).toBe(200);
    ok(await post(a.node, room, 'on time again'));
  });

  it('a clock behind by more than the bound refuses writes too', async () => {
    const a = await startClockedNode('clock-slow');
    const room = await roomOn(a.node);
    a.skewMs = -90_000;
    const refused = await post(a.node, room, 'from the past');
    expect(codes(refused)).toEqual(['CLOCK_SKEW']);
    expect(refused.errors?.[0]?.message).toMatch(/9\d{4} ms behind central's/);
  });

  it('refuses writes while its HLC, resumed from a fast clock, is beyond the bound ahead of central', async () => {
    const a = await startClockedNode('clock-hlc-ahead');
    const room = await roomOn(a.node);
    // Written to the store directly below: the node must know it holds the room (heldRooms.ts).
    await a.node.held.require(room);
    // A version stamped while the clock ran 100 s fast (before this node measured, or by an
    // older version of it): the HLC never runs back, so every later write would be as far ahead.
    a.skewMs = 100_000;
    a.node.store.post({ roomId: room, senderId: alice.id, content: 'stamped fast' });
    a.skewMs = 0;
    const refused = await post(a.node, room, 'after the fix');
    expect(codes(refused)).toEqual(['CLOCK_SKEW']);
    const message = refused.errors?.[0]?.message ?? '';
    expect(message).toMatch(
      /^this node's HLC is \d+ ms ahead of central's clock \(at most 60000 ms allowed; .*\): writes are refused for \d+ ms more$/,
    );
    // 100 s ahead when stamped, less the real time this test has taken since (seconds under load).
    const ahead = Number(/HLC is (\d+) ms/.exec(message)?.[1]);
    expect(ahead).toBeGreaterThan(60_000);
    expect(ahead).toBeLessThanOrEqual(100_000);
    // Once real time has caught up within the bound, writes go on.
    a.elapsedMs = 41_000;
    ok(await post(a.node, room, 'caught up'));
  });
});

describe('a version too far ahead is deferred, not dropped', () => {
  function version(
    seq: number,
    id: string,
    roomId: string,
    content: string,
    physical: number,
    op: WireVersion['op'] = 'create',
    createdAt = physical,
  ): WireVersion {
    return {
      seq,
      op,
      id,
      roomId,
      senderId: alice.id,
      content,
      contentHash: sha256Hex(content),
      createdAt,
      updatedAt: physical,
      deletedAt: null,
      hlc: encodeHlc({ physical, logical: 0, node: sourceId }),
      originNode: sourceId,
    };
  }
  let versions: WireVersion[] = [];
  let sourceId = '';

  it('applies the rest of the batch, keeps the one 66 s ahead, and applies it when time caught up (HLC order)', async () => {
    const b = await startClockedNode('clock-target');
    sourceId = (await register(`clock-source-${randomUUID().slice(0, 8)}`)).id;
    const room = await roomOn(b.node);
    const now = Date.now();
    const [m1, m2, m3] = [randomUUID(), randomUUID(), randomUUID()];
    versions = [];
    versions.push(
      version(1, m1, room, 'first', now - 2000),
      version(2, m2, room, 'from a fast clock', now + 66_000),
      version(3, m3, room, 'third', now - 1000),
    );
    const server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      let body: unknown = { digests: {} };
      if (url.pathname === SYNC_CHANGES_PATH) {
        const after = Number(url.searchParams.get('after'));
        const head = versions.at(-1)?.seq ?? 0;
        body = {
          sourceNodeId: sourceId,
          versions: versions.filter((v) => v.seq > after),
          nextAfter: Math.max(after, head),
          headSeq: Math.max(after, head),
        };
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
    const port = await listen(server, 0);
    leftovers.add(server, (s) => new Promise<void>((resolve) => s.close(() => resolve())));
    const job = async (): Promise<SyncJob> => {
      const grant = await central.central.services.tokens.signPull({
        sourceNodeId: sourceId,
        targetNodeId: b.node.nodeId,
        roomIds: [room],
      });
      return {
        sessionId: randomUUID(),
        syncType: 'INCREMENTAL',
        sourceNodeId: sourceId,
        sourceUrl: `http://127.0.0.1:${port}`,
        roomIds: [room],
        batchSize: 1000,
        pullToken: grant.token,
        pullTokenExpiresAt: grant.expiresAt,
      };
    };

    const first = await b.node.puller.enqueue(await job());
    expect(first).toMatchObject({ status: 'COMPLETED', applied: 2, quarantined: 1, cursor: 3 });
    expect(b.node.store.get(m1)?.content).toBe('first');
    expect(b.node.store.get(m3)?.content).toBe('third');
    expect(b.node.store.get(m2)).toBeUndefined();
    const reported = reports.filter((r) => r.sessionId === first.sessionId);
    expect(reported.flatMap((r) => r.quarantined ?? [])).toEqual([
      expect.objectContaining({
        messageId: m2,
        seq: 2,
        reason: expect.stringMatching(/ms ahead .*deferred until it is within the bound$/),
      }),
    ]);
    expect(await metric(b.node, 'switchboard_node_sync_deferred_versions')).toBe(1);

    // A later version of the same message, with an older HLC (a source whose clock was then
    // corrected): it applies now, but the deferred one is newer by HLC and must win when due.
    // (A message's createdAt never changes: the one its source gave it when made.)
    versions.push(version(4, m2, room, 'older by HLC', now, 'update', now + 66_000));
    const second = await b.node.puller.enqueue(await job());
    expect(second).toMatchObject({ status: 'COMPLETED', applied: 1 });
    expect(b.node.store.get(m2)?.content).toBe('older by HLC');
    expect(await metric(b.node, 'switchboard_node_sync_deferred_versions')).toBe(1);
    expect(pullRequests).not.toContain(sourceId);

    // Time catches up (6 s: 66 s ahead, 60 s allowed; 7 s pass here, for the clock sample's error)
    // on the node's clocks and on central's as the node hears it, instead of waiting for the real
    // one: the first heartbeat after that finds the version due and asks for a session.
    b.elapsedMs = 7000;
    await expect.poll(() => pullRequests.includes(sourceId), { timeout: 30_000 }).toBe(true);
    const third = await b.node.puller.enqueue(await job());
    expect(third).toMatchObject({ status: 'COMPLETED', applied: 1 });
    expect(b.node.store.get(m2)).toMatchObject({
      content: 'from a fast clock',
      hlc: versions[1]?.hlc,
    });
    expect(
      reports.filter((r) => r.sessionId === third.sessionId).flatMap((r) => r.released ?? []),
    ).toEqual([m2]);
    expect(await metric(b.node, 'switchboard_node_sync_deferred_versions')).toBe(0);
  });
});
