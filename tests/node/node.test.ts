// A real node against a real central, over HTTP and graphql-ws on port 0, with its SQLite file in
// a temp dir: posting, editing, deleting, paging, subscriptions, refusals, restart.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { lastSeq } from '../../subgraphs/node/changeLog.ts';
import { startNode, type NodeOptions, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { countRows, failInsertsInto, rawWsClient, record, snapshot } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

interface User {
  readonly id: string;
  readonly token: string;
}

let central: TestCentral;
/** Calls the node as the gateway would: an assertion per user, never the user's token. */
let gateway: TestGateway;
let node: NodeServer;
let nodeOptions: NodeOptions;
let alice: User; // member of `room`, posts most messages
let bob: User; // member of `room`
let carol: User; // member of no room
let admin: User; // ADMIN, member of no room
let room: string;

const MESSAGE_FIELDS = `id content contentHash createdAt updatedAt deletedAt syncStatus lastSyncAttempt
  room { id } sender { id } originNode { id }`;

interface MessageJson {
  id: string;
  content: string;
  contentHash: string;
  createdAt: string;
  updatedAt: string;
  deletedAt: string | null;
  syncStatus: string;
  lastSyncAttempt: string | null;
  room: { id: string };
  sender: { id: string };
  originNode: { id: string };
}

async function createRoom(owner: User, name: string): Promise<string> {
  const data = ok(
    await gql<{ createRoom: { id: string } }>(
      central.url,
      'mutation($n: String!, $h: ID) { createRoom(name: $n, homeNodeId: $h) { id } }',
      { n: name, h: node.nodeId },
      { token: owner.token },
    ),
  );
  return data.createRoom.id;
}

async function joinRoom(user: User, roomId: string): Promise<void> {
  ok(
    await gql(
      central.url,
      'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
      { r: roomId },
      { token: user.token },
    ),
  );
}

function post(user: User | undefined, roomId: string, content: string) {
  return gateway.gql<{ postMessage: MessageJson }>(
    node,
    `mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { ${MESSAGE_FIELDS} } }`,
    { r: roomId, c: content },
    user ? { token: user.token } : {},
  );
}

/** A post sent with these headers as they are, not as the gateway would send it. */
function postWithHeaders(headers: Record<string, string>, roomId: string, content: string) {
  return gql(
    node.url,
    'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
    { r: roomId, c: content },
    { gatewaySecret: null, headers },
  );
}

function edit(user: User, id: string, content: string) {
  return gateway.gql<{ editMessage: MessageJson }>(
    node,
    `mutation($id: ID!, $c: String!) { editMessage(id: $id, content: $c) { ${MESSAGE_FIELDS} } }`,
    { id, c: content },
    { token: user.token },
  );
}

function remove(user: User, id: string) {
  return gateway.gql<{ deleteMessage: MessageJson }>(
    node,
    `mutation($id: ID!) { deleteMessage(id: $id) { ${MESSAGE_FIELDS} } }`,
    { id },
    { token: user.token },
  );
}

function readMessage(user: User, id: string) {
  return gateway.gql<{ message: MessageJson | null }>(
    node,
    `query($id: ID!) { message(id: $id) { ${MESSAGE_FIELDS} } }`,
    { id },
    { token: user.token },
  );
}

interface PageJson {
  edges: Array<{ cursor: string; node: { id: string } }>;
  pageInfo: {
    hasNextPage: boolean;
    hasPreviousPage: boolean;
    startCursor: string | null;
    endCursor: string | null;
  };
}

/** Room.messages as the gateway asks for it: through `_entities`. */
function roomMessages(
  user: User,
  roomId: string,
  args: {
    first?: number;
    after?: string;
    last?: number;
    before?: string;
    includeDeleted?: boolean;
  },
) {
  return gateway.gql<{ _entities: Array<{ messages: PageJson }> }>(
    node,
    `query($reps: [_Any!]!, $first: Int, $after: String, $last: Int, $before: String,
           $includeDeleted: Boolean = true) {
      _entities(representations: $reps) {
        ... on Room {
          messages(first: $first, after: $after, last: $last, before: $before,
                   includeDeleted: $includeDeleted) {
            edges { cursor node { id } }
            pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
          }
        }
      }
    }`,
    {
      reps: [{ __typename: 'Room', id: roomId }],
      ...args,
      ...(args.last === undefined ? {} : { last: args.last }),
    },
    { token: user.token },
  );
}

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  gateway = await registerTestGateway(central.url);
  const registered = await central.registerNode('node-a');
  nodeOptions = {
    name: 'node-a',
    dataDir: await leftovers.tempDir('switchboard-node-'),
    centralUrl: central.url,
    apiKey: registered.apiKey,
    logger: silentLogger,
  };
  node = await startNode(nodeOptions);
  leftovers.defer(() => node.close());
  expect(node.nodeId).toBe(registered.id);
  [alice, bob, carol] = await Promise.all([
    central.createUser('alice'),
    central.createUser('bob'),
    central.createUser('carol'),
  ]);
  admin = await central.createUser('root', 'ADMIN');
  room = await createRoom(alice, 'general');
  await joinRoom(bob, room);
});

