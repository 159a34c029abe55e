// Issue 14, finding 2: a registered node must receive nothing it could use anywhere else. Node b's
// public URL is a recording proxy (what a rogue node sees of the gateway's traffic: routed HTTP
// operations, schema checks, graphql-ws upstream subscriptions); every credential it captured is
// replayed at the gateway, at central and at node a, and refused. In-process: central, two nodes
// and a gateway on port 0.
import { generateKeyPair, createLocalJWKSet, exportJWK, SignJWT } from 'jose';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import {
  ASSERTION_TYP,
  GATEWAY_JWKS_PATH,
  GatewaySigner,
  nodeAudience,
} from '../../lib/gatewayAssertion.ts';
import { JWKS_PATH, TOKEN_AUDIENCE, TOKEN_ISSUER, verifyUserToken } from '../../lib/userAuth.ts';
import { createCentralLink } from '../../gateway/centralLink.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { users } from '../../subgraphs/central/db/schema.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { RecordingProxy } from '../helpers/recordingHttpProxy.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
let gateway: GatewayServer;
let nodeA: NodeServer;
let nodeB: NodeServer;
let proxy: RecordingProxy;
let asGateway: TestGateway;
let admin: { id: string; token: string };
let room: string; // homed on node b (behind the proxy); admin is a member

const ADDED = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content } }';

async function startTestNode(name: string, publicUrl?: () => string): Promise<NodeServer> {
  const registered = await central.registerNode(name);
  return leftovers.add(
    await startNode({
      name,
      dataDir: await leftovers.tempDir(`switchboard-assert-${name}-`),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      logger: silentLogger,
      sync: false,
      // Assertions by unknown keys are this file's subject: each waits out the node's cooldown
      // before its second look at central's keys (1 s by default).
      gatewayKeysCooldownMs: 100,
      ...(publicUrl ? { publicUrl: publicUrl() } : {}),
    }),
    (n) => n.close(),
  );
}

