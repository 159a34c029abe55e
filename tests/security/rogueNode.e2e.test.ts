// The rogue node suite (issue 14): what a compromised node gets, against a real cluster of
// processes. node-p is an honest node behind a recording proxy (everything the gateway, central
// and its peers send it is kept); "rogue" is a hand-written hostile node, registered and ONLINE,
// that stores one room with node-a and node-b and serves them forged batches. The suite shows:
// nothing a node receives works anywhere else (each captured credential replayed at the gateway,
// central and the other nodes is refused), forged versions are quarantined with reasons and
// change nothing while the batch's valid versions apply, and central ignores reports outside a
// session's scope. Findings are checked with expect.soft, so one run lists every hole at once.
import { createHash, randomUUID } from 'node:crypto';
import Database from 'better-sqlite3';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_CHANGES_PATH, SYNC_DIGESTS_PATH, SYNC_REPORT_PATH } from '../../lib/syncProtocol.ts';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { ADMIN_PASSWORD } from '../helpers/central.ts';
import { Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { codes, gql, ok, type GraphQLResponse } from '../helpers/graphql.ts';
import { HostileNode, type ForgedVersion } from '../helpers/hostileNode.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import {
  CREDENTIAL_HEADERS,
  RecordingProxy,
  type CapturedRequest,
} from '../helpers/recordingHttpProxy.ts';
import { until } from '../helpers/until.ts';

interface Row {
  id: string;
  room_id: string;
  sender_id: string;
  content: string;
  content_hash: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  hlc: string;
  origin_node: string;
}

interface Credential {
  /** Where it was seen: a header, or a graphql-ws connectionParams key. */
  readonly kind: 'header' | 'param';
  readonly name: string;
  readonly value: string;
}

