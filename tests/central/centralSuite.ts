// The central API suite, run once per storage backend (PGlite and real PostgreSQL) by the
// *.test.ts files beside it: the same calls must give the same results on both.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey } from '../../lib/nodeKeys.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';
import { SignJWT, generateKeyPair } from 'jose';
import { v7 as uuidv7 } from 'uuid';
import { users } from '../../subgraphs/central/db/schema.ts';
import { createTokenSigner } from '../../subgraphs/central/tokens.ts';

export interface Backend {
  /** Returns a databaseUrl, or undefined for embedded PGlite. */
  setup(leftovers: Leftovers): Promise<string | undefined>;
}

const HEARTBEAT_MS = 150;

export function defineCentralSuite(name: string, backend: Backend): void {
  describe(`central on ${name}`, () => {
    const leftovers = new Leftovers();
    let t: TestCentral;
    let queries: string[] = [];
    afterAll(() => leftovers.dispose());
    beforeAll(async () => {
      const databaseUrl = await backend.setup(leftovers);
      t = await startTestCentral(leftovers, {
        heartbeatIntervalMs: HEARTBEAT_MS,
        onQuery: (sql) => queries.push(sql),
        ...(databaseUrl === undefined ? { pglite: true } : { databaseUrl }),
      });
    });

    const heartbeat = (apiKey: string) =>
      fetch(`${t.url}/internal/heartbeat`, {
        method: 'POST',
        headers: { 'x-node-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'http://127.0.0.1:1' }),
      });
    const countUsers = async () =>
      ok(await gql<{ users: unknown[] }>(t.url, '{ users { id } }', {}, { token: t.adminToken }))
        .users.length;

    it('lets the admin log in, create a user who logs in and creates and joins rooms', async () => {
      const me = ok(
        await gql<{ me: { username: string; role: string } }>(
          t.url,
          '{ me { username role } }',
          {},
          { token: t.adminToken },
        ),
      );
      expect(me.me).toEqual({ username: 'admin', role: 'ADMIN' });
      const node = await t.registerNode('home-a');
      const alice = await t.createUser('alice');
      const bob = await t.createUser('bob');
      const created = ok(
        await gql<{
          createRoom: {
            id: string;
            name: string;
            homeNode: { id: string };
            members: Array<{ id: string }>;
          };
        }>(
          t.url,
          'mutation($n: String!, $h: ID) { createRoom(name: $n, homeNodeId: $h) { id name homeNode { id } members { id } } }',
          { n: ' general ', h: node.id },
          { token: alice.token },
        ),
      ).createRoom;
      expect(created.name).toBe('general');
      expect(created.homeNode.id).toBe(node.id);
      expect(created.members.map((m) => m.id)).toEqual([alice.id]);

      const joined = ok(
        await gql<{ joinRoom: { members: Array<{ id: string }> } }>(
          t.url,
          'mutation($r: ID!) { joinRoom(roomId: $r) { members { id } } }',
          { r: created.id },
          { token: bob.token },
        ),
      ).joinRoom;
      expect(joined.members.map((m) => m.id).sort()).toEqual([alice.id, bob.id].sort());
      // Joining twice changes nothing.
      ok(
        await gql(
          t.url,
          'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
          { r: created.id },
          { token: bob.token },
        ),
      );
      const left = ok(
        await gql<{ leaveRoom: { members: Array<{ id: string }> } }>(
          t.url,
          'mutation($r: ID!) { leaveRoom(roomId: $r) { members { id } } }',
          { r: created.id },
          { token: bob.token },
        ),
      ).leaveRoom;
      expect(left.members.map((m) => m.id)).toEqual([alice.id]);
    });

    it('homes a room without homeNodeId on the online node with the fewest rooms', async () => {
      const carol = await t.createUser('carol');
      const busy = await t.registerNode('spread-busy');
      const idle = await t.registerNode('spread-idle');
      // Both stay ONLINE while the test runs; every other node of this suite is OFFLINE by now
      // or homes fewer rooms than `busy`.
      expect((await heartbeat(busy.apiKey)).status).toBe(200);
      expect((await heartbeat(idle.apiKey)).status).toBe(200);
      const beats: Array<Promise<unknown>> = [];
      const pump = setInterval(
        () => beats.push(heartbeat(busy.apiKey), heartbeat(idle.apiKey)),
        HEARTBEAT_MS / 3,
      );
      leftovers.defer(async () => {
        clearInterval(pump);
        await Promise.all(beats);
      });
      const create = (name: string, homeNodeId?: string) =>
        gql<{ createRoom: { homeNode: { id: string } } }>(
          t.url,
          'mutation($n: String!, $h: ID) { createRoom(name: $n, homeNodeId: $h) { homeNode { id } } }',
          { n: name, h: homeNodeId ?? null },
          { token: carol.token },
        );
      ok(await create('busy-1', busy.id));
      ok(await create('busy-2', busy.id));
      const placed = ok(await create('placed')).createRoom.homeNode.id;
      expect(placed).not.toBe(busy.id);
      const replicas = ok(
        await gql<{
          rooms: Array<{
            name: string;
            homeNode: { id: string };
            replicaNodes: Array<{ id: string }>;
          }>;
        }>(
          t.url,
          '{ rooms { name homeNode { id } replicaNodes { id } } }',
          {},
          { token: carol.token },
        ),
      ).rooms.find((r) => r.name === 'busy-1');
      expect(replicas?.replicaNodes.map((n) => n.id)).toContain(idle.id);
      expect(replicas?.replicaNodes.map((n) => n.id)).not.toContain(busy.id);
    });

    it('shows a node API key once, stores only its hash, and refuses a rotated key at once', async () => {
      const reg = await t.registerNode('keyed');
      expect(reg.apiKey).toMatch(/^sbk_[A-Za-z0-9_-]{43}$/);
      const listed = JSON.stringify(
        await gql(
          t.url,
          '{ nodes { id name url status syncEnabled autoSyncInterval } }',
          {},
          { token: t.adminToken },
        ),
      );
      expect(listed).not.toContain(reg.apiKey);
      const rows = await t.central.services.db.query.nodes.findFirst({
        where: (n, { eq }) => eq(n.id, reg.id),
      });
      expect(rows?.apiKeyHash).toBe(hashApiKey(reg.apiKey));
      expect(JSON.stringify(rows)).not.toContain(reg.apiKey);

      expect((await heartbeat(reg.apiKey)).status).toBe(200);
      const rotated = ok(
        await gql<{ rotateNodeApiKey: { apiKey: string } }>(
          t.url,
          'mutation($id: ID!) { rotateNodeApiKey(nodeId: $id) { apiKey } }',
          { id: reg.id },
          { token: t.adminToken },
        ),
      ).rotateNodeApiKey.apiKey;
      const refused = await heartbeat(reg.apiKey);
      expect(refused.status).toBe(401);
      expect(await refused.json()).toMatchObject({
        errors: [{ extensions: { code: 'UNAUTHENTICATED' } }],
      });
      expect((await heartbeat(rotated)).status).toBe(200);
    });

    it('publishes ONLINE on a heartbeat and OFFLINE after three missed intervals', async () => {
      const reg = await t.registerNode('pulse');
      const client = wsClient(leftovers, t.url, t.adminToken);
      const events = collect<{ nodeStatusChanged: { id: string; name: string; status: string } }>(
        client,
        'subscription { nodeStatusChanged { id name status } }',
      );
      // graphql-ws does not say when a subscription is live, and a status is published only when
      // it changes: a first heartbeat that lands before the subscription would be missed for good.
      // So first prove the subscription live with a probe node: beat it, and if its ONLINE event
      // does not come, let it lapse to OFFLINE (central's own liveness check) and beat it again.
      const probe = await t.registerNode('pulse-probe');
      let live = false;
      const probeOnline = events
        .waitUntil(
          (e) => e.nodeStatusChanged.id === probe.id && e.nodeStatusChanged.status === 'ONLINE',
        )
        .then(() => (live = true));
      while (!live) {
        await heartbeat(probe.apiKey);
        await Promise.race([
          probeOnline,
          events.waitUntil(
            (e) => e.nodeStatusChanged.id === probe.id && e.nodeStatusChanged.status === 'OFFLINE',
          ),
          // Before the subscription is live neither event can arrive: retry after the lapse.
          new Promise((resolve) => setTimeout(resolve, HEARTBEAT_MS * 5)),
        ]);
      }
      const online = events.waitUntil(
        (e) => e.nodeStatusChanged.id === reg.id && e.nodeStatusChanged.status === 'ONLINE',
      );
      const beats: Array<Promise<unknown>> = [];
      const pump = setInterval(() => beats.push(heartbeat(reg.apiKey)), HEARTBEAT_MS / 2);
      try {
        expect((await online).nodeStatusChanged.name).toBe('pulse');
      } finally {
        clearInterval(pump);
        await Promise.all(beats);
      }
      const offline = await events.waitUntil(
        (e) => e.nodeStatusChanged.id === reg.id && e.nodeStatusChanged.status === 'OFFLINE',
      );
      expect(offline.nodeStatusChanged.status).toBe('OFFLINE');
      const node = ok(
        await gql<{ node: { status: string; lastSeenAt: string } }>(
          t.url,
          'query($id: ID!) { node(id: $id) { status lastSeenAt } }',
          { id: reg.id },
          { token: t.adminToken },
        ),
      ).node;
      expect(node.status).toBe('OFFLINE');
      expect(Date.parse(node.lastSeenAt)).toBeGreaterThan(0);
      events.stop();
    });

    it('updates a node and validates its settings', async () => {
      const reg = await t.registerNode('tuned');
      const updated = ok(
        await gql<{ updateNode: { syncEnabled: boolean; autoSyncInterval: number } }>(
          t.url,
          'mutation($id: ID!) { updateNode(id: $id, syncEnabled: false, autoSyncInterval: 60) { syncEnabled autoSyncInterval } }',
          { id: reg.id },
          { token: t.adminToken },
        ),
      ).updateNode;
      expect(updated).toEqual({ syncEnabled: false, autoSyncInterval: 60 });
      const bad = await gql(
        t.url,
        'mutation($id: ID!) { updateNode(id: $id, autoSyncInterval: 0) { id } }',
        { id: reg.id },
        { token: t.adminToken },
      );
      expect(codes(bad)).toEqual(['BAD_USER_INPUT']);
    });

    it('refuses bad requests with their codes and changes nothing', async () => {
      const member = await t.createUser('mallory');
      const usersBefore = await countUsers();
      const nodesBefore = ok(
        await gql<{ nodes: unknown[] }>(t.url, '{ nodes { id } }', {}, { token: t.adminToken }),
      ).nodes.length;

      // Tokens: none, expired, forged (signed by another key), malformed.
      const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
      const forged = await new SignJWT({ username: 'admin', role: 'ADMIN' })
        .setProtectedHeader({ alg: 'EdDSA' })
        .setSubject(member.id)
        .setIssuer('switchboard-central')
        .setAudience('switchboard')
        .setExpirationTime('1h')
        .sign(privateKey);
      // Signed with central's real key, but with no lifetime: expired the moment it is made.
      const expired = await (
        await createTokenSigner(t.central.services.db, 0)
      ).sign({ id: member.id, username: 'admin', role: 'ADMIN' });
      const createUser =
        'mutation { createUser(username: "intruder", password: "password123") { id } }';
      const cases: Array<[string, Promise<Awaited<ReturnType<typeof gql>>>, string]> = [
        [
          'wrong password',
          gql(t.url, 'mutation { login(username: "admin", password: "wrong-password") { token } }'),
          'UNAUTHENTICATED',
        ],
        [
          'unknown user',
          gql(
            t.url,
            'mutation { login(username: "nobody", password: "wrong-password") { token } }',
          ),
          'UNAUTHENTICATED',
        ],
        ['no token', gql(t.url, createUser), 'UNAUTHENTICATED'],
        [
          'malformed header',
          gql(t.url, createUser, {}, { headers: { authorization: 'Token abc' } }),
          'UNAUTHENTICATED',
        ],
        ['garbage token', gql(t.url, createUser, {}, { token: 'not.a.jwt' }), 'UNAUTHENTICATED'],
        ['forged token', gql(t.url, createUser, {}, { token: forged }), 'UNAUTHENTICATED'],
        ['expired token', gql(t.url, createUser, {}, { token: expired }), 'UNAUTHENTICATED'],
        ['member createUser', gql(t.url, createUser, {}, { token: member.token }), 'FORBIDDEN'],
        [
          'member registerNode',
          gql(
            t.url,
            'mutation { registerNode(name: "rogue", url: "http://x") { apiKey } }',
            {},
            { token: member.token },
          ),
          'FORBIDDEN',
        ],
        [
          'member rotate',
          gql(
            t.url,
            `mutation { rotateNodeApiKey(nodeId: "${member.id}") { apiKey } }`,
            {},
            { token: member.token },
          ),
          'FORBIDDEN',
        ],
        [
          'duplicate username',
          gql(
            t.url,
            'mutation { createUser(username: "Mallory", password: "password123") { id } }',
            {},
            { token: t.adminToken },
          ),
          'CONFLICT',
        ],
        [
          'duplicate node name',
          gql(
            t.url,
            'mutation { registerNode(name: "keyed", url: "http://x") { apiKey } }',
            {},
            { token: t.adminToken },
          ),
          'CONFLICT',
        ],
        [
          'empty username',
          gql(
            t.url,
            'mutation { createUser(username: "", password: "password123") { id } }',
            {},
            { token: t.adminToken },
          ),
          'BAD_USER_INPUT',
        ],
        [
          'oversized username',
          gql(
            t.url,
            `mutation { createUser(username: "${'u'.repeat(33)}", password: "password123") { id } }`,
            {},
            { token: t.adminToken },
          ),
          'BAD_USER_INPUT',
        ],
        [
          'short password',
          gql(
            t.url,
            'mutation { createUser(username: "shorty", password: "pw") { id } }',
            {},
            { token: t.adminToken },
          ),
          'BAD_USER_INPUT',
        ],
        [
          'empty room name',
          gql(t.url, 'mutation { createRoom(name: "   ") { id } }', {}, { token: member.token }),
          'BAD_USER_INPUT',
        ],
        [
          'oversized room name',
          gql(
            t.url,
            `mutation { createRoom(name: "${'r'.repeat(101)}") { id } }`,
            {},
            { token: member.token },
          ),
          'BAD_USER_INPUT',
        ],
        [
          'bad node name',
          gql(
            t.url,
            'mutation { registerNode(name: "Bad Name!", url: "http://x") { apiKey } }',
            {},
            { token: t.adminToken },
          ),
          'BAD_USER_INPUT',
        ],
        [
          'bad node url',
          gql(
            t.url,
            'mutation { registerNode(name: "badurl", url: "ftp://x") { apiKey } }',
            {},
            { token: t.adminToken },
          ),
          'BAD_USER_INPUT',
        ],
        [
          'malformed id',
          gql(t.url, 'mutation { joinRoom(roomId: "nope") { id } }', {}, { token: member.token }),
          'BAD_USER_INPUT',
        ],
        [
          'unknown room',
          gql(
            t.url,
            'mutation { joinRoom(roomId: "00000000-0000-7000-8000-000000000000") { id } }',
            {},
            { token: member.token },
          ),
          'NOT_FOUND',
        ],
        [
          'unknown home node',
          gql(
            t.url,
            'mutation { createRoom(name: "x", homeNodeId: "00000000-0000-7000-8000-000000000000") { id } }',
            {},
            { token: member.token },
          ),
          'NOT_FOUND',
        ],
        [
          'unknown node',
          gql(
            t.url,
            'mutation { updateNode(id: "00000000-0000-7000-8000-000000000000", syncEnabled: true) { id } }',
            {},
            { token: t.adminToken },
          ),
          'NOT_FOUND',
        ],
        [
          'unknown rotate',
          gql(
            t.url,
            'mutation { rotateNodeApiKey(nodeId: "00000000-0000-7000-8000-000000000000") { apiKey } }',
            {},
            { token: t.adminToken },
          ),
          'NOT_FOUND',
        ],
      ];
      for (const [label, response, code] of cases) {
        expect({ label, codes: codes(await response) }).toEqual({ label, codes: [code] });
      }
      expect(await countUsers()).toBe(usersBefore);
      const nodesAfter = ok(
        await gql<{ nodes: unknown[] }>(t.url, '{ nodes { id } }', {}, { token: t.adminToken }),
      ).nodes.length;
      expect(nodesAfter).toBe(nodesBefore);
    });

    it('resolves 100 user references with one SQL query', async () => {
      // Inserted directly: 100 password hashes through createUser would only slow the test down.
      const rows = Array.from({ length: 100 }, (_, i) => ({
        id: uuidv7(),
        username: `ref-${i}`,
        displayName: `Ref ${i}`,
        passwordHash: 'unusable',
      }));
      await t.central.services.db.insert(users).values(rows);
      const ids = rows.map((r) => r.id);
      queries = [];
      const result = ok(
        await gql<{ _entities: Array<{ username: string }> }>(
          t.url,
          'query($r: [_Any!]!) { _entities(representations: $r) { ... on User { username } } }',
          { r: ids.map((id) => ({ __typename: 'User', id })) },
        ),
      );
      expect(result._entities.map((u) => u.username)).toEqual(ids.map((_, i) => `ref-${i}`));
      // Only this request touches the users table (the liveness sweep may run meanwhile).
      expect(queries.filter((q) => q.includes('"users"'))).toHaveLength(1);
    });
  });
}
