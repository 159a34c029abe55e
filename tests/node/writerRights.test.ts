// The writer check on its own, on a real SQLite file: central's word comes from a plain function
// given to it (what the node's central client does over HTTP), so the test sees every question,
// and the cache's clock is the test's.
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import type {
  AuthorityAnswer,
  AuthorityQuery,
  MembershipInterval,
} from '../../lib/syncProtocol.ts';
import {
  CentralRefusedError,
  CentralUnavailableError,
} from '../../subgraphs/node/centralClient.ts';
import { openNodeDb, type NodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../../subgraphs/node/messageStore.ts';
import { HeldMemberships } from '../../subgraphs/node/sync/heldMemberships.ts';
import {
  UnjudgedVersionError,
  WRITER_TRUST_MS,
  WriterRights,
  type SendersWord,
  type WrittenVersion,
} from '../../subgraphs/node/sync/writerRights.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ROOM = 'room-1';
const HERE = 'node-here';
const PEER = 'node-peer';
const ID_1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a51';
const ID_2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a52';

let db: NodeDb;
let store: MessageStore;
let questions: AuthorityQuery[];
let rights: WriterRights;

beforeEach(async () => {
  const file = path.join(await leftovers.tempDir('switchboard-writers-'), 'node.sqlite');
  db = leftovers.add(openNodeDb(file), (d) => d.close());
  const clock = new HybridLogicalClock({ nodeId: HERE });
  store = new MessageStore({ db: db.db, clock, events: new MessageEvents(silentLogger) });
  questions = [];
  rights = new WriterRights(db, (query) => {
    questions.push(query);
    return Promise.resolve({
      storageNodes: Object.fromEntries(
        query.roomIds.filter((r) => r !== 'unknown').map((r) => [r, [HERE, PEER]]),
      ),
      senders: query.senders.map((s) => s.userId !== 'mallory'),
    });
  });
});

const NO_WORD: SendersWord = { members: new Map(), storage: new Map() };

function version(fields: Partial<WrittenVersion> = {}): WrittenVersion {
  return {
    id: ID_1,
    roomId: ROOM,
    senderId: 'alice',
    originNode: PEER,
    createdAt: 1000,
    ...fields,
  };
}

describe('WriterRights', () => {
  it('asks central once per batch, only about messages new here, and remembers rooms for the session', async () => {
    const held = store.post({ roomId: ROOM, senderId: 'alice', content: 'held' });
    const heldVersion = version({
      id: held.id,
      originNode: HERE,
      createdAt: held.createdAt.getTime(),
    });
    const first = await rights.learn([
      heldVersion,
      version(),
      version({ id: ID_2, senderId: 'mallory' }),
    ]);
    expect(questions).toEqual([
      {
        roomIds: [ROOM],
        senders: [
          { roomId: ROOM, userId: 'alice', at: 1000 },
          { roomId: ROOM, userId: 'mallory', at: 1000 },
        ],
      },
    ]);
    expect(rights.judge(version(), undefined, first)).toBeUndefined();
    expect(rights.judge(version({ id: ID_2, senderId: 'mallory' }), undefined, first)).toBe(
      `senderId: user mallory was not a member of room ${ROOM} at the message's createdAt (1970-01-01T00:00:01.000Z)`,
    );

    // Only held messages: no question. A new one in a known room: only its sender.
    expect(await rights.learn([heldVersion])).toEqual(NO_WORD);
    await rights.learn([version({ createdAt: 2000 })]);
    expect(questions.slice(1)).toEqual([
      { roomIds: [], senders: [{ roomId: ROOM, userId: 'alice', at: 2000 }] },
    ]);
  });

  it('refuses an origin that does not store the room, and a room central does not know', async () => {
    const word = await rights.learn([
      version({ originNode: 'node-rogue' }),
      version({ id: ID_2, roomId: 'unknown' }),
    ]);
    expect(rights.judge(version({ originNode: 'node-rogue' }), undefined, word)).toBe(
      `originNode: node node-rogue is not a storage node of room ${ROOM}`,
    );
    expect(rights.judge(version({ id: ID_2, roomId: 'unknown' }), undefined, word)).toBe(
      'roomId: central knows no storage node of room unknown',
    );
  });

  it('judges a message held by the row, never asking central, and throws for one it never saw', () => {
    const held = { roomId: ROOM, senderId: 'alice', originNode: PEER, createdAt: 1000 };
    const none = NO_WORD;
    expect(rights.judge(version(), held, none)).toBeUndefined();
    expect(rights.judge(version({ roomId: 'room-2' }), held, none)).toBe(
      `roomId: message ${ID_1} is in room ${ROOM} here; a version may not move it to room-2`,
    );
    expect(rights.judge(version({ createdAt: 5 }), held, none)).toBe(
      `createdAt: message ${ID_1} was created at 1000; a version may not change it to 5`,
    );
    expect(() => rights.judge(version(), undefined, none)).toThrow(UnjudgedVersionError);
    expect(questions).toEqual([]);
  });
});

describe('what central said, kept for the whole node', () => {
  const AS_OF = 10_000_000;
  const MARGIN = 60_000;
  /** The bob below left; his history is closed at the margin after his leave. */
  const BOB_UNTIL = AS_OF - 30_000;
  let now: number;
  let stores: string[];
  let histories: Map<string, MembershipInterval[]>;
  let kept: WriterRights;

  const covers = (intervals: readonly MembershipInterval[], at: number) =>
    intervals.some((i) => i.from <= at && (i.until === null || at <= i.until));

  /** Central's answer with histories, as of AS_OF, from the tables above. */
  function answer(query: AuthorityQuery): AuthorityAnswer {
    const pairs = [...new Set(query.senders.map((s) => `${s.roomId}\n${s.userId}`))];
    return {
      storageNodes: Object.fromEntries(query.roomIds.map((r) => [r, stores])),
      senders: query.senders.map((s) =>
        covers(histories.get(`${s.roomId}\n${s.userId}`) ?? [], s.at),
      ),
      memberships: pairs.map((pair) => {
        const [roomId = '', userId = ''] = pair.split('\n');
        return { roomId, userId, intervals: histories.get(pair) ?? [] };
      }),
      asOf: AS_OF,
      marginMs: MARGIN,
    };
  }

  beforeEach(() => {
    now = 0;
    stores = [HERE, PEER];
    histories = new Map([
      [`${ROOM}\nalice`, [{ from: 0, until: null }]],
      [`${ROOM}\nbob`, [{ from: 0, until: BOB_UNTIL }]],
    ]);
    kept = new WriterRights(
      db,
      (query) => {
        questions.push(query);
        return Promise.resolve(answer(query));
      },
      { clock: () => now },
    );
  });

  const by = (senderId: string, createdAt: number, originNode = PEER) =>
    version({ id: randomUUID(), senderId, createdAt, originNode });

  /** Learns the batch and judges each of its versions as new here. */
  async function judged(batch: WrittenVersion[]): Promise<Array<string | undefined>> {
    const word = await kept.learn(batch);
    return batch.map((v) => kept.judge(v, undefined, word));
  }

  it("judges the same senders' later messages without asking, up to the times central vouched for", async () => {
    expect(await judged([by('alice', AS_OF - 1000), by('bob', AS_OF - 40_000)])).toEqual([
      undefined,
      undefined,
    ]);
    expect(questions).toHaveLength(1);

    // Alice's open membership covers the margin after asOf; bob's closed one is history.
    expect(await judged([by('alice', AS_OF + MARGIN), by('bob', BOB_UNTIL)])).toEqual([
      undefined,
      undefined,
    ]);
    expect(questions).toHaveLength(1);

    // Later than central's word reaches: asked again (only that), and central's answer holds.
    histories.set(`${ROOM}\nalice`, [{ from: 0, until: AS_OF + 10_000 }]);
    const late = by('alice', AS_OF + MARGIN + 1);
    expect(await judged([late, by('bob', BOB_UNTIL - 5)])).toEqual([
      `senderId: user alice was not a member of room ${ROOM} at the message's createdAt (${new Date(late.createdAt).toISOString()})`,
      undefined,
    ]);
    expect(questions.slice(1)).toEqual([
      { roomIds: [], senders: [{ roomId: ROOM, userId: 'alice', at: AS_OF + MARGIN + 1 }] },
    ]);
  });

  it('trusts an open membership and the storage nodes for the trust time only; a closed membership stays', async () => {
    await judged([by('alice', AS_OF), by('bob', AS_OF - 40_000)]);
    now = WRITER_TRUST_MS;
    await judged([by('alice', AS_OF)]);
    expect(questions).toHaveLength(1);

    now = WRITER_TRUST_MS + 1;
    expect(await judged([by('alice', AS_OF), by('bob', AS_OF - 40_000)])).toEqual([
      undefined,
      undefined,
    ]);
    expect(questions.slice(1)).toEqual([
      { roomIds: [ROOM], senders: [{ roomId: ROOM, userId: 'alice', at: AS_OF }] },
    ]);
  });

  it('keeps no refusal: a non-member and an origin outside the storage nodes are asked each batch', async () => {
    const refusal = `senderId: user bob was not a member of room ${ROOM} at the message's createdAt (${new Date(AS_OF).toISOString()})`;
    expect(await judged([by('bob', AS_OF)])).toEqual([refusal]);
    expect(await judged([by('bob', AS_OF)])).toEqual([refusal]);
    expect(questions.map((q) => q.senders)).toEqual([
      [{ roomId: ROOM, userId: 'bob', at: AS_OF }],
      [{ roomId: ROOM, userId: 'bob', at: AS_OF }],
    ]);

    // A node that came to store the room after central was asked is asked about, not refused.
    expect(await judged([by('alice', AS_OF, 'node-new')])).toEqual([
      `originNode: node node-new is not a storage node of room ${ROOM}`,
    ]);
    stores = [HERE, PEER, 'node-new'];
    expect(await judged([by('alice', AS_OF, 'node-new')])).toEqual([undefined]);
    expect(questions.slice(2).map((q) => q.roomIds)).toEqual([[ROOM], [ROOM]]);
  });
});

describe('while central does not answer: the memberships held of the node rooms', () => {
  const MARGIN = 60_000;
  const AS_OF = 1_000_000;
  const STALE = 300_000;
  let down: boolean;
  let held: HeldMemberships;
  let judge: WriterRights;

  beforeEach(async () => {
    down = false;
    held = new HeldMemberships({
      log: silentLogger,
      staleMs: STALE,
      lookup: (query) => {
        if (down) return Promise.reject(new CentralUnavailableError('central is down'));
        expect(query.roomMembers).toBe(true);
        return Promise.resolve({
          storageNodes: { [ROOM]: [HERE, PEER] },
          senders: [],
          roomMemberships: [
            { roomId: ROOM, userId: 'alice', intervals: [{ from: 0, until: null }] },
            // Removed before the refresh: the interval is closed at 500_000 (margin applied).
            { roomId: ROOM, userId: 'bob', intervals: [{ from: 0, until: 500_000 }] },
          ],
          asOf: AS_OF,
          marginMs: MARGIN,
        });
      },
    });
    held.hold([ROOM]);
    await held.refresh();
    leftovers.add(held, (h) => h.close());
    judge = new WriterRights(
      db,
      () => Promise.reject(new CentralUnavailableError('central is down')),
      { held },
    );
    down = true;
  });

  it("applies a member's new message by what is held, up to the stale allowance past central's asOf", async () => {
    const at = AS_OF + MARGIN + STALE;
    const word = await judge.learn([version({ senderId: 'alice', createdAt: at })]);
    expect(judge.judge(version({ senderId: 'alice', createdAt: at }), undefined, word)).toBe(
      undefined,
    );
    expect(held.certainUntil).toBe(AS_OF + MARGIN);
  });

  it('lets a version nothing held settles wait for central: a removed member later, a stranger, an unknown origin, past the allowance', async () => {
    const waits = [
      version({ senderId: 'bob', createdAt: 600_000 }),
      version({ senderId: 'mallory', createdAt: AS_OF }),
      version({ senderId: 'alice', originNode: 'node-elsewhere', createdAt: AS_OF }),
      version({ senderId: 'alice', createdAt: AS_OF + MARGIN + STALE + 1 }),
    ];
    for (const v of waits) {
      await expect(judge.learn([v])).rejects.toBeInstanceOf(CentralUnavailableError);
      // Together with a version that is settled, the whole batch waits: nothing applies half.
      await expect(
        judge.learn([version({ id: ID_2, senderId: 'alice', createdAt: AS_OF }), v]),
      ).rejects.toBeInstanceOf(CentralUnavailableError);
    }
    // bob's earlier message, in his closed interval, is settled.
    const word = await judge.learn([version({ senderId: 'bob', createdAt: 400_000 })]);
    expect(judge.judge(version({ senderId: 'bob', createdAt: 400_000 }), undefined, word)).toBe(
      undefined,
    );
  });

  it('holds nothing of a room once central tells of a membership change there, until fetched again', async () => {
    held.forgetRoom(ROOM);
    // Central down: alice's version, settled by the held word a moment ago, now waits.
    await expect(
      judge.learn([version({ senderId: 'alice', createdAt: AS_OF })]),
    ).rejects.toBeInstanceOf(CentralUnavailableError);
    down = false;
    // The refresh the notice began (while central was down) may still be on its way: wait for one
    // that central answered.
    void held.refresh();
    await vi.waitFor(() => expect(held.storage(ROOM)).toBeDefined(), { timeout: 30_000 });
    down = true;
    const word = await judge.learn([version({ senderId: 'alice', createdAt: AS_OF })]);
    expect(judge.judge(version({ senderId: 'alice', createdAt: AS_OF }), undefined, word)).toBe(
      undefined,
    );
  });

  it('does not keep a fetch central answered from before a membership change it told of since', async () => {
    down = false;
    let answer = () => {};
    const slow = new HeldMemberships({
      log: silentLogger,
      staleMs: STALE,
      lookup: () =>
        new Promise((resolve) => {
          answer = () =>
            resolve({
              storageNodes: { [ROOM]: [HERE, PEER] },
              senders: [],
              roomMemberships: [
                { roomId: ROOM, userId: 'alice', intervals: [{ from: 0, until: null }] },
              ],
              asOf: AS_OF,
              marginMs: MARGIN,
            });
        }),
    });
    leftovers.add(slow, (h) => h.close());
    slow.hold([ROOM]);
    const first = slow.refresh();
    // The removal notice arrives while central's (older) answer is on its way.
    slow.forgetRoom(ROOM);
    answer();
    await first;
    expect(slow.fresh(ROOM, Number.POSITIVE_INFINITY)).toBeUndefined();
  });

  it('a refusal by central is not overridden by what is held', async () => {
    const refusing = new WriterRights(
      db,
      () => Promise.reject(new CentralRefusedError('central refused the question', 400)),
      { held },
    );
    await expect(
      // Past what the fresh word covers (asOf + margin): central is asked, and refuses.
      refusing.learn([version({ senderId: 'alice', createdAt: AS_OF + MARGIN + 1 })]),
    ).rejects.toBeInstanceOf(CentralRefusedError);
  });
});

describe('the memberships held of the node rooms, while fresh', () => {
  it('spare central the question for a member and a held origin within the trust time, and only then', async () => {
    let clock = 0;
    const asked: AuthorityQuery[] = [];
    const answer = (query: AuthorityQuery): AuthorityAnswer => ({
      storageNodes: { [ROOM]: [HERE, PEER] },
      senders: query.senders.map(() => true),
      roomMemberships: [{ roomId: ROOM, userId: 'alice', intervals: [{ from: 0, until: null }] }],
      asOf: 1_000_000,
      marginMs: 60_000,
    });
    const held = new HeldMemberships({
      log: silentLogger,
      clock: () => clock,
      lookup: (query) => Promise.resolve(answer(query)),
    });
    leftovers.add(held, (h) => h.close());
    held.hold([ROOM]);
    await held.refresh();
    const judge = new WriterRights(
      db,
      (query) => {
        asked.push(query);
        return Promise.resolve(answer(query));
      },
      { held, clock: () => clock },
    );
    const word = await judge.learn([version({ createdAt: 1_050_000 })]);
    expect(asked).toEqual([]);
    expect(judge.judge(version({ createdAt: 1_050_000 }), undefined, word)).toBe(undefined);
    // Past asOf + margin, a stranger, an origin not held: central is asked, as without them.
    await judge.learn([version({ id: ID_2, createdAt: 1_060_001 })]);
    await judge.learn([version({ id: ID_2, senderId: 'mallory', createdAt: 1_000 })]);
    await judge.learn([version({ id: ID_2, originNode: 'node-elsewhere', createdAt: 1_000 })]);
    expect(asked).toHaveLength(3);
    // Trust runs out: central is asked again.
    clock = WRITER_TRUST_MS + 1;
    await judge.learn([version({ id: ID_2, createdAt: 1_000 })]);
    expect(asked).toHaveLength(4);
  });
});

describe("the memberships held of the node rooms, refreshed with central's tag", () => {
  const MARGIN = 60_000;
  const full = (asOf: number, tag?: string): AuthorityAnswer => ({
    storageNodes: { [ROOM]: [HERE, PEER] },
    senders: [],
    roomMemberships: [{ roomId: ROOM, userId: 'alice', intervals: [{ from: 0, until: null }] }],
    asOf,
    marginMs: MARGIN,
    ...(tag === undefined ? {} : { roomMembersTag: tag }),
  });
  const unchanged = (asOf: number, tag: string): AuthorityAnswer => ({
    storageNodes: {},
    senders: [],
    roomMembershipsUnchanged: true,
    roomMembersTag: tag,
    asOf,
    marginMs: MARGIN,
  });
  /** A tagging central: the full answer without the tag, "unchanged" with it. */
  const tagging = (asked: AuthorityQuery[]) => (query: AuthorityQuery) => {
    asked.push(query);
    return Promise.resolve(
      query.roomMembersTag === 'tag-1' ? unchanged(1_010_000, 'tag-1') : full(1_000_000, 'tag-1'),
    );
  };
  /** Held, then refreshed at least once more (hold's own fetch, then the one asked for). */
  const holdAndRefresh = async (held: HeldMemberships) => {
    held.hold([ROOM]);
    await held.refresh();
    await held.refresh();
  };

  it('sends back the tag of its last full answer and keeps what it holds, now as of the new asOf', async () => {
    const asked: AuthorityQuery[] = [];
    const held = new HeldMemberships({ log: silentLogger, lookup: tagging(asked) });
    leftovers.add(held, (h) => h.close());
    await holdAndRefresh(held);
    expect(asked.slice(0, 2).map((q) => q.roomMembersTag)).toEqual([undefined, 'tag-1']);
    expect(held.certainUntil).toBe(1_010_000 + MARGIN);
    expect(held.storage(ROOM)).toEqual(new Set([HERE, PEER]));
    expect(held.member(ROOM, 'alice', 1_010_000 + MARGIN, 0)).toBe(true);
  });

  it('sends no tag for a room it forgot: it is fetched in full again', async () => {
    const asked: AuthorityQuery[] = [];
    const held = new HeldMemberships({ log: silentLogger, lookup: tagging(asked) });
    leftovers.add(held, (h) => h.close());
    await holdAndRefresh(held);
    const before = asked.length;
    // A removal notice: whatever central would say of the tag, the room is read anew.
    held.forgetRoom(ROOM);
    expect(held.storage(ROOM)).toBeUndefined();
    await vi.waitFor(() => expect(held.storage(ROOM)).toBeDefined(), { timeout: 30_000 });
    expect(asked.slice(before).some((q) => q.roomMembersTag === undefined)).toBe(true);
  });

  it('takes no "unchanged" it did not ask for', async () => {
    const held = new HeldMemberships({
      log: silentLogger,
      lookup: () => Promise.resolve(unchanged(1_010_000, 'tag-1')),
    });
    leftovers.add(held, (h) => h.close());
    await holdAndRefresh(held);
    expect(held.storage(ROOM)).toBeUndefined();
    expect(held.certainUntil).toBeNaN();
  });

  it('facing a central that does not tag, asks for the full answer every time', async () => {
    const asked: AuthorityQuery[] = [];
    const held = new HeldMemberships({
      log: silentLogger,
      lookup: (query) => {
        asked.push(query);
        return Promise.resolve(full(1_000_000));
      },
    });
    leftovers.add(held, (h) => h.close());
    await holdAndRefresh(held);
    expect(asked.length).toBeGreaterThanOrEqual(2);
    expect(asked.every((q) => q.roomMembersTag === undefined)).toBe(true);
    expect(held.certainUntil).toBe(1_000_000 + MARGIN);
  });
});
