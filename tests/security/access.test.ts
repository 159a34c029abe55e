// Who may do what, as a table: every protected operation x every kind of bad credential gets its
// code, nothing leaks, and nothing changes (read back from central's tables and the nodes' files).
// In-process (central, three nodes and a gateway on port 0) so the table runs in seconds.
import { generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { v7 as uuidv7 } from 'uuid';
import { eq } from 'drizzle-orm';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { PULL_TOKEN_HEADER } from '../../lib/pullToken.ts';
import { SYNC_CHANGES_PATH } from '../../lib/syncProtocol.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../lib/userAuth.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import {
  distributedMessages,
  messageSyncLog,
  nodes,
  roomMembers,
  roomMembershipHistory,
  rooms,
  settings,
  syncSessions,
  users,
} from '../../subgraphs/central/db/schema.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { askPullToken } from '../helpers/pullTokens.ts';
import { snapshot } from '../node/helpers.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';
import { until } from '../helpers/until.ts';

const leftovers = new Leftovers();
let central: TestCentral;
let gateway: GatewayServer;
/** Calls nodes directly as a gateway would (its own registered key), for node-side checks. */
let asGateway: TestGateway;
const node: Record<'a' | 'b' | 'c', NodeServer & { apiKey: string }> = {} as never;
let alice: { id: string; token: string }; // MEMBER, member of the room
let mallory: { id: string; token: string }; // MEMBER, member of nothing
let room: string; // home a, replica b (not c)
let messageId: string;
const SECRET_CONTENT = 'the launch code is 0000';
const tokens: Record<string, string> = {};

async function signWith(privateJwk: JWK, kid: string, exp: number, role = 'ADMIN') {
  const key = await importJWK(privateJwk, 'EdDSA');
  return new SignJWT({ username: 'admin', role })
    .setProtectedHeader({ alg: 'EdDSA', kid })
    .setSubject(alice.id)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setIssuedAt(exp - 60)
    .setExpirationTime(exp)
    .sign(key);
}

async function startTestNode(name: 'a' | 'b' | 'c') {
  const registered = await central.registerNode(`node-${name}`);
  const started = leftovers.add(
    await startNode({
      name: `node-${name}`,
      dataDir: await leftovers.tempDir(`switchboard-sec-${name}-`),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      logger: silentLogger,
      sync: false,
      // A removal reaches a node running without sync only as its "member" answer runs out (5 s
      // by default): a short one, so that the removals below are seen on the nodes sooner.
      membershipCacheMs: 1000,
    }),
    (n) => n.close(),
  );
  node[name] = Object.assign(started, { apiKey: registered.apiKey });
}

/** Everything a refused request could have changed. */
async function state(): Promise<unknown> {
  const db = central.central.db.db;
  return {
    users: await db.select().from(users).orderBy(users.id),
    nodes: (await db.select().from(nodes).orderBy(nodes.id)).map((n) => ({
      id: n.id,
      name: n.name,
      url: n.url,
      apiKeyHash: n.apiKeyHash,
      syncEnabled: n.syncEnabled,
      autoSyncInterval: n.autoSyncInterval,
    })),
    rooms: await db.select().from(rooms).orderBy(rooms.id),
    members: await db.select().from(roomMembers).orderBy(roomMembers.roomId, roomMembers.userId),
    nodeFiles: [snapshot(node.a.db), snapshot(node.b.db), snapshot(node.c.db)],
  };
}

beforeAll(async () => {
  // The nodes run without sync, so without the job stream central's removal notices come by:
  // each removal would wait out central's whole deadline (5 s by default) for their answer.
  central = await startTestCentral(leftovers, { membershipNoticeDeadlineMs: 100 });
  asGateway = await registerTestGateway(central.url);
  await Promise.all([startTestNode('a'), startTestNode('b'), startTestNode('c')]);
  gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      logger: silentLogger,
      nodeTimeoutMs: 10_000,
    }),
    (g) => g.close(),
  );
  const routable = () =>
    gateway.routing.report().nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok')
      .length;
  // A hook, where expect.poll is not allowed: vi.waitFor retries the same way.
  await vi.waitFor(
    () =>
      expect(routable(), 'the gateway never routed to the three nodes').toBeGreaterThanOrEqual(3),
    { timeout: 30_000 },
  );
  alice = await central.createUser('alice');
  mallory = await central.createUser('mallory');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation($h: ID!, $r: [ID!]) { createRoom(name: "private", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: node.a.nodeId, r: [node.b.nodeId] },
      { token: alice.token },
    ),
  ).createRoom.id;
  messageId = ok(
    await gql<{ postMessage: { id: string } }>(
      gateway.url,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: room, c: SECRET_CONTENT },
      { token: alice.token },
    ),
  ).postMessage.id;

  const [row] = await central.central.db.db
    .select()
    .from(settings)
    .where(eq(settings.key, 'token_signing_key'));
  const stored = row?.value as { kid: string; privateJwk: JWK };
  const now = Math.floor(Date.now() / 1000);
  const forger = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
  const { exportJWK } = await import('jose');
  tokens['malformed'] = 'not-a-jwt';
  tokens['expired'] = await signWith(stored.privateJwk, stored.kid, now - 120);
  // Right key id, right claims, someone else's key: the signature cannot verify.
  tokens['forged'] = await signWith(
    { ...(await exportJWK(forger.privateKey)), alg: 'EdDSA' },
    stored.kid,
    now + 3600,
  );
  tokens['member'] = mallory.token;
  tokens['alice'] = alice.token;
}, 60_000);

