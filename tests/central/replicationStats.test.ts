// The dashboard's data at central (issue 17): replication throughput and lag per pair from the
// sync log (replicationStats), and each node's clock as its heartbeats report it (Node.clockOffsetMs,
// clockSkewed, published by nodeStatusChanged when it crosses the node's bound). Real central on
// PGlite and PostgreSQL; the nodes are played over real HTTP.
import { createHash } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SYNC_LIVE_REPORT_PATH,
  type AppliedChange,
  type LiveReport,
} from '../../lib/syncProtocol.ts';
import type { CentralEvent } from '../../subgraphs/central/events.ts';
import { flushHeartbeats } from '../../subgraphs/central/nodeLiveness.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat, postAsNode } from '../sync/nodeSide.ts';

interface FakeNode {
  readonly id: string;
  readonly apiKey: string;
  readonly url: string;
}

interface NodeClock {
  name: string;
  clockOffsetMs: number | null;
  clockMaxDriftMs: number | null;
  clockSkewed: boolean;
}

interface Stats {
  since: string;
  until: string;
  bucketSeconds: number;
  pairs: Array<{
    sourceNode: { name: string };
    targetNode: { name: string };
    buckets: Array<{
      at: string;
      versions: number;
      versionsPerSecond: number;
      lagSamples: number;
      lagP50Ms: number | null;
      lagP99Ms: number | null;
    }>;
  }>;
}

const STATS = `query($since: DateTime) { replicationStats(since: $since) { since until bucketSeconds
  pairs { sourceNode { name } targetNode { name }
    buckets { at versions versionsPerSecond lagSamples lagP50Ms lagP99Ms } } } }`;

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

