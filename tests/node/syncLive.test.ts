// Both halves of sync together, in one process: a real central (sessions, job stream, reports,
// pull tokens) and two real nodes with sync on. A write on one node reaches the other through
// change detection alone; a manual FULL sync completes with matching digests.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { NodeServer } from '../../subgraphs/node/server.ts';
import { roomDigests } from '../../subgraphs/node/sync/digest.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { createPlacedRoom, startSyncingNode } from '../helpers/syncCluster.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
let gateway: TestGateway;
let a: NodeServer;
let b: NodeServer;
let alice: { id: string; token: string };
let room: string;

/** Re-checks real state until it holds (the test's timeout bounds the wait). */
async function eventually<T>(read: () => T | Promise<T>, holds: (value: T) => boolean): Promise<T> {
  // vi.waitFor, not expect.poll: this also runs in beforeAll, where expect.poll is not allowed.
  return vi.waitFor(
    async () => {
      const value = await read();
      expect(holds(value)).toBe(true);
      return value;
    },
    { timeout: 120_000, interval: 20 },
  );
}

/** Resolves with the first event on `node` for message `id` applied from a peer. */
function arrives(node: NodeServer, id: string, holds: (content: string) => boolean) {
  return new Promise<void>((resolve) => {
    const stop = node.events.onRoom(room, (event) => {
      if (event.source === 'remote' && event.message.id === id && holds(event.message.content)) {
        stop();
        resolve();
      }
    });
  });
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  gateway = await registerTestGateway(central.url);
  a = await startSyncingNode(leftovers, central, 'live-a');
  b = await startSyncingNode(leftovers, central, 'live-b');
  alice = await central.createUser('alice');
  room = await createPlacedRoom(central, alice, a.nodeId, [b.nodeId], 'live');
});

describe('sync with a real central', () => {
  it('a post, an edit and a delete on one node reach the other through change detection', async () => {
    const posted = ok(
      await gateway.gql<{ postMessage: { id: string } }>(
        a,
        'mutation($r: ID!) { postMessage(roomId: $r, content: "hello from a") { id } }',
        { r: room },
        { token: alice.token },
      ),
    ).postMessage.id;
    // Subscribing after the post is safe: the event waited on is B applying it, which needs a
    // debounce, a session and a pull first. Should B already have it, the read below shows it.
    await Promise.race([
      arrives(b, posted, (content) => content === 'hello from a'),
      eventually(
        () => b.store.get(posted),
        (row) => row !== undefined,
      ),
    ]);
    expect(b.store.get(posted)).toMatchObject({ content: 'hello from a', originNode: a.nodeId });

    const edited = arrives(b, posted, (content) => content === 'edited on a');
    ok(
      await gateway.gql(
        a,
        'mutation($id: ID!) { editMessage(id: $id, content: "edited on a") { id } }',
        { id: posted },
        { token: alice.token },
      ),
    );
    await edited;
    const deleted = arrives(b, posted, (content) => content === '');
    ok(
      await gateway.gql(
        a,
        'mutation($id: ID!) { deleteMessage(id: $id) { id } }',
        { id: posted },
        { token: alice.token },
      ),
    );
    await deleted;
    expect(b.store.get(posted)?.deletedAt).not.toBeNull();
    expect(b.store.get(posted)?.hlc).toBe(a.store.get(posted)?.hlc);

    // B's pulls acknowledged it: the origin knows another node holds it.
    await eventually(
      () => a.store.get(posted)?.syncStatus,
      (status) => status === 'SYNCED',
    );
  });

  it('a manual FULL sync completes on both sides with matching digests', async () => {
    for (let i = 0; i < 5; i += 1) {
      ok(
        await gateway.gql(
          b,
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: room, c: `from b ${i}` },
          { token: alice.token },
        ),
      );
    }
    const created = ok(
      await gql<{ triggerSync: Array<{ id: string }> }>(
        central.url,
        'mutation($n: ID) { triggerSync(nodeId: $n, syncType: FULL) { id } }',
        { n: a.nodeId },
        { token: central.adminToken },
      ),
    ).triggerSync;
    expect(created.length).toBeGreaterThanOrEqual(1);
    const finished = await Promise.all(
      created.map((session) =>
        eventually(
          async () =>
            ok(
              await gql<{
                syncSession: { status: string; digestsMatch: boolean | null; error: string | null };
              }>(
                central.url,
                'query($id: ID!) { syncSession(id: $id) { status digestsMatch error } }',
                { id: session.id },
                { token: central.adminToken },
              ),
            ).syncSession,
          (s) => s.status === 'COMPLETED' || s.status === 'FAILED',
        ),
      ),
    );
    for (const session of finished)
      expect(session).toMatchObject({ status: 'COMPLETED', error: null });
    expect(roomDigests(b.db, [room])).toEqual(roomDigests(a.db, [room]));
    expect(roomDigests(a.db, [room]).digests[room]?.count).toBe(6);
  });
});
