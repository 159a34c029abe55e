// Limits and hostile input, in-process (central, one node, a gateway with small limits): login
// throttling engages, each operation-shape limit refuses with a code, batching is off, one
// WebSocket cannot hold unbounded subscriptions, and a fixed-seed fuzz run of malformed bodies,
// queries and graphql-ws frames gets only 4xx answers or GraphQL errors with known codes, with
// every process still up and no data changed.
import fc from 'fast-check';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { PULL_TOKEN_HEADER } from '../../lib/pullToken.ts';
import { SYNC_CHANGES_PATH, SYNC_DIGESTS_PATH } from '../../lib/syncProtocol.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { roomMembers, rooms, users } from '../../subgraphs/central/db/schema.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { ChangeFeed } from '../../subgraphs/node/sync/changeFeed.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { snapshot } from '../node/helpers.ts';

const leftovers = new Leftovers();
let central: TestCentral;
let node: NodeServer;
let nodeKey: string;
let gateway: GatewayServer;
let alice: { id: string; token: string };
let room: string;
/** Calls the node directly as a gateway would. */
let asGateway: TestGateway;

const LIMITS = { maxDepth: 6, maxCost: 150, maxAliases: 5, maxTokens: 400 };
const KNOWN_CODES = new Set<string>(Object.keys(errorCodes));

beforeAll(async () => {
  central = await startTestCentral(leftovers, {
    loginThrottle: {
      maxFailuresPerUsernameAndAddress: 3,
      maxFailuresPerUsername: 3,
      maxFailuresPerAddress: 8,
      windowMs: 60_000,
    },
  });
  asGateway = await registerTestGateway(central.url);
  const registered = await central.registerNode('node-a');
  nodeKey = registered.apiKey;
  node = leftovers.add(
    await startNode({
      name: 'node-a',
      dataDir: await leftovers.tempDir('switchboard-limits-'),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      logger: silentLogger,
      sync: false,
    }),
    (n) => n.close(),
  );
  gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      logger: silentLogger,
      nodeTimeoutMs: 10_000,
      queryLimits: LIMITS,
      maxSubscriptionsPerConnection: 2,
      maxWsPayloadBytes: 64 * 1024,
      wsConnectionInitTimeoutMs: 2000,
    }),
    (g) => g.close(),
  );
  await expect
    .poll(
      () =>
        gateway.routing
          .report()
          .nodes.some((n) => n.status === 'ONLINE' && n.schema.state === 'ok'),
      { timeout: 30_000, message: 'the gateway never routed to node-a' },
    )
    .toBe(true);
  alice = await central.createUser('alice');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation { createRoom(name: "fuzzed") { id } }',
      {},
      { token: alice.token },
    ),
  ).createRoom.id;
  ok(
    await gql(
      gateway.url,
      'mutation($r: ID!) { postMessage(roomId: $r, content: "before the fuzz") { id } }',
      { r: room },
      { token: alice.token },
    ),
  );
}, 60_000);

afterAll(() => leftovers.dispose());

async function state(): Promise<unknown> {
  const db = central.central.db.db;
  return {
    users: await db.select().from(users).orderBy(users.id),
    rooms: await db.select().from(rooms).orderBy(rooms.id),
    members: await db.select().from(roomMembers).orderBy(roomMembers.roomId, roomMembers.userId),
    node: snapshot(node.db),
  };
}

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

/** Sends a raw HTTP request; returns the status and the parsed body (undefined when not JSON). */
async function raw(url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

function expectHandled(answer: { status: number; body: unknown }, what: string): void {
  expect(answer.status, what).toBeLessThan(500);
  const errors = (
    answer.body as { errors?: Array<{ extensions?: { code?: unknown } }> } | undefined
  )?.errors;
  if (answer.status >= 400) {
    expect(Array.isArray(errors) && errors.length > 0, `${what}: errors in the body`).toBe(true);
  }
  for (const error of errors ?? []) {
    expect(
      KNOWN_CODES.has(String(error.extensions?.code)),
      `${what}: ${String(error.extensions?.code)}`,
    ).toBe(true);
  }
}

const jsonish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc.constantFrom(
    '',
    '{',
    '[]',
    'null',
    '{"query":1}',
    '{"query":"{"}',
    '{"query":"{ me { id } }","variables":"x"}',
  ),
);
const queryish = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.constantFrom(
    'mutation { createUser(username: "x", password: "y") { id } }',
    'mutation($r: ID!) { postMessage(roomId: $r, content: "fuzz") { id } }',
    '{ room(id: 5) { id } }',
    'query($r: ID!) { room(id: $r) { messages(first: -1) { edges { node { id } } } } }',
  ),
  fc
    .integer({ min: 1, max: 60 })
    .map((n) => `${'{ rooms { messages { edges { node { room '.repeat(n)}{ id }`),
  fc
    .integer({ min: 1, max: 400 })
    .map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: rooms { id }`).join(' ')} }`),
  fc.integer({ min: 1_000, max: 300_000 }).map((n) => `{ me { id } } # ${'x'.repeat(n)}`),
);
const variablesish = fc.oneof(
  fc.constant(undefined),
  fc.json({ maxDepth: 3 }).map((v) => JSON.parse(v) as unknown),
  fc.record({ r: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string())) }),
);