describe('post, edit, delete over HTTP', () => {
  it('posts a message with everything sync needs', async () => {
    const before = Date.now();
    const message = ok(await post(alice, room, 'hello, world')).postMessage;
    expect(message).toMatchObject({
      content: 'hello, world',
      contentHash: sha256('hello, world'),
      deletedAt: null,
      syncStatus: 'PENDING',
      lastSyncAttempt: null,
      room: { id: room },
      sender: { id: alice.id },
      originNode: { id: node.nodeId },
    });
    expect(message.id).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(Date.parse(message.createdAt)).toBeGreaterThanOrEqual(before - 1);
    expect(message.updatedAt).toBe(message.createdAt);
    expect(ok(await readMessage(bob, message.id)).message).toEqual(message);
  });

  it('lets the sender edit, and the sender or an ADMIN delete, leaving a tombstone', async () => {
    const posted = ok(await post(alice, room, 'first draft')).postMessage;
    const edited = ok(await edit(alice, posted.id, 'second draft')).editMessage;
    expect(edited).toMatchObject({
      id: posted.id,
      content: 'second draft',
      contentHash: sha256('second draft'),
      createdAt: posted.createdAt,
    });
    expect(Date.parse(edited.updatedAt)).toBeGreaterThanOrEqual(Date.parse(posted.updatedAt));

    const deleted = ok(await remove(alice, posted.id)).deleteMessage;
    expect(deleted).toMatchObject({
      id: posted.id,
      content: '',
      contentHash: sha256(''),
      sender: { id: alice.id },
    });
    expect(deleted.deletedAt).not.toBeNull();
    // The tombstone stays readable, in the room's listing too.
    expect(ok(await readMessage(bob, posted.id)).message).toEqual(deleted);
    const listed = ok(
      await roomMessages(alice, room, { last: 10 }),
    )._entities[0]?.messages.edges.map((e) => e.node.id);
    expect(listed).toContain(posted.id);

    const other = ok(await post(bob, room, 'moderate me')).postMessage;
    // An ADMIN deletes without being a member of the room.
    expect(ok(await remove(admin, other.id)).deleteMessage.deletedAt).not.toBeNull();

    const rows = node.db.sqlite
      .prepare('SELECT op FROM change_log WHERE message_id = ? ORDER BY seq')
      .all(posted.id);
    expect(rows).toEqual([{ op: 'create' }, { op: 'update' }, { op: 'delete' }]);
  });

  it('keeps every seq in order without gaps under 1000 concurrent posts', async () => {
    const busy = await createRoom(alice, 'busy');
    const seqBefore = lastSeq(node.db.db);
    const commitsBefore = node.store.commits;
    const results = await Promise.all(
      Array.from({ length: 1000 }, (_, i) => post(alice, busy, `message ${i}`)),
    );
    const ids = new Set(results.map((r) => ok(r).postMessage.id));
    expect(ids.size).toBe(1000);
    // Posts that arrive together share a transaction (group commit): fewer commits than posts.
    expect(node.store.commits - commitsBefore).toBeLessThan(1000);
    expect(node.writes.stats.largestGroup).toBeGreaterThan(1);

    const log = node.db.sqlite
      .prepare('SELECT seq, message_id AS id, op, hlc FROM change_log WHERE seq > ? ORDER BY seq')
      .all(seqBefore) as Array<{ seq: number; id: string; op: string; hlc: string }>;
    expect(log.map((r) => r.seq)).toEqual(
      Array.from({ length: 1000 }, (_, i) => seqBefore + 1 + i),
    );
    expect(new Set(log.map((r) => r.id))).toEqual(ids);
    expect(log.every((r) => r.op === 'create')).toBe(true);
    // Commit order, seq order and HLC order are one and the same on a node.
    for (let i = 1; i < log.length; i++)
      expect((log[i - 1]?.hlc ?? '') < (log[i]?.hlc ?? '')).toBe(true);
    // And across the whole log: 1..N with nothing missing.
    const all = node.db.sqlite
      .prepare('SELECT seq FROM change_log ORDER BY seq')
      .pluck()
      .all() as number[];
    expect(all).toEqual(Array.from({ length: all.length }, (_, i) => i + 1));
  });

  it('masks an internal failure and writes nothing', async () => {
    const before = snapshot(node.db);
    const restore = failInsertsInto(node.db.sqlite, 'change_log');
    const response = await post(alice, room, 'this write fails halfway').finally(restore);
    expect(codes(response)).toEqual(['INTERNAL_SERVER_ERROR']);
    expect(response.errors?.[0]?.message).toBe('internal server error');
    expect(JSON.stringify(response)).not.toMatch(/forced failure|stacktrace|at .*\.ts/);
    expect(snapshot(node.db)).toEqual(before);
  });
});

