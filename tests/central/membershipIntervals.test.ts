// The membership histories central hands the nodes (issue 15): a node judges a sender's later
// messages by them without asking, so they must say exactly what central's own check says, at
// every boundary (timestamps in microseconds, message times in milliseconds, the margin, the
// time before the history began). Real central on PGlite and PostgreSQL.
import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_AUTHORITY_PATH, type MembershipInterval } from '../../lib/syncProtocol.ts';
import { settings } from '../../subgraphs/central/db/schema.ts';
import {
  MEMBERSHIP_CLOCK_MARGIN_MS,
  membershipHistories,
  wereMembers,
} from '../../subgraphs/central/membership.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { postAsNode } from '../sync/nodeSide.ts';

const covers = (intervals: readonly MembershipInterval[], at: number) =>
  intervals.some((i) => i.from <= at && (i.until === null || at <= i.until));

/** Epoch ms of a timestamp literal with microseconds. */
const ms = (literal: string) => Date.parse(`${literal.slice(0, 23).replace(' ', 'T')}Z`);

describe.each(['PGlite', 'PostgreSQL'] as const)('membership histories, on %s', (backend) => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let t: TestCentral;
  let apiKey: string;
  let room: string;
  let alice: string;
  let bob: string;

  beforeAll(async () => {
    t = await startTestCentral(leftovers, {
      heartbeatIntervalMs: 600_000,
      pglite: backend === 'PGlite',
    });
    const node = await t.registerNode('node-a');
    apiKey = node.apiKey;
    const owner = await t.createUser('alice');
    alice = owner.id;
    bob = (await t.createUser('bob')).id;
    room = ok(
      await gql<{ createRoom: { id: string } }>(
        t.url,
        'mutation($h: ID) { createRoom(name: "r", homeNodeId: $h) { id } }',
        { h: node.id },
        { token: owner.token },
      ),
    ).createRoom.id;
  });

  it("covers exactly the times central's own check counts as a member's", async () => {
    const db = t.central.db.db;
    // Bob was a member twice, and is one again; times fall between milliseconds on purpose.
    const rows: Array<[string, string | null]> = [
      ['2026-01-01 10:00:00.123456', '2026-01-01 11:00:00.987654'],
      ['2026-01-01 11:01:30.000500', '2026-01-01 12:00:00.000000'],
      ['2026-01-02 08:00:00.999999', null],
    ];
    for (const [joined, left] of rows) {
      await db.execute(sql`insert into room_membership_history (room_id, user_id, joined_at, left_at)
        values (${room}, ${bob}, ${joined + '+00'}::timestamptz, ${left === null ? null : left + '+00'}::timestamptz)`);
    }
    const since = ms('2026-01-01 09:00:00.000') + 0.5;
    await db
      .update(settings)
      .set({ value: since })
      .where(eq(settings.key, 'membership_history_since'));

    const { histories, asOf } = await membershipHistories(db, [
      { roomId: room, userId: bob },
      { roomId: room, userId: 'ghost' },
    ]);
    expect(asOf).toBeLessThanOrEqual(Date.now());
    const margin = MEMBERSHIP_CLOCK_MARGIN_MS;
    expect(histories).toEqual([
      {
        roomId: room,
        userId: bob,
        intervals: [
          { from: 0, until: Math.ceil(since) - 1 },
          {
            from: ms('2026-01-01 10:00:00.124') - margin,
            until: ms('2026-01-01 11:00:00.987') + margin,
          },
          {
            from: ms('2026-01-01 11:01:30.001') - margin,
            until: ms('2026-01-01 12:00:00.000') + margin,
          },
          { from: ms('2026-01-02 08:00:01.000') - margin, until: null },
        ],
      },
      // Not a user: not even the time before the history began is a member's.
      { roomId: room, userId: 'ghost', intervals: [] },
    ]);

    const edges = histories[0]!.intervals.flatMap((i) => [i.from, i.until ?? i.from + 1e9]);
    const times = [...new Set(edges.flatMap((edge) => [-2, -1, 0, 1, 2].map((d) => edge + d)))]
      .filter((at) => at >= 0)
      .sort((x, y) => x - y);
    const checks = times.flatMap((at) => [
      { roomId: room, userId: bob, at },
      { roomId: room, userId: 'ghost', at },
    ]);
    const central = await wereMembers(db, checks);
    const local = checks.map((c) =>
      covers(c.userId === bob ? histories[0]!.intervals : histories[1]!.intervals, c.at),
    );
    expect(local).toEqual(central);
    // The grid crosses every boundary both ways.
    expect(new Set(central)).toEqual(new Set([true, false]));
  });

  it('answers histories only when asked for them, and refuses a malformed ask', async () => {
    const ask = (body: unknown) => postAsNode(t.url, apiKey, SYNC_AUTHORITY_PATH, body);
    const senders = [
      { roomId: room, userId: alice, at: Date.now() },
      { roomId: room, userId: alice, at: Date.now() + 1 },
      { roomId: room, userId: bob, at: 1 },
    ];
    const plain = await ask({ roomIds: [room], senders });
    expect(plain.status).toBe(200);
    expect(Object.keys(plain.body as object).sort()).toEqual(['senders', 'storageNodes']);

    const before = Date.now();
    const full = await ask({ roomIds: [room], senders, intervals: true });
    expect(full.status).toBe(200);
    const { histories } = await membershipHistories(t.central.db.db, [
      { roomId: room, userId: alice },
      { roomId: room, userId: bob },
    ]);
    expect(full.body).toEqual({
      storageNodes: plain.body.storageNodes,
      senders: plain.body.senders,
      memberships: histories,
      asOf: expect.any(Number),
      marginMs: MEMBERSHIP_CLOCK_MARGIN_MS,
    });
    // A history is complete up to asOf: a few seconds before the answer, never after it.
    expect(full.body.asOf).toBeLessThanOrEqual(Date.now());
    expect(full.body.asOf).toBeGreaterThan(before - 60_000);

    const refused = await ask({ roomIds: [], senders, intervals: 'yes' });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(refused.body.errors[0].message).toBe(
      'invalid authority query: intervals must be a boolean when given',
    );
  });

  it("answers the whole room's histories with roomMembers: everyone with a membership row, no one else", async () => {
    const ask = (body: unknown) => postAsNode(t.url, apiKey, SYNC_AUTHORITY_PATH, body);
    const answer = await ask({ roomIds: [room, 'no-such-room'], senders: [], roomMembers: true });
    expect(answer.status).toBe(200);
    const { histories } = await membershipHistories(t.central.db.db, [
      { roomId: room, userId: alice },
      { roomId: room, userId: bob },
    ]);
    const byUser = (list: Array<{ userId: string }>) =>
      [...list].sort((x, y) => (x.userId < y.userId ? -1 : 1));
    expect(byUser(answer.body.roomMemberships as Array<{ userId: string }>)).toEqual(
      byUser(histories),
    );
    expect(answer.body).toMatchObject({
      senders: [],
      asOf: expect.any(Number),
      marginMs: MEMBERSHIP_CLOCK_MARGIN_MS,
    });
    expect(answer.body.memberships).toBeUndefined();

    const refused = await ask({ roomIds: [room], senders: [], roomMembers: 1 });
    expect(refused.status).toBe(400);
    expect(refused.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(refused.body.errors[0].message).toBe(
      'invalid authority query: roomMembers must be a boolean when given',
    );
  });
});