/** A replay that was NOT refused: what the attack got. */
interface Accepted {
  readonly where: string;
  readonly credential: string;
  readonly status: number;
  readonly answer: string;
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
const REFUSALS = new Set(['UNAUTHENTICATED', 'FORBIDDEN']);
const TERMINAL = new Set(['COMPLETED', 'FAILED']);

/** connectionParams keys and the headers they stand for, both ways. */
const PARAM_HEADER: Record<string, string> = {
  authorization: 'authorization',
  gatewaySecret: 'x-gateway-secret',
  gatewayAssertion: 'x-gateway-assertion',
};

/** A raw request: status and body (JSON when it is), whatever the answer. */
async function call(
  url: string,
  init: { method?: string; headers?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: unknown; text: string }> {
  const response = await fetch(url, {
    method: init.method ?? 'GET',
    headers: {
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...init.headers,
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, body, text };
}

/** Refused: 401/403, or GraphQL errors that are all UNAUTHENTICATED/FORBIDDEN. */
function refused(answer: { status: number; body: unknown }): boolean {
  if (answer.status === 401 || answer.status === 403) return true;
  const errors = (answer.body as GraphQLResponse | null)?.errors;
  if (!errors?.length) return false;
  return codes({ status: answer.status, errors }).every((code) => REFUSALS.has(String(code)));
}

const bearer = (value: string) => (/^bearer /i.test(value) ? value : `Bearer ${value}`);
const short = (value: string) => (value.length > 16 ? `${value.slice(0, 16)}...` : value);
const describeCredential = (c: Credential) => `${c.kind} ${c.name}=${short(c.value)}`;

/** As a header: its own name for headers, the header a connection parameter stands for. */
function asHeader(c: Credential): [string, string] {
  return [c.kind === 'header' ? c.name : (PARAM_HEADER[c.name] ?? c.name.toLowerCase()), c.value];
}

/** As a connection parameter: its own key for params, the key a header stands for. */
function asParam(c: Credential): [string, string] {
  if (c.kind === 'param') return [c.name, c.value];
  const key = Object.entries(PARAM_HEADER).find(([, header]) => header === c.name)?.[0];
  return [key ?? c.name, c.value];
}

describe('a rogue node gets nothing more (issue 14)', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());

  let cluster: Cluster;
  let proxy: RecordingProxy;
  let hostile: HostileNode;
  let a: ClusterNode, b: ClusterNode, p: ClusterNode;
  const users: Record<'admin' | 'alice' | 'bob' | 'eve', { id: string; token: string }> =
    {} as never;
  /** home p, replica a: the proxied node's room. */
  let roomP: string;
  /** home a, replicas b and rogue: the room the rogue shares with honest nodes. */
  let roomShared: string;
  /** home a, replica b: a room the rogue does not store. */
  let roomX: string;
  /** Messages of roomP, oldest first. */
  const postedP: string[] = [];
  /**
   * Posted before any attack, for the report test: should replication of the shared room stop
   * (finding 1), they are indexed all the same.
   */
  const indexed = { outside: '', inside: '' };

  /** Through the gateway, as a client would: no gateway secret, only the user's token. */
  const gw = <T>(query: string, variables: Record<string, unknown> = {}, token?: string) =>
    gql<T>(cluster.gatewayUrl, query, variables, {
      gatewaySecret: null,
      ...(token === undefined ? {} : { token }),
    });
  const asAdmin = <T>(query: string, variables: Record<string, unknown> = {}) =>
    gw<T>(query, variables, users.admin.token);
  const post = async (user: keyof typeof users, roomId: string, content: string) =>
    ok(
      await gw<{ postMessage: { id: string } }>(
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: roomId, c: content },
        users[user].token,
      ),
    ).postMessage.id;

  const rows = (node: ClusterNode, ids: readonly string[]): Row[] => {
    const db = new Database(databaseFile(cluster.dataDir, node.name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return db
        .prepare(
          `SELECT id, room_id, sender_id, content, content_hash, created_at, updated_at, deleted_at, hlc, origin_node
           FROM messages WHERE id IN (${ids.map(() => '?').join(',')}) ORDER BY id`,
        )
        .all(...ids) as Row[];
    } finally {
      db.close();
    }
  };
  const heldEverywhere = (nodes: readonly ClusterNode[], ids: readonly string[]) =>
    until(
      () => nodes.map((n) => rows(n, ids).length),
      (counts) => counts.every((n) => n === ids.length),
      `${ids.length} messages on ${nodes.map((n) => n.name).join(', ')}`,
    );

  const sessionEnded = (id: string) =>
    until(
      async () =>
        ok(
          await asAdmin<{ syncSession: { status: string; error: string | null } }>(
            'query($id: ID!) { syncSession(id: $id) { status error } }',
            { id },
          ),
        ).syncSession,
      (s) => TERMINAL.has(s.status),
      `sync session ${id} to end`,
    );

  /** Room messages through the gateway, as alice (a member of every room). */
  const roomMessages = async (roomId: string) =>
    ok(
      await gw<{
        room: {
          messages: { edges: Array<{ node: { id: string; content: string } }> } | null;
        } | null;
      }>(
        'query($r: ID!) { room(id: $r) { messages(last: 100) { edges { node { id content } } } } }',
        { r: roomId },
        users.alice.token,
      ),
    ).room?.messages?.edges.map((e) => e.node) ?? [];

  beforeAll(async () => {
    proxy = leftovers.add(await RecordingProxy.start(), (x) => x.close());
    // Nothing here tests failover: slow heartbeats and a patient gateway keep a loaded machine
    // from flapping nodes OFFLINE or timing out a request through the proxy.
    cluster = await Cluster.start(leftovers, {
      nodes: ['node-a', 'node-b'],
      heartbeatIntervalMs: 2000,
      nodeTimeoutMs: 15_000,
    });
    a = cluster.node('node-a');
    b = cluster.node('node-b');
    p = await cluster.addNode('node-p', { publicUrl: proxy.url });
    proxy.retarget(p.url);
    await cluster.waitUntilRoutable(['node-a', 'node-b', 'node-p']);

    const login = async (username: string, password: string) =>
      ok(
        await gw<{ login: { token: string; user: { id: string } } }>(
          'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token user { id } } }',
          { u: username, p: password },
        ),
      ).login;
    const admin = await login('admin', ADMIN_PASSWORD);
    users.admin = { id: admin.user.id, token: admin.token };
    for (const name of ['alice', 'bob', 'eve'] as const) {
      ok(
        await asAdmin(
          'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
          { u: name, p: `pw-${name}-secret` },
        ),
      );
      const session = await login(name, `pw-${name}-secret`);
      users[name] = { id: session.user.id, token: session.token };
    }

    const registered = ok(
      await asAdmin<{ registerNode: { apiKey: string } }>(
        'mutation { registerNode(name: "rogue", url: "http://127.0.0.1:1") { apiKey } }',
      ),
    ).registerNode;
    hostile = await HostileNode.start(leftovers, {
      centralUrl: cluster.centralUrl,
      apiKey: registered.apiKey,
    });

    const createRoom = async (name: string, home: string, replicas: string[]) =>
      ok(
        await gw<{ createRoom: { id: string } }>(
          'mutation($n: String!, $h: ID!, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
          { n: name, h: home, r: replicas },
          users.alice.token,
        ),
      ).createRoom.id;
    roomP = await createRoom('proxied', p.id, [a.id]);
    roomShared = await createRoom('shared', a.id, [b.id, hostile.nodeId]);
    roomX = await createRoom('elsewhere', a.id, [b.id]);
    for (const [user, roomId] of [
      ['admin', roomP],
      ['bob', roomShared],
    ] as const) {
      ok(
        await gw(
          'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
          { r: roomId },
          users[user].token,
        ),
      );
    }
    indexed.outside = await post('alice', roomX, 'indexed in a room the rogue does not store');
    indexed.inside = await post('alice', roomShared, 'indexed in the shared room');
  });

  const graphqlAt = (url: string, query: string, headers: Record<string, string>) =>
    call(`${url}/graphql`, { method: 'POST', headers, body: { query } });
  let replay = 0;
  const createAdmin = () =>
    `mutation { createUser(username: "replayed-${++replay}", password: "pw-replayed-secret", role: ADMIN) { id } }`;
  /**
   * Replays headers at the gateway, central's GraphQL and internal API, and node-a's and node-b's
   * GraphQL and sync feed; answers the replays that were NOT refused.
   */
  const replayHeaders = async (
    label: string,
    headers: Record<string, string>,
  ): Promise<Accepted[]> => {
    const accepted: Accepted[] = [];
    const attempt = async (
      where: string,
      credential: string,
      send: () => Promise<{ status: number; body: unknown; text: string }>,
    ) => {
      const answer = await send();
      if (!refused(answer))
        accepted.push({
          where,
          credential,
          status: answer.status,
          answer: answer.text.slice(0, 160),
        });
    };
    // The gateway, and central's GraphQL (the finding-2 attack: an ADMIN created).
    await attempt('gateway createUser(ADMIN)', label, () =>
      graphqlAt(cluster.gatewayUrl, createAdmin(), headers),
    );
    await attempt('central GraphQL createUser(ADMIN)', label, () =>
      graphqlAt(cluster.centralUrl, createAdmin(), headers),
    );
    await attempt('central GraphQL { me }', label, () =>
      graphqlAt(cluster.centralUrl, '{ me { id role } }', headers),
    );
    // Central's internal endpoints.
    await attempt('central GET /internal/gateway/nodes', label, () =>
      call(`${cluster.centralUrl}/internal/gateway/nodes`, { headers }),
    );
    await attempt('central GET /internal/membership', label, () =>
      call(`${cluster.centralUrl}/internal/membership?roomId=${roomP}&userId=${users.alice.id}`, {
        headers,
      }),
    );
    await attempt('central POST /internal/sync/changed', label, () =>
      call(`${cluster.centralUrl}/internal/sync/changed`, {
        method: 'POST',
        headers,
        body: { roomIds: [] },
      }),
    );
    await attempt('central POST /internal/sync/authority', label, () =>
      call(`${cluster.centralUrl}/internal/sync/authority`, {
        method: 'POST',
        headers,
        body: { roomIds: [roomP], senders: [] },
      }),
    );
    await attempt(`central POST ${SYNC_REPORT_PATH}`, label, () =>
      call(`${cluster.centralUrl}${SYNC_REPORT_PATH}`, {
        method: 'POST',
        headers,
        body: {
          sessionId: randomUUID(),
          status: 'IN_PROGRESS',
          messagesSynced: 0,
          applied: [],
          cursor: 0,
        },
      }),
    );
    // The other nodes: GraphQL and the sync feed.
    for (const node of [a, b]) {
      await attempt(`${node.name} GraphQL message`, label, () =>
        graphqlAt(node.url, `{ message(id: "${postedP[0]}") { id content } }`, headers),
      );
      await attempt(`${node.name} GraphQL _service`, label, () =>
        graphqlAt(node.url, '{ _service { sdl } }', headers),
      );
      await attempt(`${node.name} ${SYNC_CHANGES_PATH}`, label, () =>
        call(`${node.url}${SYNC_CHANGES_PATH}?after=0&limit=10&rooms=${roomX}`, { headers }),
      );
      await attempt(`${node.name} ${SYNC_DIGESTS_PATH}`, label, () =>
        call(`${node.url}${SYNC_DIGESTS_PATH}?rooms=${roomX}`, { headers }),
      );
    }
    return accepted;
  };

  it('a proxied node receives no reusable credential, and every one it received is refused elsewhere', async () => {
    // Traffic a node sees: reads, posts and subscriptions of an ADMIN and a MEMBER through the
    // gateway, and its peers pulling its changes.
    postedP.push(await post('alice', roomP, 'first in the proxied room'));
    postedP.push(await post('admin', roomP, 'second, by the admin'));
    const gatewayWs = (token: string) => {
      const client = createClient({
        url: `${cluster.gatewayUrl.replace(/^http/, 'ws')}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${token}` },
        retryAttempts: 0,
        lazy: true,
      });
      leftovers.defer(() => client.dispose());
      return client;
    };
    const live = await Promise.all(
      (['alice', 'admin'] as const).map(async (user) => {
        const seen: string[] = [];
        const listeners = new Set<() => void>();
        gatewayWs(users[user].token).subscribe<{ messageAdded: { id: string } }>(
          {
            query:
              'subscription($r: ID!, $a: String) { messageAdded(roomId: $r, after: $a) { id } }',
            variables: { r: roomP, a: postedP[0] },
          },
          {
            next: (result) => {
              if (result.data) seen.push(result.data.messageAdded.id);
              for (const l of listeners) l();
            },
            error: () => {},
            complete: () => {},
          },
        );
        const sees = (id: string) =>
          new Promise<void>((resolve) => {
            const check = () => {
              if (seen.includes(id)) {
                listeners.delete(check);
                resolve();
              }
            };
            listeners.add(check);
            check();
          });
        // The replayed message proves the upstream subscription is open before the next post.
        await sees(postedP[1] as string);
        return sees;
      }),
    );
    const third = await post('alice', roomP, 'third, seen live');
    postedP.push(third);
    await Promise.all(live.map((sees) => sees(third)));
    for (const user of ['alice', 'admin'] as const) {
      const read = ok(
        await gw<{ rooms: Array<{ id: string }> }>(
          '{ rooms { id messages(last: 10) { edges { node { id content sender { id } } } } } }',
          {},
          users[user].token,
        ),
      );
      expect(read.rooms.map((r) => r.id)).toContain(roomP);
      ok(
        await gw(
          'query($i: ID!) { message(id: $i) { id content } }',
          { i: third },
          users[user].token,
        ),
      );
    }
    const sessions = ok(
      await asAdmin<{ triggerSync: Array<{ id: string }> }>(
        'mutation($n: ID) { triggerSync(nodeId: $n, syncType: FULL) { id } }',
        { n: p.id },
      ),
    ).triggerSync;
    for (const session of sessions) await sessionEnded(session.id);
    await heldEverywhere([a], postedP);

    // The harness saw what it must: the gateway's HTTP and WebSocket traffic and a peer's pulls.
    expect(proxy.requests.some((r) => r.url.startsWith('/graphql') && !r.websocket)).toBe(true);
    expect(proxy.requests.some((r) => r.websocket)).toBe(true);
    expect(proxy.connectionInits.length).toBeGreaterThan(0);
    expect(proxy.requests.some((r) => r.url.startsWith(SYNC_CHANGES_PATH))).toBe(true);

    // Finding 2 and 3: no secret, user token or node key reaches a node.
    for (const header of ['x-gateway-secret', 'authorization', 'x-node-api-key']) {
      const carrying = proxy.requests.filter((r) => r.headers[header] !== undefined);
      expect
        .soft(
          carrying.map((r) => `${r.method} ${r.url.split('?')[0]}`),
          `requests to node-p carrying ${header}`,
        )
        .toEqual([]);
    }
    for (const key of ['authorization', 'gatewaySecret']) {
      expect
        .soft(
          proxy.connectionInits.filter((init) => init.payload[key] !== undefined).length,
          `connection_init payloads to node-p carrying ${key}`,
        )
        .toBe(0);
    }

    const credentials: Credential[] = [
      ...proxy.credentialHeaders().map((c) => ({ kind: 'header' as const, ...c })),
      ...proxy.connectionParams().map((c) => ({ kind: 'param' as const, ...c })),
    ];
    // Whatever the mechanism, something authenticated the gateway and the peers to node-p.
    expect(credentials.length).toBeGreaterThan(0);
    const accepted: Accepted[] = [];
    const replayParams = async (label: string, params: Record<string, string>) => {
      const outcome = await subscribeWith(a.url, params, roomP, postedP[0] as string);
      if (outcome !== 'refused')
        accepted.push({
          where: 'node-a graphql-ws messageAdded',
          credential: label,
          status: 0,
          answer: outcome,
        });
    };

    for (const credential of credentials) {
      const label = describeCredential(credential);
      const [name, value] = asHeader(credential);
      accepted.push(...(await replayHeaders(`${label} as ${name}`, { [name]: value })));
      accepted.push(
        ...(await replayHeaders(`${label} as Authorization`, { authorization: bearer(value) })),
      );
      const [key, param] = asParam(credential);
      await replayParams(`${label} as connectionParams.${key}`, { [key]: param });
    }
    // All of them at once, as an attacker holding everything would.
    const together = Object.fromEntries(credentials.map(asHeader));
    accepted.push(...(await replayHeaders('every captured header together', together)));
    await replayParams(
      'every captured credential together',
      Object.fromEntries(credentials.map(asParam)),
    );

    expect
      .soft(accepted, 'replays of credentials node-p received that were NOT refused')
      .toEqual([]);
    const admins = ok(
      await asAdmin<{ users: Array<{ username: string; role: string }> }>(
        '{ users { username role } }',
      ),
    ).users.filter((u) => u.role === 'ADMIN' || u.username.startsWith('replayed-'));
    expect
      .soft(
        admins.map((u) => u.username),
        'ADMIN or replayed users after the replays',
      )
      .toEqual(['admin']);
  });

  it('forged versions from a hostile source are quarantined with reasons and change nothing; the valid one applies and the pair keeps syncing', async () => {
    const mX = await post('alice', roomX, 'stays in its room');
    const mB1 = await post('alice', roomShared, 'written by alice');
    const mB2 = await post('alice', roomShared, 'written at its time');
    await heldEverywhere([a, b], [mX, mB1, mB2]);
    const before = new Map([a, b].map((n) => [n.name, rows(n, [mX, mB1, mB2])]));
    const held = (id: string) => before.get('node-a')?.find((r) => r.id === id) as Row;
    const now = Date.now();
    const version = (
      fields: Partial<ForgedVersion> & Pick<ForgedVersion, 'id' | 'content'>,
    ): ForgedVersion => ({
      op: 'create',
      roomId: roomShared,
      senderId: users.alice.id,
      contentHash: sha256(fields.content),
      createdAt: now,
      updatedAt: now,
      deletedAt: null,
      hlc: hostile.nextHlc(),
      originNode: hostile.nodeId,
      ...fields,
    });
    // A newer version of a message this node holds, with one thing it may not change.
    const rewrite = (
      row: Row,
      change: Partial<ForgedVersion> & Pick<ForgedVersion, 'content'>,
    ): ForgedVersion =>
      version({
        op: 'update',
        id: row.id,
        roomId: row.room_id,
        senderId: row.sender_id,
        createdAt: row.created_at,
        originNode: row.origin_node,
        ...change,
      });
    const attacks = [
      {
        what: '(a) a message of another room moved into the shared room',
        reason: /room/i,
        version: rewrite(held(mX), { roomId: roomShared, content: 'moved here by the rogue' }),
      },
      {
        what: '(b) an existing message with another sender',
        reason: /sender/i,
        version: rewrite(held(mB1), { senderId: users.bob.id, content: 'now bob said it' }),
      },
      {
        what: '(b) an existing message with another creation time',
        reason: /creat/i,
        version: rewrite(held(mB2), {
          createdAt: held(mB2).created_at - 86_400_000,
          content: 'backdated by a day',
        }),
      },
      {
        what: '(c) a new message by a non-member',
        reason: /member/i,
        version: version({ id: randomUUID(), senderId: users.eve.id, content: 'eve is no member' }),
      },
      {
        what: '(d) a new message with a lone surrogate',
        reason: /surrogate|unicode|utf|well-formed/i,
        version: version({ id: randomUUID(), content: 'poison \ud800 here' }),
      },
      {
        what: '(e) a new message claiming an origin that does not store the room',
        reason: /origin/i,
        version: version({ id: randomUUID(), originNode: p.id, content: 'node-p wrote this' }),
      },
    ];
    const valid = version({ id: randomUUID(), content: 'a valid message from the rogue' });
    // Its own page: were it in the first one, a target that refuses batches whole (as before
    // issue 14) would apply nothing at all, and attacks (a)-(e) would look refused.
    const badHash = {
      what: '(d) a new message whose content hash does not match',
      reason: /hash/i,
      version: version({
        id: randomUUID(),
        content: 'tampered',
        contentHash: sha256('not the content'),
      }),
    };
    hostile.publish([...attacks.map((x) => x.version), valid]);
    hostile.publish([badHash.version]);
    const forged = [...attacks, badHash];
    const sessionIds = await hostile.announce([roomShared]);
    expect(sessionIds.length).toBe(2);
    const ended = await Promise.all(sessionIds.map(sessionEnded));

    // The harness worked: both targets pulled both pages.
    const pulled = (seq: number) => hostile.served.filter((s) => s.seqs.includes(seq)).length;
    expect(pulled(1)).toBeGreaterThanOrEqual(2);
    expect(pulled(forged.length + 1)).toBeGreaterThanOrEqual(2);

    expect
      .soft(
        ended.map((s) => `${s.status}${s.error ? `: ${s.error}` : ''}`),
        'sessions pulling the forged batches',
      )
      .toEqual(['COMPLETED', 'COMPLETED']);
    const newIds = forged.filter((x) => x.version.op === 'create').map((x) => x.version.id);
    for (const node of [a, b]) {
      expect
        .soft(rows(node, [mX, mB1, mB2]), `${node.name}: rows the forged versions rewrote`)
        .toEqual(before.get(node.name));
      expect
        .soft(
          rows(node, newIds).map((r) => r.content),
          `${node.name}: forged new messages stored`,
        )
        .toEqual([]);
      expect
        .soft(
          rows(node, [valid.id]).map((r) => r.content),
          `${node.name}: the batch's valid version`,
        )
        .toEqual([valid.content]);
    }
    const contents = async (roomId: string, ids: readonly string[]) => {
      const messages = await roomMessages(roomId);
      return Object.fromEntries(
        ids.map((id) => [id, messages.find((m) => m.id === id)?.content ?? null]),
      );
    };
    expect
      .soft(
        await contents(roomShared, [mX, mB1, mB2, ...newIds, valid.id]),
        'shared room, read through the gateway',
      )
      .toEqual({
        [mX]: null,
        [mB1]: 'written by alice',
        [mB2]: 'written at its time',
        ...Object.fromEntries(newIds.map((id) => [id, null])),
        [valid.id]: valid.content,
      });
    expect
      .soft(await contents(roomX, [mX]), 'the other room, read through the gateway')
      .toEqual({ [mX]: 'stays in its room' });

    // A target's live stream from the hostile source may have quarantined the batch first: its
    // window's records reach central off the path (once a second), after the sessions ended.
    const forgedIds = forged.map((x) => x.version.id);
    for (const node of [a, b]) {
      await expect
        .poll(
          async () => {
            const answer = await asAdmin<{
              quarantinedVersions: Array<{ messageId: string; targetNode: { name: string } }>;
            }>(
              'query($n: ID) { quarantinedVersions(nodeId: $n) { messageId targetNode { name } } }',
              { n: node.id },
            );
            return (answer.data?.quarantinedVersions ?? [])
              .filter((q) => q.targetNode.name === node.name)
              .map((q) => q.messageId);
          },
          { timeout: 15_000, message: `${node.name}: every forged version recorded at central` },
        )
        .toEqual(expect.arrayContaining(forgedIds));
    }

    for (const node of [a, b]) {
      const answer = await asAdmin<{
        quarantinedVersions: Array<{
          messageId: string;
          reason: string;
          sourceNode: { name: string };
          targetNode: { name: string };
        }>;
      }>(
        'query($n: ID) { quarantinedVersions(nodeId: $n) { messageId reason sourceNode { name } targetNode { name } } }',
        { n: node.id },
      );
      expect.soft(answer.errors, `quarantinedVersions(nodeId: ${node.name})`).toBeUndefined();
      const listed = (answer.data?.quarantinedVersions ?? []).filter(
        (q) => q.targetNode.name === node.name,
      );
      for (const attack of forged) {
        const entry = listed.find((q) => q.messageId === attack.version.id);
        expect
          .soft(entry?.reason ?? '(not quarantined)', `${node.name} quarantined ${attack.what}`)
          .toMatch(attack.reason);
        expect.soft(entry?.sourceNode.name, `${node.name}: source of ${attack.what}`).toBe('rogue');
      }
      expect
        .soft(
          listed.map((q) => q.messageId),
          `${node.name}: the valid version is not quarantined`,
        )
        .not.toContain(valid.id);
    }
    // Summed over every session of each pair: a scheduled pull may have taken the batches first.
    const quarantinedCounts = await asAdmin<{
      syncSessions: Array<{
        messagesQuarantined: number;
        sourceNode: { id: string };
        targetNode: { name: string };
      }>;
    }>(
      'query($n: ID) { syncSessions(nodeId: $n, last: 100) { messagesQuarantined sourceNode { id } targetNode { name } } }',
      { n: hostile.nodeId },
    );
    expect.soft(quarantinedCounts.errors, 'SyncSession.messagesQuarantined').toBeUndefined();
    for (const node of [a, b]) {
      const counted = (quarantinedCounts.data?.syncSessions ?? [])
        .filter((x) => x.sourceNode.id === hostile.nodeId && x.targetNode.name === node.name)
        .reduce((sum, x) => sum + x.messagesQuarantined, 0);
      expect.soft(counted, `versions quarantined by ${node.name}'s sessions`).toBe(forged.length);
    }

    // The pair keeps syncing: the rogue's next valid version arrives, and so do honest writes.
    const later = version({ id: randomUUID(), content: 'a later valid message from the rogue' });
    hostile.publish([later]);
    const laterIds = await hostile.announce([roomShared]);
    const laterEnded = await Promise.all(laterIds.map(sessionEnded));
    expect
      .soft(
        laterEnded.map((s) => `${s.status}${s.error ? `: ${s.error}` : ''}`),
        'the next sessions from the rogue',
      )
      .toEqual(laterIds.map(() => 'COMPLETED'));
    for (const node of [a, b]) {
      expect
        .soft(rows(node, [later.id]).length, `${node.name}: the rogue's later valid message`)
        .toBe(1);
    }
    const honest = await post('alice', roomShared, 'an honest message after the attack');
    const fromA = ok(
      await asAdmin<{
        triggerSync: Array<{ id: string; sourceNode: { id: string }; targetNode: { id: string } }>;
      }>(
        'mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { id sourceNode { id } targetNode { id } } }',
        { n: b.id },
      ),
    ).triggerSync.filter((s) => s.sourceNode.id === a.id && s.targetNode.id === b.id);
    expect(fromA.length).toBe(1);
    const fromAEnded = await sessionEnded(fromA[0]?.id as string);
    expect
      .soft(
        `${fromAEnded.status}${fromAEnded.error ? `: ${fromAEnded.error}` : ''}`,
        'node-b pulling from node-a after the attack',
      )
      .toBe('COMPLETED');
    expect
      .soft(rows(b, [honest]).length, 'node-b: an honest message posted after the attack')
      .toBe(1);
  });

  it('central ignores the parts of a sync report outside the session (finding 5)', async () => {
    const { outside, inside } = indexed;
    // A session in which the rogue is the target: the pull of alice's write from node-a.
    const job = await hostile.jobs.waitForJob((j) => j.roomIds.includes(roomShared));
    expect(job.roomIds).toEqual([roomShared]);

    interface IndexEntry {
      id: string;
      room: { id: string };
      sender: { id: string };
      contentHash: string;
      originatingNode: { id: string };
      storageNodes: Array<{ name: string }>;
      createdAt: string;
      updatedAt: string;
      deleted: boolean;
    }
    const index = async (roomId: string): Promise<IndexEntry[]> =>
      ok(
        await asAdmin<{ messageIndex: { edges: Array<{ node: IndexEntry }> } }>(
          `query($r: ID!) { messageIndex(roomId: $r, first: 50) { edges { node {
             id room { id } sender { id } contentHash originatingNode { id } storageNodes { name }
             createdAt updatedAt deleted } } } }`,
          { r: roomId },
        ),
      ).messageIndex.edges.map((e) => e.node);
    const entries = async () => ({
      outside: (await index(roomX)).find((e) => e.id === outside),
      inside: (await index(roomShared)).find((e) => e.id === inside),
    });
    // Indexed by node-b's reports of its pulls from node-a.
    const before = await until(
      entries,
      (e) => [e.outside, e.inside].every((x) => x?.storageNodes.some((n) => n.name === 'node-b')),
      'both messages in the index',
    );
    const forgedChange = (entry: IndexEntry, changes: Record<string, unknown>) => ({
      messageId: entry.id,
      roomId: entry.room.id,
      senderId: entry.sender.id,
      contentHash: entry.contentHash,
      originNode: entry.originatingNode.id,
      createdAt: Date.parse(entry.createdAt),
      updatedAt: Date.now(),
      deleted: false,
      action: 'UPDATE',
      hlc: hostile.nextHlc(),
      ...changes,
    });
    const answer = await hostile.report({
      sessionId: job.sessionId,
      status: 'IN_PROGRESS',
      messagesSynced: 2,
      cursor: 0,
      applied: [
        forgedChange(before.outside as IndexEntry, {
          deleted: true,
          action: 'DELETE',
          contentHash: sha256(''),
        }),
        forgedChange(before.inside as IndexEntry, {
          roomId: roomX,
          contentHash: sha256('moved by a report'),
        }),
      ],
    });
    expect(answer.status).toBeLessThan(500);

    const after = await entries();
    expect
      .soft(after.outside, 'index entry of a message outside the session')
      .toEqual(before.outside);
    expect.soft(after.inside, 'index entry of a message given another room').toEqual(before.inside);
    expect
      .soft(
        (await index(roomX)).map((e) => e.id),
        "the other room's index",
      )
      .not.toContain(inside);
  });

  it('honest targets send the hostile source no node key, and nothing it receives works anywhere else (findings 2, 3)', async () => {
    const pulls = hostile.requests.filter(
      (r) => r.url.startsWith(SYNC_CHANGES_PATH) || r.url.startsWith(SYNC_DIGESTS_PATH),
    );
    expect(pulls.length).toBeGreaterThan(0);
    expect
      .soft(
        pulls.filter((r) => r.headers['x-node-api-key'] !== undefined).length,
        'pulls from the rogue carrying X-Node-API-Key',
      )
      .toBe(0);
    // The gateway checks the rogue's schema like any node's: with nothing a node could reuse.
    expect
      .soft(
        hostile.requests
          .filter(
            (r) =>
              r.headers['x-gateway-secret'] !== undefined ||
              r.headers['authorization'] !== undefined,
          )
          .map((r) => `${r.method} ${r.url.split('?')[0]}`),
        'requests to the rogue carrying X-Gateway-Secret or Authorization',
      )
      .toEqual([]);

    const captured = credentialsIn(pulls);
    expect(captured.length).toBeGreaterThan(0);
    // Rooms the rogue does not store, each at the honest nodes that store it.
    const elsewhere: Array<[string, ClusterNode[]]> = [
      [roomX, [a, b]],
      [roomP, [p, a]],
    ];
    const accepted: Accepted[] = [];
    for (const { name, value } of captured) {
      for (const [roomId, holders] of elsewhere) {
        for (const node of holders) {
          for (const path of [
            `${SYNC_CHANGES_PATH}?after=0&limit=10&rooms=${roomId}`,
            `${SYNC_DIGESTS_PATH}?rooms=${roomId}`,
          ]) {
            const answer = await call(`${node.url}${path}`, { headers: { [name]: value } });
            if (answer.status !== 401 && answer.status !== 403)
              accepted.push({
                where: `${node.name} ${path.split('?')[0]} (room ${roomId === roomX ? 'X' : 'P'})`,
                credential: `${name}=${short(value)}`,
                status: answer.status,
                answer: answer.text.slice(0, 160),
              });
          }
        }
      }
    }
    expect
      .soft(accepted, 'feed reads with what targets sent the rogue that were NOT refused')
      .toEqual([]);

    // What the gateway sent the rogue (its schema checks) opens nothing elsewhere either.
    const fromGateway: Accepted[] = [];
    for (const { name, value } of credentialsIn(
      hostile.requests.filter((r) => !pulls.includes(r)),
    )) {
      const label = `${name}=${short(value)} sent to the rogue`;
      fromGateway.push(...(await replayHeaders(label, { [name]: value })));
      fromGateway.push(
        ...(await replayHeaders(`${label}, as Authorization`, { authorization: bearer(value) })),
      );
    }
    expect
      .soft(fromGateway, 'replays of what the gateway sent the rogue that were NOT refused')
      .toEqual([]);
  });
});

/** Every distinct (header, value) among CREDENTIAL_HEADERS in these requests. */
function credentialsIn(
  requests: readonly CapturedRequest[],
): Array<{ name: string; value: string }> {
  const seen = new Set<string>();
  return requests.flatMap((r) =>
    CREDENTIAL_HEADERS.filter((name) => r.headers[name] !== undefined).flatMap((name) => {
      const value = r.headers[name] as string;
      if (seen.has(`${name}\n${value}`)) return [];
      seen.add(`${name}\n${value}`);
      return [{ name, value }];
    }),
  );
}

/**
 * Subscribes to messageAdded at a node's graphql-ws with the given connectionParams, replaying
 * from `after`: 'refused' when the connection or the subscription is refused, otherwise what
 * came (an event means the credentials worked).
 */
async function subscribeWith(
  nodeUrl: string,
  connectionParams: Record<string, string>,
  roomId: string,
  after: string,
): Promise<string> {
  const client = createClient({
    url: `${nodeUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
    lazy: true,
  });
  try {
    return await new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve('no answer within 20 s'), 20_000);
      const done = (outcome: string) => {
        clearTimeout(timer);
        resolve(outcome);
      };
      client.subscribe(
        {
          query:
            'subscription($r: ID!, $a: String) { messageAdded(roomId: $r, after: $a) { id content } }',
          variables: { r: roomId, a: after },
        },
        {
          next: (result) => {
            const errorCodes = (result.errors ?? []).map((e) => e.extensions?.['code']);
            if (result.data) done(`event ${JSON.stringify(result.data).slice(0, 120)}`);
            else if (errorCodes.length > 0 && errorCodes.every((c) => REFUSALS.has(String(c))))
              done('refused');
            else done(`errors ${JSON.stringify(result.errors).slice(0, 120)}`);
          },
          error: () => done('refused'),
          complete: () => done('refused'),
        },
      );
    });
  } finally {
    await client.dispose();
  }
}