describe('refusals: the right code, and nothing written', () => {
  let mine: MessageJson;
  beforeAll(async () => {
    mine = ok(await post(alice, room, "alice's message")).postMessage;
  });

  const cases: Array<[string, string, () => Promise<{ errors?: unknown }>]> = [
    ['no token', 'UNAUTHENTICATED', () => post(undefined, room, 'anonymous')],
    [
      'a forged assertion',
      'UNAUTHENTICATED',
      () => postWithHeaders({ 'x-gateway-assertion': 'e30.e30.e30' }, room, 'forged'),
    ],
    [
      "a member's own token, without an assertion",
      'UNAUTHENTICATED',
      () => postWithHeaders({ authorization: `Bearer ${alice.token}` }, room, 'direct'),
    ],
    [
      'the gateway secret and a token, without an assertion',
      'UNAUTHENTICATED',
      () =>
        postWithHeaders(
          { authorization: `Bearer ${alice.token}`, 'x-gateway-secret': TEST_GATEWAY_SECRET },
          room,
          'as before',
        ),
    ],
    ['empty content', 'BAD_USER_INPUT', () => post(alice, room, '')],
    ['blank content', 'BAD_USER_INPUT', () => post(alice, room, ' \n\t ')],
    [
      'content over 4000 characters',
      'PAYLOAD_TOO_LARGE',
      () => post(alice, room, 'x'.repeat(4001)),
    ],
    ['an unknown room', 'NOT_FOUND', () => post(alice, randomUUID(), 'into the void')],
    ['a non-member posting', 'FORBIDDEN', () => post(carol, room, 'let me in')],
    ['a malformed room id', 'BAD_USER_INPUT', () => post(alice, 'general', 'hi')],
    ["editing someone else's message", 'FORBIDDEN', () => edit(bob, mine.id, 'hijacked')],
    [
      "an ADMIN editing someone else's message",
      'FORBIDDEN',
      () => edit(admin, mine.id, 'hijacked'),
    ],
    ['editing with empty content', 'BAD_USER_INPUT', () => edit(alice, mine.id, '')],
    ['editing an unknown message', 'NOT_FOUND', () => edit(alice, randomUUID(), 'ghost')],
    ['editing a malformed id', 'BAD_USER_INPUT', () => edit(alice, '42', 'hi')],
    ['deleting without rights', 'FORBIDDEN', () => remove(bob, mine.id)],
    ['deleting a malformed id', 'BAD_USER_INPUT', () => remove(alice, "1' OR '1'='1")],
    ['deleting an unknown message', 'NOT_FOUND', () => remove(admin, randomUUID())],
    ['a non-member reading a message', 'FORBIDDEN', () => readMessage(carol, mine.id)],
    ['reading a malformed id', 'BAD_USER_INPUT', () => readMessage(alice, 'nope')],
    ['a non-member reading a room', 'FORBIDDEN', () => roomMessages(carol, room, {})],
    ['reading an unknown room', 'NOT_FOUND', () => roomMessages(alice, randomUUID(), {})],
    ['a page over 500', 'BAD_USER_INPUT', () => roomMessages(alice, room, { first: 501 })],
    ['a negative page size', 'BAD_USER_INPUT', () => roomMessages(alice, room, { last: -1 })],
    [
      'a cursor that is not ours',
      'BAD_USER_INPUT',
      () => roomMessages(alice, room, { after: 'bm90LWEtY3Vyc29y' }),
    ],
  ];

  it.each(cases)('%s: %s', async (_name, code, request) => {
    const before = snapshot(node.db);
    const response = (await request()) as Parameters<typeof codes>[0];
    expect(codes(response)).toEqual([code]);
    expect(snapshot(node.db)).toEqual(before);
  });

  it('reads nothing for an unknown message id (null, not an error)', async () => {
    expect(ok(await readMessage(alice, randomUUID())).message).toBeNull();
  });

  it('lets an ADMIN read a room it is not a member of', async () => {
    const page = ok(await roomMessages(admin, room, { last: 1 }))._entities[0]?.messages;
    expect(page?.edges).toHaveLength(1);
  });

  it('resolves Message entities for the gateway with the same access rules', async () => {
    const query = `query($reps: [_Any!]!) { _entities(representations: $reps) { ... on Message { id content } } }`;
    const reps = [
      { __typename: 'Message', id: mine.id },
      { __typename: 'Message', id: randomUUID() },
    ];
    const asBob = ok(
      await gateway.gql<{ _entities: unknown[] }>(node, query, { reps }, { token: bob.token }),
    );
    expect(asBob._entities).toEqual([{ id: mine.id, content: "alice's message" }, null]);
    const asCarol = await gateway.gql(node, query, { reps }, { token: carol.token });
    expect(codes(asCarol)).toEqual(['FORBIDDEN']);
  });
});

