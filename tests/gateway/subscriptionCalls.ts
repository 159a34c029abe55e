// The gateway calls the subscription suites share (tests/gateway/subscriptions.e2e.test.ts and the
// 50-client load in subscriptionLoad.slow.test.ts): users, rooms, posts and the gateway's counters.
import { expect } from 'vitest';
import type { Cluster } from '../helpers/cluster.ts';
import { gql, ok } from '../helpers/graphql.ts';

export interface User {
  readonly id: string;
  readonly token: string;
  readonly displayName: string;
}
export interface SubscriptionStats {
  upstream: number;
  clients: number;
  executions: number;
}
export interface Added {
  messageAdded: {
    id: string;
    content: string;
    sender: { displayName: string };
    room: { name: string };
  };
}

export const ADDED = `subscription($r: ID!, $after: String) {
  messageAdded(roomId: $r, after: $after) { id content sender { displayName } room { name } }
}`;

/** The calls, made through the gateway of `cluster()` (a getter: the cluster starts in beforeAll). */
export function gatewayCalls(cluster: () => Cluster) {
  let userCount = 0;
  async function createUser(prefix: string): Promise<User> {
    const username = `${prefix}${++userCount}`;
    const password = `${username}-password`;
    const displayName = `${prefix.toUpperCase()} number ${userCount}`;
    const id = ok(
      await gql<{ createUser: { id: string } }>(
        cluster().gatewayUrl,
        'mutation($u: String!, $p: String!, $d: String) { createUser(username: $u, password: $p, displayName: $d) { id } }',
        { u: username, p: password, d: displayName },
        { token: cluster().adminToken },
      ),
    ).createUser.id;
    const token = ok(
      await gql<{ login: { token: string } }>(
        cluster().gatewayUrl,
        'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
        { u: username, p: password },
      ),
    ).login.token;
    return { id, token, displayName };
  }

  async function createRoom(owner: User, name: string, home: string, replicas: string[]) {
    return ok(
      await gql<{ createRoom: { id: string } }>(
        cluster().gatewayUrl,
        'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { n: name, h: cluster().node(home).id, r: replicas.map((r) => cluster().node(r).id) },
        { token: owner.token },
      ),
    ).createRoom.id;
  }

  async function join(user: User, roomId: string): Promise<void> {
    ok(
      await gql(
        cluster().gatewayUrl,
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: roomId },
        { token: user.token },
      ),
    );
  }

  async function post(user: User, roomId: string, content: string) {
    return gql<{ postMessage: { id: string } }>(
      cluster().gatewayUrl,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: roomId, c: content },
      { token: user.token },
    );
  }

  async function stats(): Promise<SubscriptionStats> {
    const response = await fetch(`${cluster().gatewayUrl}/ready`, {
      headers: { authorization: `Bearer ${cluster().adminToken}` },
    });
    return ((await response.json()) as { subscriptions: SubscriptionStats }).subscriptions;
  }

  /** Polls the gateway's counters until `check` holds, and returns the counters that did. */
  async function waitForStats(
    check: (s: SubscriptionStats) => boolean,
    timeoutMs = 20_000,
  ): Promise<SubscriptionStats> {
    let last: SubscriptionStats | undefined;
    await expect
      .poll(async () => (last = await stats()), { timeout: timeoutMs, interval: 20 })
      .toSatisfy(check);
    return last as SubscriptionStats;
  }

  return { createUser, createRoom, join, post, stats, waitForStats };
}