afterAll(() => leftovers.dispose());

type Need = 'admin' | 'member' | 'user';
interface Operation {
  readonly name: string;
  readonly need: Need;
  readonly query: string;
  readonly variables: () => Record<string, unknown>;
}

const operations: Operation[] = [
  {
    name: 'createUser',
    need: 'admin',
    query: 'mutation { createUser(username: "intruder", password: "intruder-password") { id } }',
    variables: () => ({}),
  },
  {
    name: 'registerNode',
    need: 'admin',
    query: 'mutation { registerNode(name: "rogue", url: "http://127.0.0.1:9") { apiKey } }',
    variables: () => ({}),
  },
  {
    name: 'rotateNodeApiKey',
    need: 'admin',
    query: 'mutation($n: ID!) { rotateNodeApiKey(nodeId: $n) { apiKey } }',
    variables: () => ({ n: node.a.nodeId }),
  },
  {
    name: 'updateNode',
    need: 'admin',
    query: 'mutation($n: ID!) { updateNode(id: $n, syncEnabled: false) { id } }',
    variables: () => ({ n: node.a.nodeId }),
  },
  {
    name: 'triggerSync',
    need: 'admin',
    query: 'mutation($n: ID!) { triggerSync(nodeId: $n) { id } }',
    variables: () => ({ n: node.a.nodeId }),
  },
  {
    name: 'syncPairs',
    need: 'admin',
    query: '{ syncPairs { behind } }',
    variables: () => ({}),
  },
  {
    name: 'replicationStats',
    need: 'admin',
    query: '{ replicationStats { pairs { buckets { versions lagP99Ms } } } }',
    variables: () => ({}),
  },
  {
    name: 'room.messages',
    need: 'member',
    query: 'query($r: ID!) { room(id: $r) { messages { edges { node { id content } } } } }',
    variables: () => ({ r: room }),
  },
  {
    name: 'message(id)',
    need: 'member',
    query: 'query($m: ID!) { message(id: $m) { id content } }',
    variables: () => ({ m: messageId }),
  },
  {
    name: 'searchMessages(roomIds)',
    need: 'member',
    query:
      'query($r: ID!) { searchMessages(query: "launch", roomIds: [$r]) { edges { node { content } highlights { snippet } } } }',
    variables: () => ({ r: room }),
  },
  {
    name: 'messageIndex',
    need: 'member',
    query: 'query($r: ID!) { messageIndex(roomId: $r) { edges { node { id } } } }',
    variables: () => ({ r: room }),
  },
  {
    name: 'postMessage',
    need: 'member',
    query: 'mutation($r: ID!) { postMessage(roomId: $r, content: "intrusion") { id } }',
    variables: () => ({ r: room }),
  },
  {
    name: 'joinRoom as nobody',
    need: 'user',
    query: 'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
    variables: () => ({ r: room }),
  },
];

type Credential = 'none' | 'malformed' | 'expired' | 'forged' | 'member';
const credentials: Credential[] = ['none', 'malformed', 'expired', 'forged', 'member'];

function expected(op: Operation, credential: Credential): string | null {
  if (credential !== 'member') return 'UNAUTHENTICATED';
  // `member` is mallory: a MEMBER (where ADMIN is needed) and a non-member of the room.
  if (op.need === 'user') return null;
  return 'FORBIDDEN';
}