describe('pagination', () => {
  let pagedRoom: string;
  let expected: string[];

  beforeAll(async () => {
    pagedRoom = await createRoom(alice, 'paged');
    // Ten at a time: a realistic burst, and the order of ids is whatever the node committed.
    for (let batch = 0; batch < 25; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => post(alice, pagedRoom, `m${batch * 10 + i}`).then(ok)),
      );
    }
    expected = (
      node.db.sqlite
        .prepare('SELECT id FROM messages WHERE room_id = ?')
        .pluck()
        .all(pagedRoom) as string[]
    ).sort();
    expect(expected).toHaveLength(250);
  });

  it('walks 250 messages forwards with `first`/`after`: each once, oldest to newest', async () => {
    const seen: string[] = [];
    let after: string | undefined;
    let pages = 0;
    for (;;) {
      const page = ok(
        await roomMessages(alice, pagedRoom, { first: 37, ...(after ? { after } : {}) }),
      )._entities[0]?.messages;
      if (!page) throw new Error('no page');
      seen.push(...page.edges.map((e) => e.node.id));
      expect(page.pageInfo.hasPreviousPage).toBe(pages > 0);
      pages += 1;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor ?? undefined;
      expect(after).toBe(page.edges.at(-1)?.cursor);
    }
    expect(pages).toBe(7);
    expect(seen).toEqual(expected);
  });

  it('walks 250 messages backwards with `last`/`before`: each once, every page oldest to newest', async () => {
    const seen: string[] = [];
    let before: string | undefined;
    let pages = 0;
    for (;;) {
      const page = ok(
        await roomMessages(alice, pagedRoom, { last: 37, ...(before ? { before } : {}) }),
      )._entities[0]?.messages;
      if (!page) throw new Error('no page');
      const ids = page.edges.map((e) => e.node.id);
      expect(ids).toEqual([...ids].sort());
      seen.unshift(...ids);
      expect(page.pageInfo.hasNextPage).toBe(pages > 0);
      pages += 1;
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor ?? undefined;
    }
    expect(pages).toBe(7);
    expect(seen).toEqual(expected);
  });

  it('serves the newest 50 by default, and an empty page past the end', async () => {
    const page = ok(await roomMessages(alice, pagedRoom, {}))._entities[0]?.messages;
    expect(page?.edges.map((e) => e.node.id)).toEqual(expected.slice(-50));
    const last = page?.pageInfo.endCursor ?? '';
    const empty = ok(await roomMessages(alice, pagedRoom, { first: 10, after: last }))._entities[0]
      ?.messages;
    expect(empty).toEqual({
      edges: [],
      pageInfo: { hasNextPage: false, hasPreviousPage: true, startCursor: null, endCursor: null },
    });
  });
});

