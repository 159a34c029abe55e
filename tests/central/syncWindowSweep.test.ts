// A live window whose target stops reporting (restored from nothing, its outbox gone, so its last
// report never comes) does not stay IN_PROGRESS: central's sweep fails it with the reason once it
// has had no report for the stale bound. Should the target still hold it after all, its later
// reports record as usual and its last one completes it. A real central (PostgreSQL); the target is
// its HTTP API called with the node's key, as the node's outbox would.
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_LIVE_REPORT_PATH, type LiveReport } from '../../lib/syncProtocol.ts';
import { STALE_WINDOW_REASON } from '../../subgraphs/central/sync/windowSweep.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat, postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const STALE_MS = 1500;
let t: TestCentral;
let a: { id: string; apiKey: string };
let b: { id: string; apiKey: string };
let room: string;
let alice: { id: string; token: string };

interface Window {
  status: string;
  error: string | null;
  messagesSynced: number;
  completedAt: string | null;
}

const windowOf = async (id: string) =>
  ok(
    await gql<{ syncSession: Window }>(
      t.url,
      'query($id: ID!) { syncSession(id: $id) { status error messagesSynced completedAt } }',
      { id },
      { token: t.adminToken },
    ),
  ).syncSession;

beforeAll(async () => {
  t = await startTestCentral(leftovers, {
    heartbeatIntervalMs: 600_000,
    syncLiveWindowStaleMs: STALE_MS,
  });
  a = await t.registerNode('sweep-a', 'http://127.0.0.1:1/a');
  b = await t.registerNode('sweep-b', 'http://127.0.0.1:1/b');
  for (const [node, url] of [
    [a, 'http://127.0.0.1:1/a'],
    [b, 'http://127.0.0.1:1/b'],
  ] as const) {
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
  }
  alice = await t.createUser('alice');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      t.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "swept", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: a.id, r: [b.id] },
      { token: alice.token },
    ),
  ).createRoom.id;
});

const change = (createdAt: number): LiveReport['applied'][number] => ({
  messageId: uuidv7(),
  roomId: room,
  senderId: alice.id,
  contentHash: 'a'.repeat(64),
  originNode: a.id,
  createdAt,
  updatedAt: createdAt,
  deleted: false,
  action: 'CREATE',
});

describe('live windows whose target stopped reporting', () => {
  it('are FAILED with the reason after the stale bound; a later report still records, and the last completes the window', async () => {
    const windowId = uuidv7();
    const first: LiveReport = {
      windowId,
      sourceNodeId: a.id,
      sequence: 1,
      final: false,
      cursorBefore: 0,
      cursor: 1,
      sourceHeadSeq: 1,
      applied: [change(Date.now())],
    };
    const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORT_PATH, first);
    expect(sent).toEqual({ status: 200, body: { recorded: true } });
    expect(await windowOf(windowId)).toMatchObject({ status: 'IN_PROGRESS', error: null });

    // The target was wiped: the window's last report never comes.
    await expect
      .poll(() => windowOf(windowId), { timeout: 30_000, interval: 200 })
      .toMatchObject({ status: 'FAILED', error: STALE_WINDOW_REASON, messagesSynced: 1 });

    // A target that held the window after all (it was only away for long) finishes it.
    const last = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORT_PATH, {
      ...first,
      sequence: 2,
      final: true,
      cursor: 2,
      sourceHeadSeq: 2,
      applied: [change(Date.now())],
    });
    expect(last).toEqual({ status: 200, body: { recorded: true } });
    const done = await windowOf(windowId);
    expect(done).toMatchObject({ status: 'COMPLETED', error: null, messagesSynced: 2 });
    expect(done.completedAt).not.toBeNull();
  });
});