describe.each(['PGlite', 'PostgreSQL'] as const)('dashboard data at central, on %s', (backend) => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let t: TestCentral;
  let a: FakeNode, b: FakeNode;
  let alice: { id: string; token: string };
  const events: string[] = [];

  const beat = (node: FakeNode, clock?: unknown) =>
    postAsNode(t.url, node.apiKey, '/internal/heartbeat', {
      url: node.url,
      ...(clock === undefined ? {} : { clock }),
    });
  // What central shows after its liveness sweep's next tick, which writes the heartbeats of ONLINE
  // nodes together (heartbeatBatch.ts); this central's own tick is minutes away.
  const clockOf = async (node: FakeNode): Promise<NodeClock> => {
    await flushHeartbeats(t.central.services);
    return ok(
      await gql<{ node: NodeClock }>(
        t.url,
        'query($id: ID!) { node(id: $id) { name clockOffsetMs clockMaxDriftMs clockSkewed } }',
        { id: node.id },
        { token: alice.token },
      ),
    ).node;
  };

  beforeAll(async () => {
    t = await startTestCentral(leftovers, {
      heartbeatIntervalMs: 600_000,
      pglite: backend === 'PGlite',
    });
    const online = async (name: string): Promise<FakeNode> => {
      const url = `http://127.0.0.1:1/${name}`;
      const node = { ...(await t.registerNode(name, url)), url };
      expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
      return node;
    };
    [a, b] = [await online('node-a'), await online('node-b')];
    alice = await t.createUser('alice');
    const unsubscribe = t.central.services.events.subscribe((event: CentralEvent) => {
      if (event.type === 'nodeStatusChanged') events.push(`${event.nodeId}:${event.status}`);
    });
    leftovers.defer(unsubscribe);
  });

  it('shows each node the clock offset its heartbeats report, and whether it is beyond its bound', async () => {
    // A node older than the clock field reports none: nothing is known.
    expect(await clockOf(a)).toEqual({
      name: 'node-a',
      clockOffsetMs: null,
      clockMaxDriftMs: null,
      clockSkewed: false,
    });
    expect((await beat(a, { offsetMs: 12.5, maxDriftMs: 60_000 })).status).toBe(200);
    expect(await clockOf(a)).toMatchObject({
      clockOffsetMs: 12.5,
      clockMaxDriftMs: 60_000,
      clockSkewed: false,
    });
    // Two minutes ahead of central's clock with a one-minute bound: skewed, published once.
    expect((await beat(a, { offsetMs: -120_000, maxDriftMs: 60_000 })).status).toBe(200);
    expect(await clockOf(a)).toMatchObject({ clockOffsetMs: -120_000, clockSkewed: true });
    await expect.poll(() => events).toEqual([`${a.id}:ONLINE`]);
    expect((await beat(a, { offsetMs: -119_000, maxDriftMs: 60_000 })).status).toBe(200);
    // A heartbeat without the field (a node older than it) leaves the last report as it was.
    expect((await beat(a)).status).toBe(200);
    expect(await clockOf(a)).toMatchObject({ clockOffsetMs: -119_000, clockSkewed: true });
    // Back within the bound: published again; the skewed beat in between published nothing.
    expect((await beat(a, { offsetMs: 40, maxDriftMs: 60_000 })).status).toBe(200);
    expect(await clockOf(a)).toMatchObject({ clockOffsetMs: 40, clockSkewed: false });
    await expect.poll(() => events).toEqual([`${a.id}:ONLINE`, `${a.id}:ONLINE`]);
    // Not yet measured (a node that just restarted): no offset, no alert.
    expect((await beat(a, { offsetMs: null, maxDriftMs: 60_000 })).status).toBe(200);
    expect(await clockOf(a)).toMatchObject({ clockOffsetMs: null, clockSkewed: false });
  });

  it('refuses a malformed clock with BAD_USER_INPUT and changes nothing', async () => {
    expect((await beat(b, { offsetMs: 5, maxDriftMs: 1000 })).status).toBe(200);
    const offset = 'clock.offsetMs must be null or a number of milliseconds within ±31622400000';
    for (const [clock, message] of [
      ['ahead', 'clock must be an object {offsetMs, maxDriftMs}'],
      [{ offsetMs: '5', maxDriftMs: 1000 }, offset],
      [{ offsetMs: 5 }, 'clock.maxDriftMs must be a positive integer'],
      [{ offsetMs: 5, maxDriftMs: 0 }, 'clock.maxDriftMs must be a positive integer'],
      [{ offsetMs: 1e15, maxDriftMs: 1000 }, offset],
      [{ maxDriftMs: 1000 }, offset],
    ] as const) {
      const answer = await beat(b, clock);
      expect(answer.status).toBe(400);
      expect(answer.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
      expect(answer.body.errors[0].message).toBe(`heartbeat body: ${message}`);
    }
    // A url that is not an http(s) URL, or not a string, is the body's fault: the clock is not read.
    for (const url of ['ftp://127.0.0.1/b', 5])
      expect(
        await postAsNode(t.url, b.apiKey, '/internal/heartbeat', {
          url,
          clock: { offsetMs: 7, maxDriftMs: 1000 },
        }),
      ).toMatchObject({
        status: 400,
        body: { errors: [{ message: 'heartbeat body must be JSON with an http(s) "url"' }] },
      });
    expect(await clockOf(b)).toMatchObject({
      clockOffsetMs: 5,
      clockMaxDriftMs: 1000,
      clockSkewed: false,
    });
  });

  it('counts the versions each pair applied per 10 s bucket, and the lag of the new messages', async () => {
    const room = ok(
      await gql<{ createRoom: { id: string } }>(
        t.url,
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "r", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id] },
        { token: alice.token },
      ),
    ).createRoom.id;
    const t0 = Date.now();
    const change = (id: string, ageMs: number, action: AppliedChange['action']): AppliedChange => ({
      messageId: id,
      roomId: room,
      senderId: alice.id,
      contentHash: sha(id),
      originNode: a.id,
      createdAt: t0 - ageMs,
      updatedAt: t0,
      deleted: false,
      action,
    });
    // B tells central, as its live stream would, what it applied from A: three new messages made
    // 1 s, 2 s and 60 s before, and an edit (counted, but its lag is not measured).
    const report: LiveReport = {
      windowId: uuidv7(),
      sourceNodeId: a.id,
      sequence: 1,
      final: true,
      cursorBefore: 0,
      cursor: 4,
      sourceHeadSeq: 4,
      applied: [
        change(uuidv7(), 1_000, 'CREATE'),
        change(uuidv7(), 2_000, 'CREATE'),
        change(uuidv7(), 60_000, 'CREATE'),
        change(uuidv7(), 600_000, 'UPDATE'),
      ],
    };
    expect((await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORT_PATH, report)).status).toBe(200);
    const recordedBy = Date.now();

    const { replicationStats } = ok(
      await gql<{ replicationStats: Stats }>(t.url, STATS, {}, { token: t.adminToken }),
    );
    expect(replicationStats.bucketSeconds).toBe(10);
    // The default window: the last 15 minutes, from a bucket boundary.
    const since = Date.parse(replicationStats.since);
    expect(since % 10_000).toBe(0);
    expect(Date.parse(replicationStats.until) - since).toBeGreaterThanOrEqual(15 * 60_000);
    expect(Date.parse(replicationStats.until) - since).toBeLessThan(15 * 60_000 + 10_000);
    expect(replicationStats.pairs).toHaveLength(1);
    const [pair] = replicationStats.pairs;
    expect(pair?.sourceNode.name).toBe('node-a');
    expect(pair?.targetNode.name).toBe('node-b');
    expect(pair?.buckets).toHaveLength(1);
    const bucket = pair?.buckets[0];
    if (!bucket) throw new Error('no bucket');
    expect(bucket).toMatchObject({ versions: 4, versionsPerSecond: 0.4, lagSamples: 3 });
    const at = Date.parse(bucket.at);
    expect(at % 10_000).toBe(0);
    expect(at).toBeGreaterThan(t0 - 10_000);
    expect(at).toBeLessThanOrEqual(recordedBy);
    // The lag is the message's age when central recorded it: at least its age at t0, at most
    // that plus the time the report took.
    const slack = recordedBy - t0;
    // percentile_cont interpolates: the median of {1, 2, 60} s is 2 s, the 99th is 2 + 0.98 * 58 s.
    expect(bucket.lagP50Ms).toBeGreaterThanOrEqual(2_000);
    expect(bucket.lagP50Ms).toBeLessThanOrEqual(2_000 + slack + 1);
    expect(bucket.lagP99Ms).toBeGreaterThanOrEqual(58_840 - 1);
    expect(bucket.lagP99Ms).toBeLessThanOrEqual(58_840 + slack + 1);

    // Nothing after this bucket: a later `since` lists no pair.
    const later = new Date(at + 10_000).toISOString();
    if (Date.parse(later) <= Date.now()) {
      const after = ok(
        await gql<{ replicationStats: Stats }>(
          t.url,
          STATS,
          { since: later },
          { token: t.adminToken },
        ),
      );
      expect(after.replicationStats.pairs).toEqual([]);
    }
  });

  it('is for ADMINs only, over at most the last hour', async () => {
    expect(codes(await gql(t.url, STATS, {}, { token: alice.token }))).toEqual(['FORBIDDEN']);
    expect(codes(await gql(t.url, STATS, {}))).toEqual(['UNAUTHENTICATED']);
    const hoursAgo = new Date(Date.now() - 2 * 3600_000).toISOString();
    const ahead = new Date(Date.now() + 3600_000).toISOString();
    for (const since of [hoursAgo, ahead]) {
      expect(codes(await gql(t.url, STATS, { since }, { token: t.adminToken }))).toEqual([
        'BAD_USER_INPUT',
      ]);
    }
  });
});