describe('pagination without tombstones (includeDeleted: false)', () => {
  let tombRoom: string;
  let all: string[];
  let deleted: Set<string>;
  let kept: string[];

  beforeAll(async () => {
    tombRoom = await createRoom(alice, 'tombstones');
    for (let batch = 0; batch < 6; batch++) {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => post(alice, tombRoom, `t${batch * 10 + i}`).then(ok)),
      );
    }
    all = (
      node.db.sqlite
        .prepare('SELECT id FROM messages WHERE room_id = ?')
        .pluck()
        .all(tombRoom) as string[]
    ).sort();
    // The oldest and newest five (so the page flags at both ends depend on tombstones) and every
    // third message in between.
    deleted = new Set(all.filter((_, i) => i < 5 || i >= 55 || i % 3 === 0));
    await Promise.all([...deleted].map((id) => remove(alice, id).then(ok)));
    kept = all.filter((id) => !deleted.has(id));
    expect(kept.length).toBeGreaterThan(20);
  });

  it('walks forwards and backwards over the live messages only, with flags about them', async () => {
    const forwards: string[] = [];
    let after: string | undefined;
    for (let pages = 0; ; pages++) {
      const page = ok(
        await roomMessages(alice, tombRoom, {
          first: 7,
          includeDeleted: false,
          ...(after ? { after } : {}),
        }),
      )._entities[0]?.messages;
      if (!page) throw new Error('no page');
      forwards.push(...page.edges.map((e) => e.node.id));
      // Tombstones before the first live message are no previous page.
      expect(page.pageInfo.hasPreviousPage).toBe(pages > 0);
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor ?? undefined;
    }
    expect(forwards).toEqual(kept);

    const backwards: string[] = [];
    let before: string | undefined;
    for (let pages = 0; ; pages++) {
      const page = ok(
        await roomMessages(alice, tombRoom, {
          last: 7,
          includeDeleted: false,
          ...(before ? { before } : {}),
        }),
      )._entities[0]?.messages;
      if (!page) throw new Error('no page');
      backwards.unshift(...page.edges.map((e) => e.node.id));
      expect(page.pageInfo.hasNextPage).toBe(pages > 0);
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor ?? undefined;
    }
    expect(backwards).toEqual(kept);
  });

  it("takes any cursor of the room, a tombstone's too, and still includes tombstones by default", async () => {
    const tombstone = all[30] as string;
    expect(deleted.has(tombstone)).toBe(true);
    const { edges } = ok(await roomMessages(alice, tombRoom, { first: 500 }))._entities[0]
      ?.messages ?? { edges: [] };
    expect(edges.map((e) => e.node.id)).toEqual(all);
    const cursor = edges[30]?.cursor ?? '';
    const next = ok(
      await roomMessages(alice, tombRoom, { first: 3, after: cursor, includeDeleted: false }),
    )._entities[0]?.messages;
    expect(next?.edges.map((e) => e.node.id)).toEqual(
      kept.filter((id) => id > tombstone).slice(0, 3),
    );
    expect(next?.pageInfo.hasPreviousPage).toBe(true);
    const newest = ok(await roomMessages(alice, tombRoom, { last: 2, includeDeleted: false }))
      ._entities[0]?.messages;
    expect(newest?.edges.map((e) => e.node.id)).toEqual(kept.slice(-2));
    expect(newest?.pageInfo.hasNextPage).toBe(false);
  });
});

