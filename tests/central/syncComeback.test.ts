// A node that comes back ONLINE by heartbeat, without its job stream ever dropping (frozen,
// partitioned from central, overloaded), gets its sync pairs queued at once: the changes its peers
// announced while it was OFFLINE, and sessions that failed because it could not be reached, do not
// wait for autoSyncInterval; with two centrals on one PostgreSQL the comeback is acted on once.
// In process against real PGlite and PostgreSQL; the nodes are real HTTP clients speaking the
// protocol (tests/sync/nodeSide.ts), so which job arrives when is under the test's control.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SyncJob } from '../../lib/syncProtocol.ts';
import { nodes } from '../../subgraphs/central/db/schema.ts';
import { flushHeartbeats, sweepSilentNodes } from '../../subgraphs/central/nodeLiveness.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import {
  heartbeat,
  openJobStream,
  report,
  roomsChanged,
  type JobStreamClient,
} from '../sync/nodeSide.ts';

interface Session {
  id: string;
  status: string;
  syncType: string;
  trigger: string;
}

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let t: TestCentral;
let x: { id: string; apiKey: string };
let y: { id: string; apiKey: string };
let room: string;
let yJobs: JobStreamClient;
const urlOf = (name: string) => `http://127.0.0.1:1/${name}`;

const session = async (id: string) =>
  ok(
    await gql<{ syncSession: Session }>(
      t.url,
      'query($id: ID!) { syncSession(id: $id) { id status syncType trigger } }',
      { id },
      { token: t.adminToken },
    ),
  ).syncSession;

/**
 * Silence as the sweep sees it, without waiting for it: the node is OFFLINE afterwards. The
 * heartbeats `centrals` kept to write at their next tick (heartbeatBatch.ts) came before the
 * silence: written first, or a later tick would write them over it.
 */
async function goesOffline(nodeId: string, centrals: readonly TestCentral[] = [t]): Promise<void> {
  for (const c of centrals) await flushHeartbeats(c.central.services);
  await t.central.services.db
    .update(nodes)
    .set({ lastSeenAt: new Date(Date.now() - 3_600_000) })
    .where(eq(nodes.id, nodeId));
  await sweepSilentNodes(t.central.services);
  const [row] = await t.central.services.db.select().from(nodes).where(eq(nodes.id, nodeId));
  expect(row?.status).toBe('OFFLINE');
}

/** Jobs from X to Y that arrived after `seen` jobs. */
const newJobsFromX = (seen: number): SyncJob[] =>
  yJobs.jobs.slice(seen).filter((j) => j.sourceNodeId === x.id);

async function complete(job: SyncJob): Promise<void> {
  const done = await report(t.url, y.apiKey, {
    sessionId: job.sessionId,
    status: 'COMPLETED',
    messagesSynced: 0,
    applied: [],
    cursor: 0,
  });
  expect(done.status).toBe(200);
  expect((await session(job.sessionId)).status).toBe('COMPLETED');
}

/**
 * Nodes X and Y sharing one room homed on X, both ONLINE, schedules an hour apart; Y's job stream
 * (at `streamAt`, default `t`) stays open for the whole describe, as a frozen process's socket
 * does. Its connect-time catch-up from X is done first, so nothing is queued for the pair after.
 */
async function twoNodes(streamAt: TestCentral = t): Promise<void> {
  x = await t.registerNode('node-x', urlOf('node-x'));
  y = await t.registerNode('node-y', urlOf('node-y'));
  for (const [node, name] of [
    [x, 'node-x'],
    [y, 'node-y'],
  ] as const) {
    expect((await heartbeat(t.url, node.apiKey, urlOf(name))).status).toBe(200);
    ok(
      await gql(
        t.url,
        'mutation($n: ID!) { updateNode(id: $n, autoSyncInterval: 3600) { id } }',
        { n: node.id },
        { token: t.adminToken },
      ),
    );
  }
  const alice = await t.createUser('alice');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      t.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "r", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: x.id, r: [y.id] },
      { token: alice.token },
    ),
  ).createRoom.id;
  yJobs = await openJobStream(leftovers, streamAt.url, y.apiKey);
  await complete(await yJobs.waitForJob((j) => j.sourceNodeId === x.id));
}

