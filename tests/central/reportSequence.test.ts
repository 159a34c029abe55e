// A scheduled session's reports carry a sequence (1, 2, 3...): central records a report whose
// sequence it recorded already (its answer was lost and the target sent it again) not twice, a
// late report on a session central failed meanwhile still lands with counters that stay true,
// and a report without a sequence (an older node) is recorded as before. Real central on PGlite,
// the target's half of the protocol played over HTTP.
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppliedChange, SyncJob } from '../../lib/syncProtocol.ts';
import { messageSyncLog, syncSessions } from '../../subgraphs/central/db/schema.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat, openJobStream, report } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let t: TestCentral;
let a: { id: string; apiKey: string };
let b: { id: string; apiKey: string };
let room: string;
let sender: string;

const change = (messageId: string): AppliedChange => ({
  messageId,
  roomId: room,
  senderId: sender,
  contentHash: createHash('sha256').update(messageId).digest('hex'),
  originNode: a.id,
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  deleted: false,
  action: 'CREATE',
});

const logRows = async (sessionId: string) =>
  (
    await t.central.services.db
      .select({ messageId: messageSyncLog.messageId })
      .from(messageSyncLog)
      .where(eq(messageSyncLog.sessionId, sessionId))
  )
    .map((row) => row.messageId)
    .sort();

const sessionRow = async (id: string) => {
  const [row] = await t.central.services.db
    .select()
    .from(syncSessions)
    .where(eq(syncSessions.id, id));
  if (!row) throw new Error(`no session ${id}`);
  return row;
};

/** A new INCREMENTAL session from A to B, dispatched on a job stream of B. */
async function nextJob(): Promise<{ job: SyncJob; close: () => Promise<void> }> {
  const stream = await openJobStream(leftovers, t.url, b.apiKey);
  ok(
    await gql(
      t.url,
      'mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { id } }',
      { n: b.id },
      { token: t.adminToken },
    ),
  );
  const job = await stream.waitForJob((j) => j.sourceNodeId === a.id);
  return { job, close: () => stream.close() };
}

beforeAll(async () => {
  t = await startTestCentral(leftovers, { pglite: true, heartbeatIntervalMs: 600_000 });
  const online = async (name: string) => {
    const url = `http://127.0.0.1:1/${name}`;
    const node = await t.registerNode(name, url);
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
    return node;
  };
  a = await online('seq-a');
  b = await online('seq-b');
  const alice = await t.createUser('alice');
  sender = alice.id;
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      t.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "r", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: a.id, r: [b.id] },
      { token: alice.token },
    ),
  ).createRoom.id;
});

describe('session report sequences', () => {
  it('records a repeated sequence once and answers it as the first time', async () => {
    const { job, close } = await nextJob();
    const first = {
      sessionId: job.sessionId,
      sequence: 1,
      status: 'IN_PROGRESS',
      messagesSynced: 2,
      messagesChecked: 2,
      applied: [change('s1'), change('s2')],
      cursor: 2,
    };
    expect((await report(t.url, b.apiKey, first)).body).toEqual({ continue: true });
    expect((await report(t.url, b.apiKey, first)).body).toEqual({
      continue: true,
      repeated: true,
    });
    const last = {
      ...first,
      sequence: 2,
      status: 'COMPLETED',
      messagesSynced: 3,
      messagesChecked: 3,
      applied: [change('s3')],
      cursor: 3,
    };
    expect((await report(t.url, b.apiKey, last)).body).toEqual({ continue: false });
    // The same again, and the first again (late), as a target that lost both answers.
    expect((await report(t.url, b.apiKey, last)).body).toEqual({
      continue: false,
      repeated: true,
    });
    expect((await report(t.url, b.apiKey, first)).body).toEqual({
      continue: false,
      repeated: true,
    });
    expect(await logRows(job.sessionId)).toEqual(['s1', 's2', 's3']);
    expect(await sessionRow(job.sessionId)).toMatchObject({
      status: 'COMPLETED',
      messagesSynced: 3,
      reportSeq: 2,
    });
    // A sequence of 0 is no sequence: refused, nothing changed.
    const zero = await report(t.url, b.apiKey, { ...last, sequence: 0, applied: [change('s4')] });
    expect(zero.status).toBe(400);
    expect(zero.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(await logRows(job.sessionId)).toEqual(['s1', 's2', 's3']);
    await close();
  });

  it("records a failed session's late reports, their counters and sequence, once", async () => {
    const { job, close } = await nextJob();
    const progress = {
      sessionId: job.sessionId,
      sequence: 1,
      status: 'IN_PROGRESS',
      messagesSynced: 1,
      messagesChecked: 1,
      applied: [change('l1')],
      cursor: 4,
    };
    expect((await report(t.url, b.apiKey, progress)).body).toEqual({ continue: true });
    // The target's stream drops (it was killed): central fails the session.
    await close();
    await expect
      .poll(async () => (await sessionRow(job.sessionId)).status, { timeout: 15_000 })
      .toBe('FAILED');
    // The restarted target reports what it applied before the kill.
    const leftover = {
      ...progress,
      sequence: 2,
      status: 'FAILED',
      error: 'the target node stopped during the session; resumed in a new session',
      resume: true,
      messagesSynced: 3,
      messagesChecked: 5,
      applied: [change('l2'), change('l3')],
      cursor: 9,
    };
    expect((await report(t.url, b.apiKey, leftover)).body).toEqual({ continue: false });
    expect((await report(t.url, b.apiKey, leftover)).body).toEqual({
      continue: false,
      repeated: true,
    });
    expect(await logRows(job.sessionId)).toEqual(['l1', 'l2', 'l3']);
    expect(await sessionRow(job.sessionId)).toMatchObject({
      status: 'FAILED',
      messagesSynced: 3,
      messagesChecked: 5,
      reportSeq: 2,
    });
    // In the index, held by both nodes.
    const indexed = await t.central.services.db.query.distributedMessages.findFirst({
      where: (m, { eq: is }) => is(m.id, 'l3'),
    });
    expect(indexed?.storageNodeIds).toEqual([a.id, b.id].sort());
  });

  it('records a report without a sequence as it comes (an older node)', async () => {
    const { job, close } = await nextJob();
    const old = {
      sessionId: job.sessionId,
      status: 'IN_PROGRESS',
      messagesSynced: 1,
      applied: [change('o1')],
      cursor: 10,
    };
    expect((await report(t.url, b.apiKey, old)).body).toEqual({ continue: true });
    const done = { ...old, status: 'COMPLETED', messagesSynced: 2, applied: [change('o2')] };
    expect((await report(t.url, b.apiKey, done)).body).toEqual({ continue: false });
    expect(await logRows(job.sessionId)).toEqual(['o1', 'o2']);
    expect(await sessionRow(job.sessionId)).toMatchObject({
      status: 'COMPLETED',
      messagesSynced: 2,
      reportSeq: null,
    });
    await close();
  });
});
