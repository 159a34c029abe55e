// Senders' names reused by the gateway for a moment (gateway/userProfileCache.ts) instead of one
// central round trip per page of messages: what is reused, that a changed name shows once the
// bound has passed, and that nothing about who may ask changes. Real central (PostgreSQL), a real
// node and real gateways; a name is changed in central's database, where a rename would write it.
import { eq } from 'drizzle-orm';
import { importJWK, SignJWT, type JWK } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { silentLogger } from '../../lib/log.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER } from '../../lib/userAuth.ts';
import { settings, users } from '../../subgraphs/central/db/schema.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
let node: NodeServer;
/** Reuses names for ten minutes: longer than this file runs. */
let longLived: GatewayServer;
/** Reuses names for 100 ms. */
let shortLived: GatewayServer;
let alice: { id: string; token: string };
let bob: { id: string; token: string };
let room: string;

const SENDERS =
  'query($r: ID!) { room(id: $r) { messages(last: 50) { edges { node { content sender { id displayName } } } } } }';

interface Page {
  room: {
    messages: { edges: Array<{ node: { content: string; sender: Record<string, unknown> } }> };
  };
}

/** content -> sender's display name, as the gateway answers the room's page. */
async function senders(gateway: GatewayServer, query = SENDERS): Promise<Record<string, string>> {
  const page = ok(await gql<Page>(gateway.url, query, { r: room }, { token: alice.token }));
  return Object.fromEntries(
    page.room.messages.edges.map((e) => [e.node.content, String(e.node.sender['displayName'])]),
  );
}

async function rename(id: string, displayName: string): Promise<void> {
  await central.central.db.db.update(users).set({ displayName }).where(eq(users.id, id));
}

async function post(token: string, content: string): Promise<void> {
  ok(
    await gql(
      longLived.url,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: room, c: content },
      { token },
    ),
  );
}

async function routedGateway(userProfileTtlMs: number): Promise<GatewayServer> {
  const gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      logger: silentLogger,
      nodeTimeoutMs: 10_000,
      userProfileTtlMs,
    }),
    (g) => g.close(),
  );
  // Also called from a hook, where expect.poll is not allowed: vi.waitFor retries the same way.
  await vi.waitFor(
    () =>
      expect(
        gateway.routing.report().nodes.some((n) => n.schema.state === 'ok'),
        'the gateway never routed to the node',
      ).toBe(true),
    { timeout: 30_000, interval: 50 },
  );
  return gateway;
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  const registered = await central.registerNode('node-a');
  node = leftovers.add(
    await startNode({
      name: 'node-a',
      dataDir: await leftovers.tempDir('switchboard-profiles-node-'),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      logger: silentLogger,
      sync: false,
    }),
    (n) => n.close(),
  );
  longLived = await routedGateway(600_000);
  shortLived = await routedGateway(100);
  alice = await central.createUser('alice');
  bob = await central.createUser('bob');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      longLived.url,
      'mutation($h: ID!) { createRoom(name: "profiles", homeNodeId: $h, replicaNodeIds: []) { id } }',
      { h: node.nodeId },
      { token: alice.token },
    ),
  ).createRoom.id;
  ok(
    await gql(
      longLived.url,
      'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
      { r: room },
      {
        token: bob.token,
      },
    ),
  );
  await post(alice.token, 'from alice');
  await post(bob.token, 'from bob');
}, 120_000);

describe('user profile cache', () => {
  it('reuses a sender name within the bound, shows a changed one after it, and looks up new senders', async () => {
    expect(await senders(longLived)).toEqual({ 'from alice': 'alice', 'from bob': 'bob' });
    expect(await senders(shortLived)).toEqual({ 'from alice': 'alice', 'from bob': 'bob' });
    await rename(bob.id, 'Bob Renamed');

    // Within its ten minutes the long-lived gateway still names bob as central last said.
    expect(await senders(longLived)).toEqual({ 'from alice': 'alice', 'from bob': 'bob' });
    // The short-lived one shows the new name once its 100 ms have passed.
    await expect
      .poll(() => senders(shortLived), { timeout: 30_000 })
      .toEqual({ 'from alice': 'alice', 'from bob': 'Bob Renamed' });

    // A sender not seen yet is asked of central, next to the names it already holds, each at
    // its own place in the page.
    const carol = await central.createUser('carol');
    ok(
      await gql(
        longLived.url,
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: room },
        {
          token: carol.token,
        },
      ),
    );
    await post(carol.token, 'from carol');
    expect(await senders(longLived)).toEqual({
      'from alice': 'alice',
      'from bob': 'bob',
      'from carol': 'carol',
    });
  });

  it('asks central every time for a selection whose answer may depend on the caller', async () => {
    // User.rooms is filtered per caller: such a lookup is never reused, so it sees the new name.
    await rename(alice.id, 'Alice Renamed');
    const withRooms =
      'query($r: ID!) { room(id: $r) { messages(last: 50) { edges { node { content sender { displayName rooms { id } } } } } } }';
    expect((await senders(longLived, withRooms))['from alice']).toBe('Alice Renamed');
    // The plain lookup still has its own copy from before.
    expect((await senders(longLived))['from alice']).toBe('alice');
  });

  it('still refuses a bad or expired token once names are held', async () => {
    expect(await senders(longLived)).toHaveProperty('from bob');
    const [row] = await central.central.db.db
      .select()
      .from(settings)
      .where(eq(settings.key, 'token_signing_key'));
    const stored = row?.value as { kid: string; privateJwk: JWK };
    const exp = Math.floor(Date.now() / 1000) - 120;
    const expired = await new SignJWT({ username: 'alice', role: 'MEMBER' })
      .setProtectedHeader({ alg: 'EdDSA', kid: stored.kid })
      .setSubject(alice.id)
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setIssuedAt(exp - 60)
      .setExpirationTime(exp)
      .sign(await importJWK(stored.privateJwk, 'EdDSA'));
    for (const token of [expired, 'not-a-jwt']) {
      const response = await gql(longLived.url, SENDERS, { r: room }, { token });
      expect(codes(response)).toContain('UNAUTHENTICATED');
      expect(JSON.stringify(response.data ?? null)).not.toContain('from bob');
    }
  });
});