describe('access table through the gateway', () => {
  it('gives every protected operation x bad credential its code, leaks nothing and changes nothing', async () => {
    const before = await state();
    const rows: string[] = [];
    for (const op of operations) {
      for (const credential of credentials) {
        const want = expected(op, credential);
        if (want === null) continue;
        const token = credential === 'none' ? undefined : tokens[credential];
        const response = await gql(gateway.url, op.query, op.variables(), {
          ...(token === undefined ? {} : { token }),
          gatewaySecret: null,
        });
        const got = codes(response);
        rows.push(`${op.name} x ${credential}: ${JSON.stringify(got)}`);
        expect(got, `${op.name} x ${credential}`).toContain(want);
        expect(JSON.stringify(response), `${op.name} x ${credential}`).not.toContain(
          SECRET_CONTENT,
        );
      }
    }
    expect(rows.length).toBeGreaterThan(40);
    expect(await state()).toEqual(before);
  });

  it('still serves the member and the admin (the table refuses for the right reason)', async () => {
    const read = ok(
      await gql<{ message: { content: string } }>(
        gateway.url,
        'query($m: ID!) { message(id: $m) { content } }',
        { m: messageId },
        { token: alice.token },
      ),
    );
    expect(read.message.content).toBe(SECRET_CONTENT);
    ok(await gql(gateway.url, '{ syncPairs { behind } }', {}, { token: central.adminToken }));
    ok(
      await gql(
        gateway.url,
        '{ replicationStats { bucketSeconds } }',
        {},
        {
          token: central.adminToken,
        },
      ),
    );
  });
});

/** The first error (or 'next'/'complete') of one subscription. */
function firstOutcome(
  url: string,
  params: Record<string, unknown>,
  query: string,
  variables: Record<string, unknown> = { r: room },
) {
  const client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: params,
  });
  return new Promise<unknown>((resolve) => {
    client.subscribe(
      { query, variables },
      {
        next: (result) => resolve(result.errors ? result.errors : 'next'),
        error: resolve,
        complete: () => resolve('complete'),
      },
    );
  }).finally(() => client.dispose());
}
const code = (outcome: unknown) =>
  Array.isArray(outcome)
    ? (outcome[0] as { extensions?: { code?: string } }).extensions?.code
    : String(outcome);

describe('subscriptions', () => {
  const ADDED = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content } }';

  it('refuses messageAdded at the gateway for every bad credential', async () => {
    const cases: Array<[Credential, string]> = [
      ['none', 'UNAUTHENTICATED'],
      ['malformed', 'UNAUTHENTICATED'],
      ['expired', 'UNAUTHENTICATED'],
      ['forged', 'UNAUTHENTICATED'],
      ['member', 'FORBIDDEN'],
    ];
    for (const [credential, want] of cases) {
      const token = tokens[credential];
      const outcome = await firstOutcome(
        gateway.url,
        token === undefined ? {} : { authorization: `Bearer ${token}` },
        ADDED,
      );
      expect(code(outcome), credential).toBe(want);
    }
  });

  it('ends a running subscription when its token expires, after delivering what came before', async () => {
    const rows = await central.central.db.db.select().from(settings);
    const stored = rows.find((r) => r.key === 'token_signing_key')?.value as {
      kid: string;
      privateJwk: JWK;
    };
    // Alice's identity, valid for three more seconds (JWT expiry has one-second resolution).
    const shortLived = await signWith(
      stored.privateJwk,
      stored.kid,
      Math.floor(Date.now() / 1000) + 3,
      'MEMBER',
    );
    const client = wsClient(leftovers, gateway.url, shortLived);
    const events = collect<{ messageAdded: { content: string } }>(client, ADDED, { r: room });
    // Wait until the subscription is live upstream before posting, so the event is not missed.
    await expect
      .poll(() => gateway.subscriptions.stats().clients, {
        timeout: 10_000,
        message: 'the subscription never started',
      })
      .toBeGreaterThanOrEqual(1);
    ok(
      await gql(
        gateway.url,
        'mutation($r: ID!) { postMessage(roomId: $r, content: "before expiry") { id } }',
        { r: room },
        { token: alice.token },
      ),
    );
    expect((await events.waitFor(1))[0]?.messageAdded.content).toBe('before expiry');
    const ending = await events.failure();
    expect(ending).toEqual([
      expect.objectContaining({
        message: 'token has expired: log in again',
        extensions: expect.objectContaining({ code: 'UNAUTHENTICATED' }),
      }),
    ]);
  });

  it("refuses subscriptions on a node without a gateway assertion (a member's token and the gateway secret included), and a non-member with one", async () => {
    for (const params of [
      { authorization: `Bearer ${alice.token}` },
      { authorization: `Bearer ${alice.token}`, gatewaySecret: TEST_GATEWAY_SECRET },
    ]) {
      expect(code(await firstOutcome(node.a.url, params, ADDED))).toBe('UNAUTHENTICATED');
    }
    const nonMember = await firstOutcome(
      node.a.url,
      { gatewayAssertion: await asGateway.assertionFor(node.a.nodeId, mallory.token) },
      ADDED,
    );
    expect(code(nonMember)).toBe('FORBIDDEN');
  });
});