describe('a node back ONLINE by heartbeat', () => {
  beforeAll(async () => {
    // Heartbeats only when the test sends them, and a schedule that never fires in a test run: a
    // session that shows up can only come from the comeback.
    t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000, pglite: true });
    await twoNodes();
  });

  it('as TARGET: pulls the changes announced while it was OFFLINE, on its still-open stream', async () => {
    await goesOffline(y.id);
    const seen = yJobs.jobs.length;
    // X's writes while Y is away: the notification cannot reach an OFFLINE target.
    expect((await roomsChanged(t.url, x.apiKey, [room])).status).toBe(200);

    expect((await heartbeat(t.url, y.apiKey, urlOf('node-y'))).status).toBe(200);
    await expect.poll(() => newJobsFromX(seen).length, { timeout: 15_000 }).toBe(1);
    const job = newJobsFromX(seen)[0] as SyncJob;
    expect(job.roomIds).toEqual([room]);
    expect(await session(job.sessionId)).toMatchObject({
      status: 'IN_PROGRESS',
      syncType: 'INCREMENTAL',
      trigger: 'CHANGE',
    });
    await complete(job);
  });

  it('as SOURCE: the pair whose session failed because it was unreachable resumes', async () => {
    const seen = yJobs.jobs.length;
    expect((await roomsChanged(t.url, x.apiKey, [room])).status).toBe(200);
    await expect.poll(() => newJobsFromX(seen).length, { timeout: 15_000 }).toBe(1);
    const failed = newJobsFromX(seen)[0] as SyncJob;
    // X froze: Y's pull timed out, and X went silent for central too.
    const gaveUp = await report(t.url, y.apiKey, {
      sessionId: failed.sessionId,
      status: 'FAILED',
      messagesSynced: 0,
      applied: [],
      cursor: 0,
      error: `${x.id} did not answer within 30000 ms`,
    });
    expect(gaveUp.status).toBe(200);
    expect((await session(failed.sessionId)).status).toBe('FAILED');
    await goesOffline(x.id);

    expect((await heartbeat(t.url, x.apiKey, urlOf('node-x'))).status).toBe(200);
    await expect.poll(() => newJobsFromX(seen).length, { timeout: 15_000 }).toBe(2);
    const resumed = newJobsFromX(seen)[1] as SyncJob;
    expect(resumed.sessionId).not.toBe(failed.sessionId);
    expect(await session(resumed.sessionId)).toMatchObject({
      syncType: 'INCREMENTAL',
      trigger: 'CHANGE',
    });
    await complete(resumed);
  });
});

describe('two centrals on one PostgreSQL', () => {
  let other: TestCentral;
  beforeAll(async () => {
    const databaseUrl = await sharedCentralDatabase(
      leftovers.add(await startPostgres(), (cluster) => cluster.stop()),
      'central_comeback',
    );
    t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000, databaseUrl });
    other = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000, databaseUrl });
    // Y's stream is held by the other central: the comeback seen by one reaches it as an event.
    await twoNodes(other);
  });

  it('a comeback heard by both at once queues the pair once and is published once', async () => {
    const events: string[] = [];
    const unsubscribe = other.central.services.events.subscribe((event) => {
      if (event.type === 'nodeStatusChanged' && event.nodeId === y.id) events.push(event.status);
    });
    leftovers.defer(unsubscribe);
    // The other central hears this transition through NOTIFY, some time after it commits: wait
    // for it, so it is not taken for an event of the comeback.
    await goesOffline(y.id, [t, other]);
    await expect.poll(() => events.at(-1), { timeout: 15_000 }).toBe('OFFLINE');
    events.length = 0;
    const seen = yJobs.jobs.length;
    const beats = await Promise.all(
      [t, other, t, other].map((c) => heartbeat(c.url, y.apiKey, urlOf('node-y'))),
    );
    expect(beats.map((b) => b.status)).toEqual([200, 200, 200, 200]);
    await expect.poll(() => newJobsFromX(seen).length, { timeout: 15_000 }).toBe(1);
    const job = newJobsFromX(seen)[0] as SyncJob;
    expect(await session(job.sessionId)).toMatchObject({ trigger: 'CHANGE' });
    // A later transition, published after the heartbeats answered, arrives after anything they
    // published: by then every ONLINE event of the comeback is in.
    await goesOffline(y.id, [t, other]);
    await expect.poll(() => events.at(-1), { timeout: 15_000 }).toBe('OFFLINE');
    expect(events).toEqual(['ONLINE', 'OFFLINE']);
    await complete(job);
  });
});