describe('fuzz (fixed seed, bounded)', () => {
  it('answers malformed HTTP bodies, queries and variables with 4xx or coded GraphQL errors, changing nothing', async () => {
    const before = await state();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          jsonish.map((body) => ({ body, contentType: 'application/json' })),
          fc.record({ query: queryish, variables: variablesish }).map((b) => ({
            body: JSON.stringify(b),
            contentType: 'application/json',
          })),
          fc.string({ maxLength: 100 }).map((body) => ({ body, contentType: 'text/plain' })),
        ),
        fc.boolean(),
        async (request, withToken) => {
          // Nodes with a gateway's assertion, too: the gateway is not their only shield.
          const credentials: Array<[string, Record<string, string>]> = [
            [gateway.url, withToken ? { authorization: `Bearer ${alice.token}` } : {}],
            [
              node.url,
              {
                'x-gateway-assertion': await asGateway.assertionFor(
                  node.nodeId,
                  withToken ? alice.token : undefined,
                ),
              },
            ],
          ];
          for (const [target, headers] of credentials) {
            const answer = await raw(`${target}/graphql`, {
              method: 'POST',
              headers: { 'content-type': request.contentType, ...headers },
              body: request.body,
            });
            expectHandled(answer, `${target} <- ${request.body.slice(0, 120)}`);
          }
        },
      ),
      { seed: 20261125, numRuns: 150, interruptAfterTimeLimit: 20_000 },
    );
    // Writes that are well-formed and allowed (alice posting) are part of the corpus; what must
    // not change is everything else.
    const after = (await state()) as { users: unknown; rooms: unknown; members: unknown };
    const was = before as typeof after;
    expect({ users: after.users, rooms: after.rooms, members: after.members }).toEqual({
      users: was.users,
      rooms: was.rooms,
      members: was.members,
    });
    ok(await gql(gateway.url, '{ me { id } }', {}, { token: alice.token }));
  }, 90_000);

  it("answers malformed requests on a node's sync feed with 4xx and a code", async () => {
    // A valid token (for one room) lets malformed parameters reach the parser.
    const { token: pullToken } = await central.central.services.tokens.signPull({
      sourceNodeId: node.nodeId,
      targetNodeId: 'a-peer',
      roomIds: ['some-room'],
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(SYNC_CHANGES_PATH, SYNC_DIGESTS_PATH, '/internal/nothing'),
        fc.dictionary(
          fc.constantFrom('after', 'limit', 'rooms', 'count'),
          fc.oneof(
            fc.string({ maxLength: 50 }),
            fc.integer().map(String),
            fc.constant('9'.repeat(40)),
          ),
        ),
        fc.constantFrom<Record<string, string>>(
          {},
          { [NODE_KEY_HEADER]: 'sbk_wrong' },
          { [NODE_KEY_HEADER]: nodeKey },
          { [PULL_TOKEN_HEADER]: 'x'.repeat(6000) },
          { [PULL_TOKEN_HEADER]: pullToken },
        ),
        fc.constantFrom('GET', 'POST', 'PUT'),
        async (path, params, headers, method) => {
          const answer = await raw(`${node.url}${path}?${new URLSearchParams(params).toString()}`, {
            method,
            headers,
          });
          expectHandled(answer, `${method} ${path} ${JSON.stringify(params)}`);
        },
      ),
      { seed: 20261125, numRuns: 120, interruptAfterTimeLimit: 10_000 },
    );
    expect((await fetch(`${node.url}/health`)).status).toBe(200);
  }, 60_000);

  it('survives malformed graphql-ws frames: the connection is closed or errors, the server stays up', async () => {
    const frames = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.constantFrom(
        '{"type":"subscribe"}',
        '{"type":"subscribe","id":"1","payload":{"query":42}}',
        '{"type":"connection_init","payload":"x"}',
        '{"type":"ping","payload":[1,2]}',
        'x'.repeat(70_000),
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(frames, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (list, init) => {
          const socket = new WebSocket(
            `${gateway.url.replace(/^http/, 'ws')}/graphql`,
            'graphql-transport-ws',
          );
          await new Promise<void>((resolve, reject) => {
            socket.once('open', () => resolve());
            socket.once('error', reject);
          });
          const closed = new Promise<number>((resolve) =>
            socket.once('close', (code) => resolve(code)),
          );
          socket.on('error', () => {});
          if (init) socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
          for (const frame of list) socket.send(frame);
          // Every sequence here is invalid somewhere, or leaves the connection uninitialised: the
          // server closes it (4400 bad message, 4401 unauthorised, 4408 init timeout, 1009 too big)
          // or, for a valid ping, answers; either way it must not hang forever or crash.
          const code = await Promise.race([
            closed,
            new Promise<number>((resolve) => setTimeout(() => resolve(0), 1000)),
          ]);
          socket.terminate();
          expect(
            [0, 1000, 1005, 1006, 1009, 4400, 4401, 4408, 4409, 4429].includes(code),
            `close ${code}`,
          ).toBe(true);
        },
      ),
      { seed: 20261125, numRuns: 15, interruptAfterTimeLimit: 20_000 },
    );
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  }, 60_000);
});