describe('central and nodes called directly, without the gateway', () => {
  const direct = [
    { target: 'central', url: () => central.url, query: '{ nodes { id name } }' },
    {
      target: 'central login',
      url: () => central.url,
      query: 'mutation { login(username: "admin", password: "x") { token } }',
    },
    {
      target: 'node message(id)',
      url: () => node.a.url,
      query: `{ message(id: "${messageId}") { content } }`,
    },
    {
      target: 'node _entities',
      url: () => node.b.url,
      query: `{ _entities(representations: [{ __typename: "Room", id: "${room}" }]) { ... on Room { messages { edges { node { content } } } } } }`,
    },
    {
      target: 'node postMessage',
      url: () => node.a.url,
      query: `mutation { postMessage(roomId: "${room}", content: "bypass") { id } }`,
    },
  ];

  it('refuses every user operation without the gateway secret, or with a wrong one, even with an ADMIN token (nodes: even with the right one)', async () => {
    const before = await state();
    for (const call of direct) {
      const secrets = call.target.startsWith('node')
        ? [null, 'wrong-secret', '', TEST_GATEWAY_SECRET]
        : [null, 'wrong-secret', ''];
      for (const secret of secrets) {
        const response = await gql(
          call.url(),
          call.query,
          {},
          {
            token: central.adminToken,
            gatewaySecret: secret,
          },
        );
        expect(codes(response), `${call.target} with ${String(secret)}`).toEqual([
          'UNAUTHENTICATED',
        ]);
        expect(response.status).toBe(401);
        expect(JSON.stringify(response)).not.toContain(SECRET_CONTENT);
      }
    }
    expect(await state()).toEqual(before);
  });

  it("keeps room privacy on a node even with a gateway's assertion: a non-member reads nothing", async () => {
    for (const target of [node.a, node.b]) {
      const entities = await asGateway.gql(
        target,
        `query($r: _Any!) { _entities(representations: [$r]) { ... on Room { messages { edges { node { content } } } } } }`,
        { r: { __typename: 'Room', id: room } },
        { token: mallory.token },
      );
      expect(codes(entities)).toContain('FORBIDDEN');
      expect(JSON.stringify(entities)).not.toContain(SECRET_CONTENT);
    }
    const byId = await asGateway.gql(
      node.a,
      'query($m: ID!) { message(id: $m) { content } }',
      { m: messageId },
      { token: mallory.token },
    );
    expect(codes(byId)).toContain('FORBIDDEN');
  });
});

describe('node keys', () => {
  async function heartbeat(apiKey: string | undefined) {
    const response = await fetch(`${central.url}/internal/heartbeat`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(apiKey === undefined ? {} : { [NODE_KEY_HEADER]: apiKey }),
      },
      body: JSON.stringify({ url: 'http://127.0.0.1:9/hijack' }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  async function feed(source: NodeServer, headers: Record<string, string>, rooms: string) {
    const response = await fetch(
      `${source.url}${SYNC_CHANGES_PATH}?after=0&limit=10&rooms=${rooms}`,
      { headers },
    );
    const body = (await response.json()) as { errors?: Array<{ extensions?: { code?: string } }> };
    return { status: response.status, code: body.errors?.[0]?.extensions?.code, body };
  }

  it('a key acts only as its own node: heartbeats name the key owner, wrong and missing keys get 401', async () => {
    const before = await state();
    expect((await heartbeat(undefined)).status).toBe(401);
    expect((await heartbeat('sbk_wrong')).status).toBe(401);
    expect((await heartbeat('x'.repeat(10_000))).status).toBe(401);
    expect(await state()).toEqual(before);
    // node-c's key beats as node-c, whatever it claims: no way to name another node.
    const own = await heartbeat(node.c.apiKey);
    expect(own.status).toBe(200);
    expect(own.body['nodeId']).toBe(node.c.nodeId);
    // Put node-c's real URL back (the heartbeat above reported another one).
    await heartbeat(node.c.apiKey).then(() =>
      fetch(`${central.url}/internal/heartbeat`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [NODE_KEY_HEADER]: node.c.apiKey },
        body: JSON.stringify({ url: node.c.url }),
      }),
    );
  });

  it("a peer's feed serves only with a pull token central signed for rooms both nodes store; keys are no credential there", async () => {
    const granted = await askPullToken(central.url, node.b.apiKey, node.a.nodeId, [room]);
    expect(granted.status).toBe(200);
    const token = { [PULL_TOKEN_HEADER]: String(granted.body.token) };
    const ofB = await feed(node.a, token, room);
    expect(ofB.status).toBe(200);
    expect(JSON.stringify(ofB.body)).toContain(SECRET_CONTENT);
    // node-c does not store the room: central signs it no token.
    const forC = await askPullToken(central.url, node.c.apiKey, node.a.nodeId, [room]);
    expect(forC.status).toBe(403);
    expect(JSON.stringify(forC.body)).not.toContain('token"');
    // b's token is for a's feed only: c's feed refuses it.
    expect(await feed(node.c, token, room)).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
    for (const headers of [
      { [NODE_KEY_HEADER]: node.b.apiKey },
      { [NODE_KEY_HEADER]: node.c.apiKey },
      { [PULL_TOKEN_HEADER]: alice.token },
      {},
    ]) {
      const refused = await feed(node.a, headers, room);
      expect(refused).toMatchObject({ status: 401, code: 'UNAUTHENTICATED' });
      expect(JSON.stringify(refused.body)).not.toContain(SECRET_CONTENT);
    }
  });

  it('a rotated key stops working at once at central: no heartbeat, no pull token', async () => {
    const old = node.c.apiKey;
    const rotated = ok(
      await gql<{ rotateNodeApiKey: { apiKey: string } }>(
        central.url,
        'mutation($n: ID!) { rotateNodeApiKey(nodeId: $n) { apiKey } }',
        { n: node.c.nodeId },
        { token: central.adminToken },
      ),
    ).rotateNodeApiKey.apiKey;
    expect(rotated).not.toBe(old);
    const before = await state();
    expect((await heartbeat(old)).status).toBe(401);
    expect((await askPullToken(central.url, old, node.a.nodeId, [room])).status).toBe(401);
    expect(await state()).toEqual(before);
    // The new key authenticates (and is still refused a room node-c does not store).
    expect((await askPullToken(central.url, rotated, node.a.nodeId, [room])).status).toBe(403);
  });
});

