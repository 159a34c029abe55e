// Limits and hostile input, in-process (central, one node, a gateway with small limits): login
// throttling engages, each operation-shape limit refuses with a code, batching is off, and one
// WebSocket cannot hold unbounded subscriptions. The fixed-seed fuzz of malformed bodies, queries
// and graphql-ws frames is in limits.fuzz.slow.test.ts (`npm run test:slow`).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChangeFeed } from '../../subgraphs/node/sync/changeFeed.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import {
  alice,
  central,
  gateway,
  node,
  room,
  startLimitsServers,
  stopLimitsServers,
} from './limitsServers.ts';

beforeAll(startLimitsServers, 60_000);
afterAll(stopLimitsServers);

const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }';

describe('sync batch bytes', () => {
  it('cuts a change-feed batch at the byte limit, always sending at least one version', async () => {
    for (const content of ['one', 'two', 'three']) {
      ok(
        await gql(
          gateway.url,
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: room, c: content },
          { token: alice.token },
        ),
      );
    }
    const feed = new ChangeFeed({ db: node.db, nodeId: node.nodeId, maxBatchBytes: 1 });
    const first = feed.read({ after: 0, limit: 100, roomIds: [room], peerNodeId: 'reader' });
    expect(first.versions).toHaveLength(1);
    expect(first.nextAfter).toBe(first.versions[0]?.seq);
    expect(first.nextAfter).toBeLessThan(first.headSeq);
    const second = feed.read({
      after: first.nextAfter,
      limit: 100,
      roomIds: [room],
      peerNodeId: 'reader',
    });
    expect(second.versions).toHaveLength(1);
    expect(second.versions[0]?.seq).toBeGreaterThan(first.nextAfter);
    const all = new ChangeFeed({ db: node.db, nodeId: node.nodeId });
    expect(
      all.read({ after: 0, limit: 100, roomIds: [room], peerNodeId: 'reader' }).versions.length,
    ).toBeGreaterThanOrEqual(4);
  });
});

describe('login throttling', () => {
  it('engages per username and address after the allowed failures, even for the right password', async () => {
    const bob = await central.createUser('bob');
    expect(bob.token).toMatch(/^ey/);
    for (let i = 0; i < 3; i++) {
      const wrong = await gql(gateway.url, LOGIN, { u: 'bob', p: `guess-${i}` });
      expect(codes(wrong)).toEqual(['UNAUTHENTICATED']);
    }
    const throttled = await gql(gateway.url, LOGIN, { u: 'bob', p: 'pw-bob-secret' });
    expect(codes(throttled)).toEqual(['RATE_LIMITED']);
    expect(throttled.errors?.[0]?.extensions?.['retryAfterSeconds']).toBeGreaterThan(0);
    // Another user is not locked out by bob's attacker.
    ok(await gql(gateway.url, LOGIN, { u: 'alice', p: 'pw-alice-secret' }));
  });

  it('engages per client address across usernames, and trusts a forwarded address only from the gateway', async () => {
    // Through the gateway every request here comes from 127.0.0.1: 3 failures are left before 8.
    const attempts: unknown[] = [];
    for (let i = 0; i < 6; i++) {
      const response = await gql(gateway.url, LOGIN, { u: `nobody-${i}`, p: 'x' });
      attempts.push(codes(response)[0]);
    }
    expect(attempts.slice(0, 5)).toEqual(Array(5).fill('UNAUTHENTICATED'));
    expect(attempts.at(-1)).toBe('RATE_LIMITED');
    // A client cannot pick its address at the gateway: the header it sends is not passed on.
    const spoofed = await gql(
      gateway.url,
      LOGIN,
      { u: 'alice', p: 'pw-alice-secret' },
      {
        headers: { 'x-switchboard-client-address': '203.0.113.7' },
      },
    );
    expect(codes(spoofed)).toEqual(['RATE_LIMITED']);
    // Central itself believes the header from a caller holding the gateway secret.
    ok(
      await gql(
        central.url,
        LOGIN,
        { u: 'alice', p: 'pw-alice-secret' },
        {
          headers: { 'x-switchboard-client-address': '203.0.113.7' },
        },
      ),
    );
  });
});

describe('operation limits at the gateway', () => {
  const cases: Array<[string, string]> = [
    [
      'depth',
      '{ rooms { messages { edges { node { room { messages { edges { node { id } } } } } } } } }',
    ],
    ['aliases', `{ ${Array.from({ length: 6 }, (_, i) => `a${i}: me { id }`).join(' ')} }`],
    ['tokens', `{ me { ${Array.from({ length: 500 }, () => 'id').join(' ')} } }`],
    [
      'cost',
      `{ ${Array.from({ length: 4 }, (_, i) => `c${i}: rooms { id name members { id username displayName role } homeNode { id name url status } replicaNodes { id name url status } }`).join(' ')} }`,
    ],
  ];

  for (const [limit, query] of cases) {
    it(`refuses an operation over the ${limit} limit before running it`, async () => {
      const response = await gql(gateway.url, query, {}, { token: alice.token });
      expect(response.status).toBe(400);
      // The token limit is graphql-js's parse option: a parse failure; the rest are validation rules.
      expect(codes(response)).toEqual([
        limit === 'tokens' ? 'GRAPHQL_PARSE_FAILED' : 'GRAPHQL_VALIDATION_FAILED',
      ]);
      expect(response.errors?.[0]?.message).toMatch(
        { depth: /depth/i, aliases: /aliases/i, tokens: /token/i, cost: /cost/i }[limit] ?? /./,
      );
      // Only the token limit is a parse failure; the others must not send users looking for a typo.
      if (limit !== 'tokens') expect(response.errors?.[0]?.message).not.toMatch(/Syntax Error/);
      expect(response.data ?? null).toBeNull();
    });
  }

  it('accepts batched requests only as a refusal (one operation per request)', async () => {
    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${alice.token}` },
      body: JSON.stringify([{ query: '{ me { id } }' }, { query: '{ me { id } }' }]),
    });
    expect(response.status).toBe(400);
  });

  it('refuses a third subscription on one WebSocket connection with RATE_LIMITED', async () => {
    const client = createClient({
      url: `${gateway.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${alice.token}` },
    });
    try {
      const query = 'subscription($r: ID!) { messageAdded(roomId: $r) { id } }';
      const stops = [0, 1].map(() =>
        client.subscribe(
          { query, variables: { r: room } },
          { next() {}, error() {}, complete() {} },
        ),
      );
      const refused = await new Promise<unknown>((resolve) =>
        client.subscribe(
          { query, variables: { r: room } },
          { next: () => resolve('next'), error: resolve, complete: () => resolve('complete') },
        ),
      );
      const first = Array.isArray(refused)
        ? (refused[0] as { extensions?: { code?: string } })
        : undefined;
      expect(first?.extensions?.code).toBe('RATE_LIMITED');
      for (const stop of stops) stop();
    } finally {
      await client.dispose();
    }
  });
});