describe('subscriptions over graphql-ws', () => {
  const ADDED =
    'subscription($r: ID!) { messageAdded(roomId: $r) { id content room { id } sender { id } } }';
  const CHANGED = 'subscription($r: ID!) { messageChanged(roomId: $r) { id content deletedAt } }';

  it('delivers each new message exactly once, after commit', async () => {
    const client = leftovers.add(gateway.wsClient(node, bob.token), (c) => c.dispose());
    const added = record<{ id: string; content: string }>(
      client,
      ADDED,
      { r: room },
      'messageAdded',
    );
    await node.events.listening(room, 1);

    const posted = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        post(alice, room, `live ${i}`).then((r) => ok(r).postMessage),
      ),
    );
    // Messages that land by sync count too.
    const synced = randomUUID().replace(/^(.{14})./, '$17');
    const at = new Date();
    node.store.applyRemote([
      {
        id: synced,
        roomId: room,
        senderId: bob.id,
        content: 'from another node',
        contentHash: sha256('from another node'),
        createdAt: at,
        updatedAt: at,
        deletedAt: null,
        hlc: node.clock.now().replace(/:[^:]+:[^:]+$/, ':00000000:peer-node'),
        originNode: 'peer-node',
      },
    ]);
    // A last message after everything else: once it arrives, any duplicate would have too.
    const sentinel = ok(await post(alice, room, 'sentinel')).postMessage;
    const values = await added.received(22);
    added.stop();

    const ids = values.map((v) => v.id);
    expect(ids.at(-1)).toBe(sentinel.id);
    expect(ids).toHaveLength(22);
    expect(new Set(ids)).toEqual(new Set([...posted.map((m) => m.id), synced, sentinel.id]));
    expect(values.find((v) => v.id === posted[3]?.id)).toEqual({
      id: posted[3]?.id,
      content: 'live 3',
      room: { id: room },
      sender: { id: alice.id },
    });
    expect(added.errors).toEqual([]);
  });

  it('delivers edits and deletes on messageChanged only', async () => {
    const client = leftovers.add(gateway.wsClient(node, alice.token), (c) => c.dispose());
    const changed = record<{ id: string; content: string; deletedAt: string | null }>(
      client,
      CHANGED,
      { r: room },
      'messageChanged',
    );
    const added = record<{ id: string }>(client, ADDED, { r: room }, 'messageAdded');
    await node.events.listening(room, 2);

    const message = ok(await post(alice, room, 'will change')).postMessage;
    ok(await edit(alice, message.id, 'changed'));
    ok(await remove(alice, message.id));
    const [editEvent, deleteEvent] = await changed.received(2);
    expect(editEvent).toEqual({ id: message.id, content: 'changed', deletedAt: null });
    expect(deleteEvent).toMatchObject({ id: message.id, content: '' });
    expect(deleteEvent?.deletedAt).not.toBeNull();
    expect((await added.received(1)).map((v) => v.id)).toEqual([message.id]);
    changed.stop();
    added.stop();
  });

  it('refuses non-members and anonymous subscribers with codes', async () => {
    const carolClient = leftovers.add(gateway.wsClient(node, carol.token), (c) => c.dispose());
    const refused = record(carolClient, ADDED, { r: room }, 'messageAdded');
    expect(await refused.ended()).toMatchObject({ extensions: { code: 'FORBIDDEN' } });

    const anonymous = leftovers.add(gateway.wsClient(node), (c) => c.dispose());
    const noToken = record(anonymous, ADDED, { r: room }, 'messageAdded');
    expect(await noToken.ended()).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });

    const malformed = record(carolClient, ADDED, { r: 'not-an-id' }, 'messageAdded');
    expect(await malformed.ended()).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });

    const forged = leftovers.add(rawWsClient(node.url, { gatewayAssertion: 'e30.e30.e30' }), (c) =>
      c.dispose(),
    );
    const badToken = record(forged, ADDED, { r: room }, 'messageAdded');
    expect(await badToken.ended()).toMatchObject({ extensions: { code: 'UNAUTHENTICATED' } });
    expect(node.events.listenerCount(room)).toBe(0);
  });

  it('releases the room listener when the client unsubscribes', async () => {
    const quiet = await createRoom(alice, 'quiet');
    const client = leftovers.add(gateway.wsClient(node, alice.token), (c) => c.dispose());
    const sub = record(client, ADDED, { r: quiet }, 'messageAdded');
    await node.events.listening(quiet, 1);
    sub.stop();
    await new Promise<void>((resolve) => {
      const check = () =>
        node.events.listenerCount(quiet) === 0 ? resolve() : setImmediate(check);
      check();
    });
    expect(node.events.listenerCount(quiet)).toBe(0);
  });
});

