// Who may fail a running sync session: its owner (the central instance that sent the job, with a
// lease it renews), and any other central once that lease has expired; a session whose ONLINE
// target has stopped reporting on it; and the target itself, handing it back. Against real
// PostgreSQL (a central process killed with SIGKILL, and one in this process on the same database)
// and real PGlite; the nodes are real HTTP clients speaking the protocol (tests/sync/nodeSide.ts).
import { desc } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { centralInstances } from '../../subgraphs/central/db/schema.ts';
import { OWNER_GONE_REASON } from '../../subgraphs/central/sync/coordinator.ts';
import { stuckReason } from '../../subgraphs/central/sync/sessions.ts';
import { ADMIN_PASSWORD, startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { startProcess } from '../helpers/processes.ts';
import { heartbeat, openJobStream, report } from '../sync/nodeSide.ts';

interface Session {
  id: string;
  status: string;
  error: string | null;
  sourceNode: { id: string };
  targetNode: { id: string };
}

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const LEASE_MS = 1500;

const session = async (t: TestCentral, id: string) =>
  ok(
    await gql<{ syncSession: Session }>(
      t.url,
      'query($id: ID!) { syncSession(id: $id) { id status error sourceNode { id } targetNode { id } } }',
      { id },
      { token: t.adminToken },
    ),
  ).syncSession;

const sessionsOfPair = async (t: TestCentral, source: string, target: string) =>
  ok(
    await gql<{ syncSessions: Session[] }>(
      t.url,
      `{ syncSessions(last: 500) { id status error sourceNode { id } targetNode { id } } }`,
      {},
      { token: t.adminToken },
    ),
  ).syncSessions.filter((s) => s.sourceNode.id === source && s.targetNode.id === target);

/** Nodes X and Y, ONLINE (heartbeats only when sent), sharing one room homed on X. */
async function twoNodes(t: TestCentral) {
  const urlOf = (name: string) => `http://127.0.0.1:1/${name}`;
  const x = await t.registerNode('node-x', urlOf('node-x'));
  const y = await t.registerNode('node-y', urlOf('node-y'));
  expect((await heartbeat(t.url, x.apiKey, urlOf('node-x'))).status).toBe(200);
  expect((await heartbeat(t.url, y.apiKey, urlOf('node-y'))).status).toBe(200);
  const owner = await t.createUser('owner');
  ok(
    await gql(
      t.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "r", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: x.id, r: [y.id] },
      { token: owner.token },
    ),
  );
  return { x, y };
}

const inProgress = (sessionId: string) => ({
  sessionId,
  status: 'IN_PROGRESS',
  messagesSynced: 0,
  applied: [],
  cursor: 0,
});

describe('session owners on PostgreSQL', () => {
  it('a central that starts leaves the sessions of a live central running; once that one is killed, it takes them over', async () => {
    const databaseUrl = await sharedCentralDatabase(
      leftovers.add(await startPostgres(), (cluster) => cluster.stop()),
      'session_owners',
    );
    // The owner-to-be is a process of its own, so that it can die without ending its lease.
    const doomed = startProcess(
      leftovers,
      'central-doomed',
      [
        'central',
        '--port',
        '0',
        '--database-url',
        databaseUrl,
        '--instance-lease-ms',
        String(LEASE_MS),
      ],
      {
        SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
        SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
        SWITCHBOARD_HEARTBEAT_INTERVAL_MS: '600000',
      },
    );
    leftovers.defer(() => doomed.kill('SIGKILL').then(() => {}));
    const doomedUrl = (
      await doomed.waitForLine(/ready at (http:\/\/[^\s]+)\/graphql/)
    )[1] as string;

    // A first central on the database (this process): where the test registers the nodes.
    const first = await startTestCentral(leftovers, {
      databaseUrl,
      heartbeatIntervalMs: 600_000,
      instanceLeaseMs: LEASE_MS,
    });
    const { x, y } = await twoNodes(first);
    // Y's job stream is on the doomed central: it sends Y's catch-up from X, and owns it.
    const stream = await openJobStream(leftovers, doomedUrl, y.apiKey);
    const job = await stream.waitForJob((j) => j.sourceNodeId === x.id);
    expect((await session(first, job.sessionId)).status).toBe('IN_PROGRESS');

    // Another central starts meanwhile and sweeps a few times: it fails nothing of the living.
    const second = await startTestCentral(leftovers, {
      databaseUrl,
      heartbeatIntervalMs: 600_000,
      instanceLeaseMs: LEASE_MS,
    });
    const db = second.central.services.db;
    const [newest] = await db
      .select()
      .from(centralInstances)
      .orderBy(desc(centralInstances.startedAt))
      .limit(1);
    if (!newest) throw new Error('the second central has no instance row');
    // Renewed three times (every LEASE_MS / 3), so its sweep (same period) has run at least twice.
    await expect
      .poll(
        async () => {
          const rows = await db.select().from(centralInstances);
          const row = rows.find((r) => r.id === newest.id);
          return (row?.leaseExpiresAt.getTime() ?? 0) - newest.startedAt.getTime();
        },
        { timeout: 30_000 },
      )
      .toBeGreaterThan(LEASE_MS + LEASE_MS);
    expect(await session(second, job.sessionId)).toMatchObject({
      status: 'IN_PROGRESS',
      error: null,
    });
    // Any central takes the session's reports.
    expect((await report(second.url, y.apiKey, inProgress(job.sessionId))).body).toEqual({
      continue: true,
    });

    // The owner dies without a word: once its lease is over, a sweep takes the session over and
    // queues its continuation (nothing else would: Y never opens another stream here).
    await doomed.kill('SIGKILL');
    await stream.ended;
    await expect
      .poll(async () => (await session(second, job.sessionId)).status, { timeout: 30_000 })
      .toBe('FAILED');
    expect((await session(second, job.sessionId)).error).toBe(OWNER_GONE_REASON);
    const queued = (await sessionsOfPair(second, x.id, y.id)).filter((s) => s.status === 'PENDING');
    expect(queued).toHaveLength(1);
    // Y, back on a living central, gets it.
    const again = await openJobStream(leftovers, second.url, y.apiKey);
    await again.waitForJob((j) => j.sessionId === queued[0]?.id);
    await again.close();
  });
});