/** The first outcome of a subscription on a node with these connectionParams: 'next' or a code. */
async function subscribeOutcome(url: string, params: Record<string, unknown>): Promise<string> {
  const client = createClient({
    url: `${url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: params,
  });
  return new Promise<string>((resolve) => {
    client.subscribe(
      { query: ADDED, variables: { r: room } },
      {
        next: (result) =>
          resolve(result.errors ? String(result.errors[0]?.extensions?.['code']) : 'next'),
        error: (error) =>
          resolve(
            Array.isArray(error)
              ? String((error[0] as { extensions?: { code?: string } }).extensions?.code)
              : 'error',
          ),
        complete: () => resolve('complete'),
      },
    );
  }).finally(() => void client.dispose());
}

/** Waits for a condition that no event signals (as access.test.ts does), for at most 30 s. */
function until(condition: () => boolean, failure: string): Promise<void> {
  return vi.waitFor(
    () => {
      if (!condition()) throw new Error(failure);
    },
    { timeout: 30_000, interval: 50 },
  );
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  asGateway = await registerTestGateway(central.url);
  nodeA = await startTestNode('node-a');
  proxy = leftovers.add(await RecordingProxy.start(), (p) => p.close());
  nodeB = await startTestNode('node-b', () => proxy.url);
  proxy.retarget(nodeB.url);
  gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      logger: silentLogger,
      nodeTimeoutMs: 10_000,
    }),
    (g) => g.close(),
  );
  await until(
    () =>
      gateway.routing.report().nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok')
        .length === 2,
    'the gateway never routed to both nodes',
  );
  admin = await central.createUser('boss', 'ADMIN');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation($h: ID!) { createRoom(name: "behind-proxy", homeNodeId: $h, replicaNodeIds: []) { id } }',
      { h: nodeB.nodeId },
      { token: admin.token },
    ),
  ).createRoom.id;
  // Everything the gateway sends a node: a subscription (upstream graphql-ws), a mutation and a
  // query (routed HTTP); the schema check happened when node b came up.
  const events = collect<{ messageAdded: { content: string } }>(
    wsClient(leftovers, gateway.url, admin.token),
    ADDED,
    { r: room },
  );
  await until(() => proxy.connectionInits.length > 0, 'no upstream subscription reached node b');
  ok(
    await gql(
      gateway.url,
      'mutation($r: ID!) { postMessage(roomId: $r, content: "captured?") { id } }',
      { r: room },
      { token: admin.token },
    ),
  );
  expect((await events.waitFor(1))[0]?.messageAdded.content).toBe('captured?');
  ok(
    await gql(
      gateway.url,
      'query($r: ID!) { room(id: $r) { messages(last: 5) { edges { node { content } } } } }',
      { r: room },
      { token: admin.token },
    ),
  );
  events.stop();
});

/** Headers of the plain HTTP requests node b received (graphql-ws upgrades carry no credential). */
const httpHeaders = () => proxy.requests.filter((r) => !r.websocket).map((r) => r.headers);
/** The connection_init payloads of node b's graphql-ws connections. */
const wsParams = () => proxy.connectionInits.map((i) => i.payload);

/** Every assertion node b captured, over HTTP and graphql-ws. */
function captured(): string[] {
  const fromHttp = httpHeaders().map((h) => h['x-gateway-assertion']);
  const fromWs = wsParams().map((p) => p['gatewayAssertion']);
  return [...new Set([...fromHttp, ...fromWs].filter((v): v is string => typeof v === 'string'))];
}

describe('what a node receives from the gateway', () => {
  it('never the gateway secret nor a user token: only an assertion for that node', () => {
    expect(httpHeaders().length).toBeGreaterThanOrEqual(3);
    for (const headers of httpHeaders()) {
      expect(headers['x-gateway-secret']).toBeUndefined();
      expect(headers['authorization']).toBeUndefined();
      expect(headers['x-gateway-assertion']).toEqual(expect.any(String));
    }
    for (const params of wsParams()) {
      expect(Object.keys(params)).toEqual(['gatewayAssertion']);
    }
    const all = JSON.stringify([proxy.requests, proxy.connectionInits]);
    expect(all).not.toContain(TEST_GATEWAY_SECRET);
    expect(all).not.toContain(admin.token);
    // The schema check acts for the gateway itself; routed operations for the admin.
    const subjects = captured().map(
      (t) =>
        JSON.parse(Buffer.from(t.split('.')[1] ?? '', 'base64url').toString()) as {
          aud: string;
          sub?: string;
        },
    );
    expect(subjects.every((c) => c.aud === nodeAudience(nodeB.nodeId))).toBe(true);
    expect(subjects.some((c) => c.sub === undefined)).toBe(true);
    expect(subjects.some((c) => c.sub === admin.id)).toBe(true);
  });
});

describe('every captured assertion, replayed', () => {
  it('is refused at the gateway as a bearer token, so it cannot create an ADMIN', async () => {
    const list = captured();
    expect(list.length).toBeGreaterThan(0);
    for (const assertion of list) {
      const response = await gql(
        gateway.url,
        'mutation { createUser(username: "rogue-admin", password: "rogue-password", role: ADMIN) { id } }',
        {},
        { token: assertion, gatewaySecret: null },
      );
      expect(codes(response)).toEqual(['UNAUTHENTICATED']);
    }
    const rows = await central.central.db.db.select({ username: users.username }).from(users);
    expect(rows.map((r) => r.username)).not.toContain('rogue-admin');
  });

  it('is refused at central: as a user token (even with the gateway secret), as the secret, and on the gateway API', async () => {
    for (const assertion of captured()) {
      for (const secret of [null, TEST_GATEWAY_SECRET]) {
        const asToken = await gql(
          central.url,
          '{ me { id role } }',
          {},
          {
            token: assertion,
            gatewaySecret: secret,
          },
        );
        expect(codes(asToken)).toEqual(['UNAUTHENTICATED']);
      }
      const asSecret = await gql(central.url, '{ nodes { id } }', {}, { gatewaySecret: assertion });
      expect(codes(asSecret)).toEqual(['UNAUTHENTICATED']);
      const routing = await fetch(`${central.url}/internal/gateway/nodes`, {
        headers: { 'x-gateway-assertion': assertion, 'x-gateway-secret': assertion },
      });
      expect(routing.status).toBe(401);
    }
  });

  it('is refused at another node (another audience), over HTTP and graphql-ws', async () => {
    for (const assertion of captured()) {
      const response = await gql(
        nodeA.url,
        '{ _service { sdl } }',
        {},
        {
          gatewaySecret: null,
          headers: { 'x-gateway-assertion': assertion },
        },
      );
      expect(codes(response)).toEqual(['UNAUTHENTICATED']);
      expect(response.status).toBe(401);
      expect(await subscribeOutcome(nodeA.url, { gatewayAssertion: assertion })).toBe(
        'UNAUTHENTICATED',
      );
    }
  });
});

describe('what a node accepts', () => {
  const POST = 'mutation($r: ID!) { postMessage(roomId: $r, content: "direct") { id } }';
  const postWith = (headers: Record<string, string>) =>
    gql(nodeB.url, POST, { r: room }, { gatewaySecret: null, headers });

  it("refuses a user's own token, with or without the gateway secret", async () => {
    const before = nodeB.store.page(room, { limit: 100, from: 'end' }).rows.length;
    for (const headers of [
      { authorization: `Bearer ${admin.token}` },
      { authorization: `Bearer ${admin.token}`, 'x-gateway-secret': TEST_GATEWAY_SECRET },
      { 'x-gateway-assertion': admin.token },
    ]) {
      expect(codes(await postWith(headers))).toEqual(['UNAUTHENTICATED']);
    }
    expect(
      await subscribeOutcome(nodeB.url, {
        authorization: `Bearer ${admin.token}`,
        gatewaySecret: TEST_GATEWAY_SECRET,
      }),
    ).toBe('UNAUTHENTICATED');
    expect(nodeB.store.page(room, { limit: 100, from: 'end' }).rows.length).toBe(before);
  });

  it('refuses an assertion for another node, an expired one, one by an unregistered key, and one for an expired user token', async () => {
    const wrongAudience = await asGateway.assertionFor(nodeA.nodeId, admin.token);
    // Minted two minutes ago by a registered gateway key: its 60 s are over.
    const past = await GatewaySigner.create({ now: () => Date.now() - 120_000 });
    await createCentralLink({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      log: silentLogger,
    }).registerKey(past.publicJwk);
    const expired = await past.assertion(nodeB.nodeId, {
      id: admin.id,
      username: 'boss',
      role: 'ADMIN',
    });
    const unregistered = await (
      await GatewaySigner.create()
    ).assertion(nodeB.nodeId, { id: admin.id, username: 'boss', role: 'ADMIN' });
    const userExpired = await asGateway.signer.assertion(nodeB.nodeId, {
      id: admin.id,
      username: 'boss',
      role: 'ADMIN',
      expiresAt: Date.now() - 1000,
    });
    for (const assertion of [wrongAudience, expired, unregistered, userExpired]) {
      expect(codes(await postWith({ 'x-gateway-assertion': assertion }))).toEqual([
        'UNAUTHENTICATED',
      ]);
    }
    // The control: the same node takes a fresh one for itself.
    ok(
      await postWith({
        'x-gateway-assertion': await asGateway.assertionFor(nodeB.nodeId, admin.token),
      }),
    );
  });

  it("ends a node subscription when the user's token expires (uexp), not with the assertion", async () => {
    const expiresAt = Date.now() + 3000;
    const client = createClient({
      url: `${nodeB.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: async () => ({
        gatewayAssertion: await asGateway.signer.assertion(nodeB.nodeId, {
          id: admin.id,
          username: 'boss',
          role: 'ADMIN',
          expiresAt,
        }),
      }),
    });
    leftovers.defer(() => client.dispose());
    const ended = new Promise<unknown>((resolve) => {
      client.subscribe(
        { query: ADDED, variables: { r: room } },
        {
          next: (result) => result.errors && resolve(result.errors[0]),
          error: (error) => resolve(Array.isArray(error) ? error[0] : error),
          complete: () => resolve('complete'),
        },
      );
    });
    expect(await ended).toMatchObject({
      message: 'token has expired: log in again',
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});

describe('gateway keys at central', () => {
  it('are served at their own JWKS, never mixed with the user-token JWKS', async () => {
    const gatewayKeys = (await (await fetch(`${central.url}${GATEWAY_JWKS_PATH}`)).json()) as {
      keys: Array<{ kid: string; d?: string }>;
    };
    const userKeys = (await (await fetch(`${central.url}${JWKS_PATH}`)).json()) as {
      keys: Array<{ kid: string }>;
    };
    const gatewayKids = gatewayKeys.keys.map((k) => k.kid);
    expect(gatewayKids).toContain(asGateway.signer.kid);
    expect(gatewayKeys.keys.every((k) => k.d === undefined)).toBe(true);
    expect(userKeys.keys.map((k) => k.kid).filter((kid) => gatewayKids.includes(kid))).toEqual([]);
  });

  it('are registered only with the gateway secret, only as public Ed25519 keys, never swapped', async () => {
    const { publicKey, privateKey } = await generateKeyPair('EdDSA', {
      crv: 'Ed25519',
      extractable: true,
    });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'gw-registered-by-test' };
    const register = (body: unknown, secret: string | null = TEST_GATEWAY_SECRET) =>
      fetch(`${central.url}/internal/gateway/keys`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(secret === null ? {} : { 'x-gateway-secret': secret }),
        },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    expect((await register({ jwk }, null)).status).toBe(401);
    expect((await register({ jwk }, captured()[0] ?? 'x')).status).toBe(401);
    const refused = {
      errors: [
        {
          message:
            'body must be JSON {"jwk": <Ed25519 public JWK with a "gw-" kid>}, private parts never',
          extensions: { code: 'BAD_USER_INPUT' },
        },
      ],
    };
    for (const body of [
      { jwk: { ...(await exportJWK(privateKey)), kid: jwk.kid } },
      { jwk: { ...jwk, kid: 'not-a-gateway-kid' } },
      { jwk: { ...jwk, crv: 'P-256' } },
      { jwk: { ...jwk, x: 'short' } },
      {},
      'not json {',
    ]) {
      const answer = await register(body);
      expect(answer.status).toBe(400);
      expect(await answer.json()).toMatchObject(refused);
    }
    expect((await register({ jwk })).status).toBe(200);
    const other = await exportJWK((await generateKeyPair('EdDSA', { crv: 'Ed25519' })).publicKey);
    expect((await register({ jwk: { ...other, kid: jwk.kid } })).status).toBe(409);
  });
});

describe('verifyUserToken', () => {
  it('refuses a gateway assertion even when its key is among the given keys', async () => {
    const signer = await GatewaySigner.create();
    const keys = createLocalJWKSet({ keys: [signer.publicJwk] });
    const assertion = await signer.assertion('any-node', {
      id: 'u1',
      username: 'boss',
      role: 'ADMIN',
    });
    await expect(verifyUserToken(assertion, keys)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
    // Even signed by a trusted key with a user token's issuer and audience: its type gives it
    // away (the same token without the type is accepted, so the type is what refuses it).
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const trusted = createLocalJWKSet({
      keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'user-key', alg: 'EdDSA' }],
    });
    const userLike = (typ?: string) =>
      new SignJWT({ username: 'boss', role: 'ADMIN' })
        .setProtectedHeader({ alg: 'EdDSA', kid: 'user-key', ...(typ ? { typ } : {}) })
        .setSubject('u1')
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(pair.privateKey);
    await expect(verifyUserToken(await userLike(), trusted)).resolves.toMatchObject({ id: 'u1' });
    await expect(verifyUserToken(await userLike(ASSERTION_TYP), trusted)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });
});
