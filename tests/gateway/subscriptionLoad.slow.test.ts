// The subscription load: 50 graphql-ws clients of one room through the gateway of a real cluster,
// 200 messages. Minutes on a loaded 2-core machine, so it runs in `npm run test:slow`, not in
// `npm test`; the other subscription tests are in subscriptions.e2e.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { collect, wsClient, type Collected } from '../helpers/subscriptions.ts';
import { ADDED, gatewayCalls, type Added, type User } from './subscriptionCalls.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
const { createUser, createRoom, join, post, stats, waitForStats } = gatewayCalls(() => cluster);

beforeAll(async () => {
  // As in subscriptions.e2e.test.ts: slowness is not what is tested, so nodes do not flap. Central
  // on PGlite, as this load was measured and tuned against.
  cluster = await Cluster.start(leftovers, {
    nodeTimeoutMs: 5000,
    heartbeatIntervalMs: 1000,
    pglite: true,
  });
});
afterAll(() => leftovers.dispose());

describe('subscriptions through the gateway under load', () => {
  it('50 clients each receive all 200 messages once, in order, with fields of both subgraphs', async () => {
    const owner = await createUser('owner');
    const roomId = await createRoom(owner, 'fifty', 'node-a', ['node-b']);
    // 50 clients of 10 users (5 connections each, as tabs and devices would be).
    const users = [
      owner,
      ...(await Promise.all(Array.from({ length: 9 }, () => createUser('member')))),
    ];
    for (const user of users.slice(1)) await join(user, roomId);
    const before = await stats();
    const subs: Array<Collected<Added>> = [];
    for (let i = 0; i < 50; i++) {
      const user = users[i % users.length] as User;
      subs.push(
        collect<Added>(wsClient(leftovers, cluster.gatewayUrl, user.token), ADDED, { r: roomId }),
      );
    }
    // One upstream per storage node of the room, however many clients. The upstreams open after
    // the first client arrives, so wait for them rather than read the count once.
    const live = await waitForStats(
      (s) => s.clients === before.clients + 50 && s.upstream - before.upstream === 2,
    );
    expect(live.upstream - before.upstream).toBe(2);

    const posted: string[] = [];
    for (let i = 0; i < 200; i++) {
      posted.push(
        ok(await post(users[i % users.length] as User, roomId, `message ${i}`)).postMessage.id,
      );
    }
    // A last message marks the end: whatever arrives before it is all that will.
    const end = ok(await post(owner, roomId, 'end')).postMessage.id;
    await Promise.all(subs.map((s) => s.waitUntil((e) => e.messageAdded.id === end)));

    for (const sub of subs) {
      expect(sub.errors).toEqual([]);
      expect(sub.events.map((e) => e.messageAdded.id)).toEqual([...posted, end]);
      sub.events.slice(0, 200).forEach((event, i) => {
        expect(event.messageAdded.content).toBe(`message ${i}`);
        expect(event.messageAdded.sender.displayName).toBe(
          (users[i % users.length] as User).displayName,
        );
        expect(event.messageAdded.room.name).toBe('fifty');
      });
    }
    // Executions are shared per user: at most 10 per event, not 50.
    const after = await stats();
    expect(after.executions - before.executions).toBeLessThanOrEqual(201 * users.length);

    // Released once the last client leaves (waited for as an event, not timed).
    for (const sub of subs) sub.stop();
    const released = await waitForStats((s) => s.upstream === before.upstream);
    expect(released.clients).toBe(before.clients);
  }, 240_000);
});