describe('stuck and handed-back sessions (PGlite)', () => {
  it('fails a session its ONLINE target stopped reporting on, and sends its continuation', async () => {
    const t = await startTestCentral(leftovers, {
      pglite: true,
      heartbeatIntervalMs: 600_000,
      instanceLeaseMs: 600,
      syncStuckAfterMs: 1000,
    });
    const { x, y } = await twoNodes(t);
    const stream = await openJobStream(leftovers, t.url, y.apiKey);
    const job = await stream.waitForJob((j) => j.sourceNodeId === x.id);
    expect((await report(t.url, y.apiKey, inProgress(job.sessionId))).body).toEqual({
      continue: true,
    });
    // Y stays ONLINE (its heartbeat is good for ten minutes) and its stream open, but says nothing.
    await expect
      .poll(async () => (await session(t, job.sessionId)).status, { timeout: 30_000 })
      .toBe('FAILED');
    expect((await session(t, job.sessionId)).error).toBe(stuckReason(1000));
    const next = await stream.waitForJob(
      (j) => j.sourceNodeId === x.id && j.sessionId !== job.sessionId,
    );
    expect(next.syncType).toBe(job.syncType);
    // A late report on the failed one is recorded but told to stop.
    expect((await report(t.url, y.apiKey, inProgress(job.sessionId))).body).toEqual({
      continue: false,
    });
    await stream.close();
  });

  it('queues the continuation of a session its target hands back; resume only with FAILED', async () => {
    const t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000, pglite: true });
    const { x, y } = await twoNodes(t);
    const stream = await openJobStream(leftovers, t.url, y.apiKey);
    const job = await stream.waitForJob((j) => j.sourceNodeId === x.id);

    const refused = await report(t.url, y.apiKey, { ...inProgress(job.sessionId), resume: true });
    expect(refused.status).toBe(400);
    expect(codes(refused.body)).toEqual(['BAD_USER_INPUT']);
    expect((await session(t, job.sessionId)).status).toBe('IN_PROGRESS');

    const handedBack = await report(t.url, y.apiKey, {
      ...inProgress(job.sessionId),
      status: 'FAILED',
      error: 'central did not take the report: HTTP 500',
      resume: true,
    });
    expect(handedBack.body).toEqual({ continue: false });
    expect(await session(t, job.sessionId)).toMatchObject({
      status: 'FAILED',
      error: 'central did not take the report: HTTP 500',
    });
    await stream.waitForJob((j) => j.sourceNodeId === x.id && j.sessionId !== job.sessionId);

    // A FAILED report without `resume` (the source was unreachable) queues nothing.
    const [running] = (await sessionsOfPair(t, x.id, y.id)).filter(
      (s) => s.status === 'IN_PROGRESS',
    );
    if (!running) throw new Error('the continuation is not running');
    await report(t.url, y.apiKey, {
      ...inProgress(running.id),
      status: 'FAILED',
      error: 'source unreachable',
    });
    expect((await sessionsOfPair(t, x.id, y.id)).filter((s) => s.status !== 'FAILED')).toEqual([]);
    await stream.close();
  });
});