describe('restart on the same data dir', () => {
  it('serves the same messages and continues seq where it left off', async () => {
    const message = ok(await post(alice, room, 'before restart')).postMessage;
    const seqBefore = lastSeq(node.db.db);
    const countBefore = countRows(node.db, 'messages');
    await node.close();

    node = await startNode(nodeOptions);
    expect(node.nodeId).toBe(message.originNode.id);
    expect(countRows(node.db, 'messages')).toBe(countBefore);
    expect(ok(await readMessage(alice, message.id)).message).toEqual(message);

    const next = ok(await post(alice, room, 'after restart')).postMessage;
    const row = node.db.sqlite
      .prepare('SELECT seq, hlc FROM change_log WHERE message_id = ?')
      .get(next.id) as { seq: number; hlc: string };
    expect(row.seq).toBe(seqBefore + 1);
    const previous = node.db.sqlite
      .prepare('SELECT hlc FROM change_log WHERE seq = ?')
      .pluck()
      .get(seqBefore) as string;
    expect(row.hlc > previous).toBe(true);
  });

  it('lets writes in flight finish when it stops, and keeps every one it acknowledged', async () => {
    const shutdownRoom = await createRoom(alice, 'shutdown');
    const file = node.db.file;
    // Stop once the first writes have committed: the rest are on their way or in flight.
    const firstCommits = new Promise<void>((resolve) => {
      let seen = 0;
      node.events.onRoom(shutdownRoom, () => {
        if (++seen === 5) resolve();
      });
    });
    // Settled from the start: writes refused while stopping must not surface as unhandled.
    const writes = Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => post(alice, shutdownRoom, `in flight ${i}`)),
    );
    await firstCommits;
    await node.close();
    const settled = await writes;
    const acknowledged = settled.flatMap((s) =>
      s.status === 'fulfilled' && s.value.data?.postMessage ? [s.value.data.postMessage.id] : [],
    );

    // The five that had committed were answered although the node was already stopping.
    expect(acknowledged.length).toBeGreaterThanOrEqual(5);

    node = await startNode(nodeOptions);
    expect(node.db.file).toBe(file);
    const stored = node.db.sqlite
      .prepare('SELECT id FROM messages WHERE room_id = ?')
      .pluck()
      .all(shutdownRoom) as string[];
    expect(stored).toEqual(expect.arrayContaining(acknowledged));
    // Whatever was written has its change-log row: nothing half-done.
    const logged = node.db.sqlite
      .prepare('SELECT message_id FROM change_log WHERE room_id = ?')
      .pluck()
      .all(shutdownRoom) as string[];
    expect(logged.sort()).toEqual(stored.sort());
  });
});