describe('private rooms', () => {
  type Role = 'nonMember' | 'member' | 'invited' | 'removed' | 'admin';
  const roles: Role[] = ['nonMember', 'member', 'invited', 'removed', 'admin'];
  const SECRET = 'the private room holds the launch code';
  let bob: { id: string; token: string }; // invited by alice
  let carol: { id: string; token: string }; // invited, posted, then removed by alice
  let secret: string; // PRIVATE, created by alice, home a, replica b
  let lobby: string; // PUBLIC, everyone a member
  let secretMessage: string;
  let carolsMessage: string;
  let sessionId: string;
  const tokenOf = (role: Role): string =>
    ({
      nonMember: mallory.token,
      member: alice.token,
      invited: bob.token,
      removed: carol.token,
      admin: central.adminToken,
    })[role];
  const mutate = (token: string, query: string, variables: Record<string, unknown>) =>
    gql(gateway.url, query, variables, { token }).then(ok);
  const INVITE = 'mutation($r: ID!, $u: ID!) { inviteToRoom(roomId: $r, userId: $u) { id } }';
  const REMOVE = 'mutation($r: ID!, $u: ID!) { removeFromRoom(roomId: $r, userId: $u) { id } }';
  const POST = 'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }';
  const READ = 'query($m: ID!) { message(id: $m) { content } }';
  /** What a node answers carol for the private room's message (her "member" answer may be cached). */
  const carolReads = async () => {
    const response = await gql(gateway.url, READ, { m: secretMessage }, { token: carol.token });
    return codes(response)[0] ?? 'read';
  };

  beforeAll(async () => {
    bob = await central.createUser('bob');
    carol = await central.createUser('carol');
    secret = ok(
      await gql<{ createRoom: { id: string; visibility: string } }>(
        gateway.url,
        'mutation($h: ID!, $r: [ID!]) { createRoom(name: "secret", homeNodeId: $h, replicaNodeIds: $r, visibility: PRIVATE) { id visibility } }',
        { h: node.a.nodeId, r: [node.b.nodeId] },
        { token: alice.token },
      ),
    ).createRoom.id;
    lobby = ok(
      await gql<{ createRoom: { id: string } }>(
        gateway.url,
        'mutation($h: ID!) { createRoom(name: "lobby", homeNodeId: $h) { id } }',
        { h: node.a.nodeId },
        { token: alice.token },
      ),
    ).createRoom.id;
    for (const user of [mallory, bob, carol])
      await mutate(user.token, 'mutation($r: ID!) { joinRoom(roomId: $r) { id } }', { r: lobby });
    await mutate(alice.token, INVITE, { r: secret, u: bob.id });
    await mutate(alice.token, INVITE, { r: secret, u: carol.id });
    carolsMessage = (
      (await mutate(carol.token, POST, { r: secret, c: 'carol was here' })) as {
        postMessage: { id: string };
      }
    ).postMessage.id;
    secretMessage = (
      (await mutate(alice.token, POST, { r: secret, c: SECRET })) as {
        postMessage: { id: string };
      }
    ).postMessage.id;
    const lobbyMessage = (
      (await mutate(alice.token, POST, { r: lobby, c: 'hello lobby' })) as {
        postMessage: { id: string };
      }
    ).postMessage.id;
    // The replica holds what its home holds, as sync would leave it (the nodes here run without
    // sync). The gateway reads a room from every storage node and, past a node's hedge bound,
    // serves the others' answer: with b empty, a loaded machine's slow answer from a would make
    // the room look empty (a member's replay `after:` carol's message then waits forever).
    for (const id of [carolsMessage, secretMessage]) {
      const held = node.a.store.get(id);
      if (!held) throw new Error(`node-a does not hold ${id}`);
      node.b.store.applyRemote([held], { receivedFrom: node.a.nodeId });
    }
    expect(await carolReads()).toBe('read');
    await mutate(alice.token, REMOVE, { r: secret, u: carol.id });
    // The nodes reuse a "member" answer for --membership-cache-ms (1 s here): the bounded
    // staleness of a removal there. Central and the gateway know at once.
    await until(
      carolReads,
      (answer) => answer === 'NOT_FOUND',
      'the nodes to notice carol was removed',
      30_000,
    );

    // A session's log as sync reports leave it at central (the nodes here run without sync): one
    // entry in the private room, one in the lobby.
    const db = central.central.db.db;
    sessionId = uuidv7();
    await db.insert(syncSessions).values({
      id: sessionId,
      sourceNodeId: node.a.nodeId,
      targetNodeId: node.b.nodeId,
      status: 'COMPLETED',
      syncType: 'FULL',
      trigger: 'MANUAL',
    });
    const now = new Date();
    for (const [id, roomId] of [
      [secretMessage, secret],
      [lobbyMessage, lobby],
    ] as const) {
      await db.insert(distributedMessages).values({
        id,
        roomId,
        senderId: alice.id,
        contentHash: '0'.repeat(64),
        originatingNodeId: node.a.nodeId,
        storageNodeIds: [node.a.nodeId, node.b.nodeId],
        createdAt: now,
        updatedAt: now,
      });
      await db.insert(messageSyncLog).values({ sessionId, messageId: id, action: 'CREATE' });
    }
  }, 60_000);

  type RoomList = Array<{ id: string }>;
  /** Every shape the paths below answer, each field present only in its own path's answer. */
  interface Answer {
    rooms?: RoomList;
    room?: {
      visibility: string;
      isMember: boolean;
      messages: { edges: unknown[] };
    } | null;
    me?: { rooms: RoomList };
    user?: { rooms: RoomList };
    message?: unknown;
    messageIndex?: { edges: unknown[] };
    searchMessages?: { edges: unknown[] };
    syncSession?: { log: { totalCount: number; edges: Array<{ node: { messageId: string } }> } };
  }
  interface Path {
    readonly name: string;
    readonly query: string;
    readonly variables: () => Record<string, unknown>;
    /** How a successful answer reads in the table. */
    readonly view: (data: Answer) => string;
    /** Per role: a code, or the view of the answer; roles left out are not asked. */
    readonly want: Partial<Record<Role, string>>;
  }
  const listed = (list: RoomList = []) => (list.some((r) => r.id === secret) ? 'listed' : 'absent');
  const reads: Path[] = [
    {
      name: 'rooms',
      query: '{ rooms { id } }',
      variables: () => ({}),
      view: (d) => listed(d.rooms),
      want: {
        nonMember: 'absent',
        member: 'listed',
        invited: 'listed',
        removed: 'absent',
        admin: 'listed',
      },
    },
    {
      name: 'room(id)',
      query: 'query($r: ID!) { room(id: $r) { id name visibility isMember } }',
      variables: () => ({ r: secret }),
      view: (d) => (d.room ? `${d.room.visibility} isMember=${d.room.isMember}` : 'null'),
      want: {
        nonMember: 'null',
        member: 'PRIVATE isMember=true',
        invited: 'PRIVATE isMember=true',
        removed: 'null',
        admin: 'PRIVATE isMember=false',
      },
    },
    {
      name: 'me { rooms }',
      query: '{ me { rooms { id isMember } } }',
      variables: () => ({}),
      view: (d) => listed(d.me?.rooms),
      want: {
        nonMember: 'absent',
        member: 'listed',
        invited: 'listed',
        removed: 'absent',
        admin: 'absent',
      },
    },
    {
      name: 'user(alice) { rooms }',
      query: 'query($u: ID!) { user(id: $u) { rooms { id } } }',
      variables: () => ({ u: alice.id }),
      view: (d) => listed(d.user?.rooms),
      want: {
        nonMember: 'absent',
        member: 'listed',
        invited: 'listed',
        removed: 'absent',
        admin: 'listed',
      },
    },
    {
      name: 'searchMessages (every room of the caller)',
      query: '{ searchMessages(query: "launch in:secret") { edges { node { content } } } }',
      variables: () => ({}),
      view: (d) => `${d.searchMessages?.edges.length} hits`,
      want: {
        nonMember: '0 hits',
        member: '1 hits',
        invited: '1 hits',
        removed: '0 hits',
        // A search reads only the caller's own rooms, an ADMIN's too.
        admin: '0 hits',
      },
    },
    {
      name: 'searchMessages(roomIds: [secret])',
      query:
        'query($r: ID!) { searchMessages(query: "launch", roomIds: [$r]) { edges { node { content } } } }',
      variables: () => ({ r: secret }),
      view: (d) => `${d.searchMessages?.edges.length} hits`,
      want: {
        nonMember: 'FORBIDDEN',
        member: '1 hits',
        invited: '1 hits',
        removed: 'FORBIDDEN',
        admin: 'FORBIDDEN',
      },
    },
    {
      name: 'room.messages',
      query: 'query($r: ID!) { room(id: $r) { messages { edges { node { content } } } } }',
      variables: () => ({ r: secret }),
      view: (d) => (d.room ? `${d.room.messages.edges.length} messages` : 'null'),
      want: {
        nonMember: 'null',
        member: '2 messages',
        invited: '2 messages',
        removed: 'null',
        admin: '2 messages',
      },
    },
    {
      name: 'message(id)',
      query: READ,
      variables: () => ({ m: secretMessage }),
      view: (d) => (d.message ? 'read' : 'null'),
      want: {
        nonMember: 'NOT_FOUND',
        member: 'read',
        invited: 'read',
        removed: 'NOT_FOUND',
        admin: 'read',
      },
    },
    {
      name: 'messageIndex',
      query: 'query($r: ID!) { messageIndex(roomId: $r) { edges { node { id } } } }',
      variables: () => ({ r: secret }),
      view: (d) => `${d.messageIndex?.edges.length} indexed`,
      want: {
        nonMember: 'NOT_FOUND',
        member: '1 indexed',
        invited: '1 indexed',
        removed: 'NOT_FOUND',
        admin: '1 indexed',
      },
    },
    {
      name: 'syncSession.log',
      query:
        'query($s: ID!) { syncSession(id: $s) { log { totalCount edges { node { messageId } } } } }',
      variables: () => ({ s: sessionId }),
      view: (d) => {
        const log = d.syncSession?.log ?? { totalCount: -1, edges: [] };
        const ids = log.edges.map((e) => e.node.messageId);
        return `${log.totalCount} entries${ids.includes(secretMessage) ? ' incl. private' : ''}`;
      },
      want: {
        nonMember: '1 entries',
        member: '2 entries incl. private',
        invited: '2 entries incl. private',
        removed: '1 entries',
        admin: '2 entries incl. private',
      },
    },
  ];
  // Refusals only: a success would change what the other rows assume.
  const writes: Path[] = [
    {
      name: 'postMessage',
      query: POST,
      variables: () => ({ r: secret, c: 'intrusion' }),
      view: () => 'posted',
      want: { nonMember: 'NOT_FOUND', removed: 'NOT_FOUND', admin: 'FORBIDDEN' },
    },
    {
      name: 'editMessage',
      query: 'mutation($m: ID!) { editMessage(id: $m, content: "rewritten") { id } }',
      variables: () => ({ m: secretMessage }),
      view: () => 'edited',
      want: {
        nonMember: 'NOT_FOUND',
        invited: 'FORBIDDEN',
        removed: 'NOT_FOUND',
        admin: 'FORBIDDEN',
      },
    },
    {
      name: 'deleteMessage',
      query: 'mutation($m: ID!) { deleteMessage(id: $m) { id } }',
      variables: () => ({ m: secretMessage }),
      view: () => 'deleted',
      want: { nonMember: 'NOT_FOUND', invited: 'FORBIDDEN', removed: 'NOT_FOUND' },
    },
    {
      name: 'joinRoom',
      query: 'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
      variables: () => ({ r: secret }),
      view: () => 'joined',
      want: { nonMember: 'NOT_FOUND', removed: 'NOT_FOUND', admin: 'FORBIDDEN' },
    },
    {
      name: 'leaveRoom',
      query: 'mutation($r: ID!) { leaveRoom(roomId: $r) { id } }',
      variables: () => ({ r: secret }),
      view: () => 'left',
      want: { nonMember: 'NOT_FOUND', removed: 'NOT_FOUND' },
    },
    {
      name: 'inviteToRoom (mallory)',
      query: INVITE,
      variables: () => ({ r: secret, u: mallory.id }),
      view: () => 'invited',
      want: { nonMember: 'NOT_FOUND', removed: 'NOT_FOUND' },
    },
    {
      name: 'removeFromRoom (alice)',
      query: REMOVE,
      variables: () => ({ r: secret, u: alice.id }),
      view: () => 'removed',
      want: { nonMember: 'NOT_FOUND', invited: 'FORBIDDEN', removed: 'NOT_FOUND' },
    },
  ];

  it('answers every path for every role as the table says, leaks nothing and changes nothing', async () => {
    const before = await state();
    const got: string[] = [];
    const want: string[] = [];
    for (const path of [...reads, ...writes]) {
      for (const role of roles) {
        const expected = path.want[role];
        if (expected === undefined) continue;
        const response = await gql<Answer>(gateway.url, path.query, path.variables(), {
          token: tokenOf(role),
        });
        const outcome =
          response.errors?.length || !response.data
            ? String(codes(response)[0])
            : path.view(response.data);
        got.push(`${path.name} x ${role}: ${outcome}`);
        want.push(`${path.name} x ${role}: ${expected}`);
        if (role === 'nonMember' || role === 'removed')
          expect(JSON.stringify(response), `${path.name} x ${role}`).not.toContain(SECRET);
      }
    }
    expect(got).toEqual(want);
    expect(got).toHaveLength(70);
    expect(await state()).toEqual(before);
  });

  it('refuses messageAdded to a non-member and a removed member as if the room did not exist', async () => {
    const REPLAYED =
      'subscription($r: ID!, $a: String) { messageAdded(roomId: $r, after: $a) { id content } }';
    const outcomes: Record<string, unknown> = {};
    for (const role of roles) {
      outcomes[role] = code(
        await firstOutcome(gateway.url, { authorization: `Bearer ${tokenOf(role)}` }, REPLAYED, {
          r: secret,
          a: carolsMessage,
        }),
      );
    }
    expect(outcomes).toEqual({
      nonMember: 'NOT_FOUND',
      member: 'next',
      invited: 'next',
      removed: 'NOT_FOUND',
      admin: 'next',
    });
  });

  it('keeps a PRIVATE room invisible on the nodes too, even with a gateway assertion', async () => {
    for (const user of [mallory, carol]) {
      for (const target of [node.a, node.b]) {
        const entities = await asGateway.gql(
          target,
          `query($r: _Any!) { _entities(representations: [$r]) { ... on Room { messages { edges { node { content } } } } } }`,
          { r: { __typename: 'Room', id: secret } },
          { token: user.token },
        );
        expect(codes(entities)).toEqual(['NOT_FOUND']);
        expect(JSON.stringify(entities)).not.toContain(SECRET);
      }
    }
  });

  it('lets an invitation in at once and a removal out: history recorded, live subscription ended', async () => {
    const dave = await central.createUser('dave');
    const read = async () => {
      const response = await gql(gateway.url, READ, { m: secretMessage }, { token: dave.token });
      return codes(response)[0] ?? 'read';
    };
    expect(await read()).toBe('NOT_FOUND');
    await mutate(bob.token, INVITE, { r: secret, u: dave.id });
    // A refusal is never cached by the nodes: the invitation counts on the next request.
    expect(await read()).toBe('read');

    const client = wsClient(leftovers, gateway.url, dave.token);
    const live = collect<{ messageAdded: { content: string } }>(
      client,
      'subscription($r: ID!) { messageAdded(roomId: $r) { content } }',
      { r: secret },
    );
    await expect.poll(() => gateway.subscriptions.stats().clients).toBeGreaterThan(0);
    await mutate(alice.token, POST, { r: secret, c: 'welcome dave' });
    expect((await live.waitFor(1))[0]?.messageAdded.content).toBe('welcome dave');

    // The creator removes dave: his subscription ends with the code a stranger gets.
    await mutate(alice.token, REMOVE, { r: secret, u: dave.id });
    expect(code(await live.failure())).toBe('NOT_FOUND');
    const gone = ok(
      await gql<{ room: unknown }>(
        gateway.url,
        'query($r: ID!) { room(id: $r) { id } }',
        { r: secret },
        { token: dave.token },
      ),
    );
    expect(gone.room).toBeNull();
    const history = await central.central.db.db
      .select()
      .from(roomMembershipHistory)
      .where(eq(roomMembershipHistory.userId, dave.id));
    expect(history).toHaveLength(1);
    expect(history[0]?.roomId).toBe(secret);
    expect(history[0]?.leftAt).toBeInstanceOf(Date);
    await expect.poll(read, { timeout: 30_000, interval: 200 }).toBe('NOT_FOUND');
  });
});
