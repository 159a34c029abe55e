// Subscriptions through the gateway over a real cluster (central, chat nodes and the gateway as
// processes) with real graphql-ws clients: shared upstreams, fields of every subgraph, failover
// when the node feeding a room dies, access rules, and resuming from the last message seen.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';
import { ADDED, gatewayCalls, type Added } from './subscriptionCalls.ts';

const leftovers = new Leftovers();
let cluster: Cluster;

const { createUser, createRoom, join, post, stats, waitForStats } = gatewayCalls(() => cluster);

function codeOf(failure: unknown): unknown {
  const errors = Array.isArray(failure) ? failure : [failure];
  return (errors[0] as { extensions?: { code?: unknown } } | undefined)?.extensions?.code;
}

beforeAll(async () => {
  // Generous timeouts: the machine is shared, and slowness is not what is tested here (nodes
  // flapping OFFLINE under load only add noise; failover here rests on closed sockets).
  cluster = await Cluster.start(leftovers, { nodeTimeoutMs: 5000, heartbeatIntervalMs: 1000 });
});
afterAll(() => leftovers.dispose());

describe('subscriptions through the gateway', () => {
  it('nodeStatusChanged arrives with any selection, fragments and aliases included', async () => {
    const admin = { token: cluster.adminToken };
    const sub = collect<{ changed: { nodeName: string; status: string; id: string } }>(
      wsClient(leftovers, cluster.gatewayUrl, admin.token),
      `subscription { changed: nodeStatusChanged { ...N } }
       fragment N on Node { id nodeName: name status }`,
    );
    await waitForStats((s) => s.clients >= 1 && s.upstream >= 1);
    const node = await cluster.addNode('node-d');
    await sub.waitUntil((e) => e.changed.nodeName === 'node-d' && e.changed.status === 'ONLINE');
    await cluster.killNode('node-d');
    const offline = await sub.waitUntil(
      (e) => e.changed.nodeName === 'node-d' && e.changed.status === 'OFFLINE',
    );
    expect(offline.changed.id).toBe(node.id);
    expect(sub.errors).toEqual([]);
    sub.stop();
  });

  it('syncSessionUpdated delivers every status change of a session with node names', async () => {
    const admin = cluster.adminToken;
    const nodeB = cluster.node('node-b');
    // A room shared by node-b and node-c, with a message, so that the pair has something to sync.
    const owner = await createUser('owner');
    const roomId = await createRoom(owner, 'synced', 'node-b', ['node-c']);
    ok(await post(owner, roomId, 'to be synced'));
    const sub = collect<{
      syncSessionUpdated: {
        id: string;
        status: string;
        messagesSynced: number;
        sourceNode: { name: string };
        targetNode: { name: string };
      };
    }>(
      wsClient(leftovers, cluster.gatewayUrl, admin),
      `subscription($n: ID) { syncSessionUpdated(nodeId: $n) {
         id status messagesSynced sourceNode { name } targetNode { name } } }`,
      { n: nodeB.id },
    );
    await waitForStats((s) => s.clients >= 1);
    const trigger = async () =>
      ok(
        await gql<{ triggerSync: Array<{ id: string }> }>(
          cluster.gatewayUrl,
          'mutation($n: ID) { triggerSync(nodeId: $n, syncType: FULL) { id } }',
          { n: nodeB.id },
          { token: admin },
        ),
      ).triggerSync.map((s) => s.id);
    const finished = (id: string) =>
      sub.waitUntil(
        (e) =>
          e.syncSessionUpdated.id === id &&
          ['COMPLETED', 'FAILED'].includes(e.syncSessionUpdated.status),
      );
    // graphql-ws does not say when a subscription is in place upstream: a first round of
    // sessions, once seen to the end, shows it is.
    await Promise.all((await trigger()).map(finished));

    const sessions = await trigger();
    expect(sessions.length).toBeGreaterThan(0);
    for (const id of sessions) {
      const done = await finished(id);
      const seen = sub.events.map((e) => e.syncSessionUpdated).filter((e) => e.id === id);
      // Each event shows the session as it was at that change, not as it is by delivery.
      expect(seen.map((e) => e.status)[0]).toBe('PENDING');
      expect(seen.map((e) => e.status)).toContain('IN_PROGRESS');
      expect(done.syncSessionUpdated.status).toBe('COMPLETED');
      const synced = seen.map((e) => e.messagesSynced);
      expect(synced).toEqual([...synced].sort((x, y) => x - y));
      const names = [
        done.syncSessionUpdated.sourceNode.name,
        done.syncSessionUpdated.targetNode.name,
      ];
      expect(names).toContain('node-b');
      expect(names.filter((n) => n !== 'node-b')).toHaveLength(1);
    }
    expect(sub.errors).toEqual([]);
    sub.stop();
  });

  it('refuses non-members with FORBIDDEN and anonymous or forged tokens with UNAUTHENTICATED', async () => {
    const owner = await createUser('owner');
    const stranger = await createUser('stranger');
    const roomId = await createRoom(owner, 'private', 'node-b', ['node-c']);

    const forbidden = collect(wsClient(leftovers, cluster.gatewayUrl, stranger.token), ADDED, {
      r: roomId,
    });
    expect(codeOf(await forbidden.failure())).toBe('FORBIDDEN');

    const anonymous = collect(wsClient(leftovers, cluster.gatewayUrl), ADDED, { r: roomId });
    expect(codeOf(await anonymous.failure())).toBe('UNAUTHENTICATED');

    const forged = collect(wsClient(leftovers, cluster.gatewayUrl, `${owner.token}x`), ADDED, {
      r: roomId,
    });
    expect(codeOf(await forged.failure())).toBe('UNAUTHENTICATED');

    const status = collect(
      wsClient(leftovers, cluster.gatewayUrl),
      'subscription { nodeStatusChanged { id } }',
    );
    expect(codeOf(await status.failure())).toBe('UNAUTHENTICATED');
  });

  it('a member who leaves the room has their subscription ended with FORBIDDEN', async () => {
    const owner = await createUser('owner');
    const leaver = await createUser('leaver');
    const roomId = await createRoom(owner, 'leaving', 'node-c', ['node-b']);
    await join(leaver, roomId);
    const stays = collect<Added>(wsClient(leftovers, cluster.gatewayUrl, owner.token), ADDED, {
      r: roomId,
    });
    const goes = collect<Added>(wsClient(leftovers, cluster.gatewayUrl, leaver.token), ADDED, {
      r: roomId,
    });
    const before = await stats();
    await waitForStats((s) => s.clients >= before.clients && s.clients >= 2);
    const first = ok(await post(owner, roomId, 'before leaving')).postMessage.id;
    await goes.waitUntil((e) => e.messageAdded.id === first);

    ok(
      await gql(
        cluster.gatewayUrl,
        'mutation($r: ID!) { leaveRoom(roomId: $r) { id } }',
        { r: roomId },
        { token: leaver.token },
      ),
    );
    expect(codeOf(await goes.failure())).toBe('FORBIDDEN');
    const second = ok(await post(owner, roomId, 'after leaving')).postMessage.id;
    await stays.waitUntil((e) => e.messageAdded.id === second);
    expect(goes.events.map((e) => e.messageAdded.id)).not.toContain(second);
    stays.stop();
  });

  it('a client resumes from the last message id it saw: what it missed, then live', async () => {
    const owner = await createUser('owner');
    const roomId = await createRoom(owner, 'resume', 'node-b', ['node-c']);
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) ids.push(ok(await post(owner, roomId, `old ${i}`)).postMessage.id);
    const sub = collect<Added>(wsClient(leftovers, cluster.gatewayUrl, owner.token), ADDED, {
      r: roomId,
      after: ids[9],
    });
    await sub.waitFor(20);
    const live = ok(await post(owner, roomId, 'live')).postMessage.id;
    await sub.waitUntil((e) => e.messageAdded.id === live);
    expect(sub.events.map((e) => e.messageAdded.id)).toEqual([...ids.slice(10), live]);
    expect(sub.events[0]?.messageAdded.sender.displayName).toBe(owner.displayName);
    sub.stop();
  });

  it('killing the node feeding a room loses nothing: every committed message arrives once', async () => {
    const owner = await createUser('owner');
    const roomId = await createRoom(owner, 'failover', 'node-a', ['node-b']);
    const subs = Array.from({ length: 5 }, () =>
      collect<Added>(wsClient(leftovers, cluster.gatewayUrl, owner.token), ADDED, { r: roomId }),
    );
    const before = await stats();
    await waitForStats((s) => s.clients >= 5 && s.upstream >= before.upstream);

    const committed: string[] = [];
    const postMany = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const response = await post(owner, roomId, `m${i}`);
        // A post cut off by the kill may or may not have committed; only answered ones count.
        if (response.data?.postMessage) committed.push(response.data.postMessage.id);
      }
    };
    await postMany(0, 30);
    // Killed mid-stream: no waiting for the subscribers to have caught up first.
    const killed = cluster.killNode('node-a');
    await postMany(30, 60);
    await killed;
    await postMany(60, 90);
    expect(committed.length).toBeGreaterThanOrEqual(60);
    const onB = committed.slice(-20);
    // Posts made after the kill went to node-b: its feed alone must bring them.
    await Promise.all(
      subs.map((s) => Promise.all(onB.map((id) => s.waitUntil((e) => e.messageAdded.id === id)))),
    );

    // node-a back: anything it committed that never reached the gateway is replayed from the
    // cursor of its feed.
    await cluster.startNode('node-a');
    await cluster.waitUntilRoutable(['node-a']);
    await Promise.all(
      subs.map((s) =>
        Promise.all(committed.map((id) => s.waitUntil((e) => e.messageAdded.id === id))),
      ),
    );
    const end = ok(await post(owner, roomId, 'end')).postMessage.id;
    for (const sub of subs) {
      await sub.waitUntil((e) => e.messageAdded.id === end);
      const received = sub.events.map((e) => e.messageAdded.id);
      expect(new Set(received).size).toBe(received.length);
      expect(received).toEqual(expect.arrayContaining(committed));
      expect(sub.errors).toEqual([]);
      sub.stop();
    }
  });
});
