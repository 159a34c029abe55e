// A session whose reports central cannot take does not stay IN_PROGRESS: the target hands it back
// once central answers again, central queues its continuation, and the pair catches up without a
// restart of anything. Real central on real PostgreSQL and two real nodes in this process (live
// replication off: only sessions move changes); central's refusal is real too: the pair's
// sync_pairs row is held by another transaction, so the target's reports wait past its timeout
// (as behind the lock waits and deadlocks of issue #20), three times, and it gives the session up.
import { and, eq, inArray } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { messageSyncLog, syncPairs, syncSessions } from '../../subgraphs/central/db/schema.ts';
import type { NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { createPlacedRoom, startSyncingNode } from '../helpers/syncCluster.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let databaseUrl: string;
let central: TestCentral;
let gateway: TestGateway;
let a: NodeServer;
let b: NodeServer;
let alice: { id: string; token: string };
let room: string;
/** B's log: it says when it gave a session up. */
const bLines: string[] = [];

const post = async (content: string) =>
  ok(
    await gateway.gql<{ postMessage: { id: string } }>(
      a,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: room, c: content },
      { token: alice.token },
    ),
  ).postMessage.id;

const triggerPairs = async () =>
  ok(
    await gql(
      central.url,
      'mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { id } }',
      { n: b.nodeId },
      { token: central.adminToken },
    ),
  );

/** The sessions from A to B. */
const sessionsAB = () =>
  central.central.services.db
    .select()
    .from(syncSessions)
    .where(and(eq(syncSessions.sourceNodeId, a.nodeId), eq(syncSessions.targetNodeId, b.nodeId)));

beforeAll(async () => {
  databaseUrl = await sharedCentralDatabase(
    leftovers.add(await startPostgres(), (cluster) => cluster.stop()),
    'report_refused',
  );
  // Central's own detection of silent sessions is out of the way: what recovers the session here
  // is the target handing it back.
  central = await startTestCentral(leftovers, { databaseUrl, syncStuckAfterMs: 600_000 });
  gateway = await registerTestGateway(central.url);
  // Live replication off: only sessions move changes. A report waits 1 s for central before it
  // counts as refused (three times before the session is handed back): far beyond what central
  // takes to answer here, even on a loaded machine, and every node call to central has it.
  const options = { liveReplication: false, centralTimeoutMs: 1000 };
  a = await startSyncingNode(leftovers, central, 'refused-a', options);
  b = await startSyncingNode(leftovers, central, 'refused-b', { ...options, lines: bLines });
  alice = await central.createUser('alice');
  room = await createPlacedRoom(central, alice, a.nodeId, [b.nodeId]);
});

describe('a target whose reports central does not take', () => {
  it('hands its session back, and the pair catches up without a restart', async () => {
    // The pair has a row, and nothing runs on it (the catch-up of the nodes' start is over).
    await post('before');
    await triggerPairs();
    await expect
      .poll(
        async () => {
          const [pair] = await central.central.services.db
            .select()
            .from(syncPairs)
            .where(and(eq(syncPairs.sourceNodeId, a.nodeId), eq(syncPairs.targetNodeId, b.nodeId)));
          const active = (await sessionsAB()).filter(
            (s) => s.status === 'PENDING' || s.status === 'IN_PROGRESS',
          );
          return pair !== undefined && active.length === 0;
        },
        { timeout: 60_000 },
      )
      .toBe(true);

    // Another transaction holds the pair's row: every report of the pair waits behind it.
    const blocker = new pg.Client({ connectionString: databaseUrl });
    await blocker.connect();
    leftovers.defer(() => blocker.end());
    await blocker.query('BEGIN');
    await blocker.query(
      'SELECT 1 FROM sync_pairs WHERE source_node_id = $1 AND target_node_id = $2 FOR UPDATE',
      [a.nodeId, b.nodeId],
    );
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push(await post(`while blocked ${i}`));
    const before = new Set((await sessionsAB()).map((s) => s.id));
    await triggerPairs();
    const [stuck] = (await sessionsAB()).filter((s) => !before.has(s.id));
    if (!stuck) throw new Error('no session from A to B was queued');
    // The message of this session reaches B; B's reports of it do not reach central's record.
    await expect
      .poll(() => b.store.get(ids[4] as string) !== undefined, { timeout: 60_000 })
      .toBe(true);
    // One more change, and a session queued behind the running one to carry it.
    ids.push(await post('after'));
    await triggerPairs();
    await expect
      .poll(
        () =>
          bLines.some((l) =>
            l.includes(`sync ${stuck.id}: stopped (central did not take the report`),
          ),
        {
          timeout: 60_000,
        },
      )
      .toBe(true);
    const held = await sessionsAB();
    expect(held.find((s) => s.id === stuck.id)?.status).toBe('IN_PROGRESS');
    expect(held.filter((s) => s.status === 'PENDING')).toHaveLength(1);

    // Central can record again: the target hands the session back, its continuation runs.
    await blocker.query('ROLLBACK');
    await expect
      .poll(() => ids.every((id) => b.store.get(id) !== undefined), { timeout: 60_000 })
      .toBe(true);
    await expect
      .poll(
        async () => {
          const sessions = await sessionsAB();
          return sessions.filter((s) => s.status === 'PENDING' || s.status === 'IN_PROGRESS')
            .length;
        },
        { timeout: 60_000 },
      )
      .toBe(0);
    const [handedBack] = (await sessionsAB()).filter((s) => s.id === stuck.id);
    expect(handedBack?.status).toBe('FAILED');
    expect(handedBack?.error).toMatch(/^central did not take the report/);
    expect(bLines.some((l) => l.includes(`sync ${stuck.id}: handed back to central`))).toBe(true);
    // The reports B gave up on were recorded once the lock went (their answers came too late):
    // sent again with their sequences, they recorded nothing twice.
    const logged = await central.central.services.db
      .select({ messageId: messageSyncLog.messageId })
      .from(messageSyncLog)
      .where(inArray(messageSyncLog.messageId, ids));
    expect(ids.map((id) => logged.filter((row) => row.messageId === id).length)).toEqual(
      ids.map(() => 1),
    );
    // Central's record caught up too: nothing of A's is left for B to pull.
    const pairs = ok(
      await gql<{
        syncPairs: Array<{
          sourceNode: { id: string };
          targetNode: { id: string };
          behind: number;
        }>;
      }>(
        central.url,
        '{ syncPairs { sourceNode { id } targetNode { id } behind } }',
        {},
        { token: central.adminToken },
      ),
    ).syncPairs;
    expect(
      pairs.find((p) => p.sourceNode.id === a.nodeId && p.targetNode.id === b.nodeId)?.behind,
    ).toBe(0);
  });
});
