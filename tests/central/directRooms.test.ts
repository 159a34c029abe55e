// Direct conversations at central, on both backends: one PRIVATE room per unordered pair of users,
// however many calls race for it (on PostgreSQL they run on separate pooled connections).
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { roomMembers, roomMembershipHistory, rooms } from '../../subgraphs/central/db/schema.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { openJobStream } from '../sync/nodeSide.ts';

const backends: Array<[string, (leftovers: Leftovers) => Promise<string | undefined>]> = [
  ['PGlite', () => Promise.resolve(undefined)],
  [
    'PostgreSQL',
    async (leftovers) =>
      sharedCentralDatabase(
        leftovers.add(await startPostgres(), (c) => c.stop()),
        'direct_rooms',
      ),
  ],
];

const OPEN =
  'mutation($u: ID!) { openDirectRoom(userId: $u) { id name visibility members { id } } }';
interface Opened {
  openDirectRoom: { id: string; name: string; visibility: string; members: Array<{ id: string }> };
}

describe.each(backends)('direct conversations on %s', (_name, setup) => {
  const leftovers = new Leftovers();
  let t: TestCentral;
  let alice: { id: string; token: string };
  let bob: { id: string; token: string };
  let carol: { id: string; token: string };
  afterAll(() => leftovers.dispose());
  beforeAll(async () => {
    const databaseUrl = await setup(leftovers);
    // A heartbeat interval far beyond the file's run: the one heartbeat below keeps the node
    // ONLINE throughout (with the default, 4.5 s of a loaded machine made it OFFLINE again, and
    // every later openDirectRoom failed for want of an ONLINE node to home the room on).
    t = await startTestCentral(leftovers, {
      heartbeatIntervalMs: 600_000,
      ...(databaseUrl === undefined ? { pglite: true } : { databaseUrl }),
    });
    // A direct room is homed on an ONLINE node: one heartbeat makes this one ONLINE.
    const node = await t.registerNode('home-a');
    const beat = await fetch(`${t.url}/internal/heartbeat`, {
      method: 'POST',
      headers: { 'x-node-api-key': node.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ url: 'http://127.0.0.1:1' }),
    });
    expect(beat.status).toBe(200);
    // The node acknowledges central's notices as a real one does: a member leaving a room waits
    // for the room's ONLINE nodes to confirm, and a silent one would hold each leave for central's
    // whole deadline (5 s).
    await openJobStream(leftovers, t.url, node.apiKey, { ackNotices: true });
    [alice, bob, carol] = await Promise.all([
      t.createUser('alice'),
      t.createUser('bob'),
      t.createUser('carol'),
    ]);
  }, 60_000);

  const db = () => t.central.db.db;
  const roomCount = async () => (await db().select({ id: rooms.id }).from(rooms)).length;

  it('gives every concurrent call of either user the same PRIVATE room, with both as members once', async () => {
    const calls = Array.from({ length: 8 }, (_, i) =>
      gql<Opened>(
        t.url,
        OPEN,
        { u: i % 2 === 0 ? bob.id : alice.id },
        {
          token: i % 2 === 0 ? alice.token : bob.token,
        },
      ),
    );
    const opened = (await Promise.all(calls)).map((r) => ok(r).openDirectRoom);
    const ids = new Set(opened.map((r) => r.id));
    expect(ids.size).toBe(1);
    const [id] = [...ids] as [string];
    expect(opened[0]).toMatchObject({ name: 'alice & bob', visibility: 'PRIVATE' });
    const members = await db().select().from(roomMembers).where(eq(roomMembers.roomId, id));
    expect(members.map((m) => m.userId).sort()).toEqual([alice.id, bob.id].sort());
    const history = await db()
      .select()
      .from(roomMembershipHistory)
      .where(eq(roomMembershipHistory.roomId, id));
    expect(history.map((h) => h.userId).sort()).toEqual([alice.id, bob.id].sort());
    const direct = await db().select().from(rooms).where(eq(rooms.id, id));
    expect(direct).toHaveLength(1);

    // Later calls find it, and carol sees nothing of it.
    expect(
      ok(await gql<Opened>(t.url, OPEN, { u: alice.id }, { token: bob.token })).openDirectRoom.id,
    ).toBe(id);
    const seen = ok(
      await gql<{ room: unknown; rooms: Array<{ id: string }> }>(
        t.url,
        'query($r: ID!) { room(id: $r) { id } rooms { id } }',
        { r: id },
        { token: carol.token },
      ),
    );
    expect(seen.room).toBeNull();
    expect(seen.rooms.map((r) => r.id)).not.toContain(id);
  });

  it('refuses yourself, unknown and malformed users, and changes nothing', async () => {
    const before = await roomCount();
    const cases: Array<[string, string]> = [
      [alice.id, 'BAD_USER_INPUT'],
      ['01900000-0000-7000-8000-000000000000', 'NOT_FOUND'],
      ['not-an-id', 'BAD_USER_INPUT'],
    ];
    for (const [userId, code] of cases) {
      const response = await gql(t.url, OPEN, { u: userId }, { token: alice.token });
      expect(codes(response), userId).toEqual([code]);
    }
    expect(codes(await gql(t.url, OPEN, { u: bob.id }))).toEqual(['UNAUTHENTICATED']);
    expect(await roomCount()).toBe(before);
  });

  it('stays between its two users: no invitations, nobody removes the other; leaving and reopening brings the caller back', async () => {
    const id = ok(await gql<Opened>(t.url, OPEN, { u: carol.id }, { token: alice.token }))
      .openDirectRoom.id;
    const invite = await gql(
      t.url,
      'mutation($r: ID!, $u: ID!) { inviteToRoom(roomId: $r, userId: $u) { id } }',
      { r: id, u: bob.id },
      { token: alice.token },
    );
    expect(codes(invite)).toEqual(['FORBIDDEN']);
    const remove = await gql(
      t.url,
      'mutation($r: ID!, $u: ID!) { removeFromRoom(roomId: $r, userId: $u) { id } }',
      { r: id, u: carol.id },
      { token: alice.token },
    );
    expect(codes(remove)).toEqual(['FORBIDDEN']);

    ok(
      await gql(
        t.url,
        'mutation($r: ID!) { leaveRoom(roomId: $r) { id } }',
        { r: id },
        {
          token: carol.token,
        },
      ),
    );
    // Carol left: the room is invisible to her, and reopening it makes her a member again.
    const gone = await gql<{ room: unknown }>(
      t.url,
      'query($r: ID!) { room(id: $r) { id } }',
      { r: id },
      {
        token: carol.token,
      },
    );
    expect(ok(gone).room).toBeNull();
    const back = ok(await gql<Opened>(t.url, OPEN, { u: alice.id }, { token: carol.token }));
    expect(back.openDirectRoom.id).toBe(id);
    expect(back.openDirectRoom.members.map((m) => m.id).sort()).toEqual(
      [alice.id, carol.id].sort(),
    );
  });
});
