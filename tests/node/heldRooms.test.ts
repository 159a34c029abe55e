// The rooms a node takes writes for (heldRooms.ts), on a real SQLite file: a write for a room the
// node left is refused inside its transaction even when it passed its checks before; an answer
// asked of central before a newer push is not applied; the set survives a restart; and a member's
// removal notice drops the cached "member" answer, also one in flight.
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { openNodeDb } from '../../subgraphs/node/db/open.ts';
import { GroupCommit } from '../../subgraphs/node/groupCommit.ts';
import { HeldRooms } from '../../subgraphs/node/heldRooms.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MembershipCache } from '../../subgraphs/node/membership.ts';
import type { MembershipResponse } from '../../subgraphs/node/centralClient.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../../subgraphs/node/messageStore.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { countRows } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const OTHER = '0199a6f0-0000-7000-8000-000000000002';
const ALICE = '0199a6f0-0000-7000-8000-0000000000a1';
const NODE = '0199a6f0-0000-7000-8000-00000000000a';

function deferred<T>() {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function dbFile(): Promise<string> {
  return path.join(await leftovers.tempDir('switchboard-held-'), 'node.sqlite');
}

describe('held rooms', () => {
  it('refuses at commit a write that passed its checks before the node left the room', async () => {
    const db = leftovers.add(openNodeDb(await dbFile()), (d) => d.close());
    const held = new HeldRooms({ db: db.db, fetch: () => Promise.resolve([]), log: silentLogger });
    held.apply([ROOM]);
    const store = new MessageStore({
      db: db.db,
      clock: new HybridLogicalClock({ nodeId: NODE }),
      events: new MessageEvents(silentLogger),
      acceptsWritesFor: (roomId) => held.accepts(roomId),
    });
    const writes = new GroupCommit({ store, windowMs: 1000 });
    await held.require(ROOM);
    const kept = writes.post({ roomId: ROOM, senderId: ALICE, content: 'before' });
    writes.flush();
    const first = await kept;
    await held.require(ROOM);
    const late = writes.post({ roomId: ROOM, senderId: ALICE, content: 'after' });
    const edit = writes.edit(first.id, 'edited late');
    // The fence arrives while both wait for their group's commit.
    held.apply([]);
    writes.flush();
    await expect(late).rejects.toSatisfy((e) => codeOf(e) === 'ROOM_MOVED');
    await expect(edit).rejects.toSatisfy((e) => codeOf(e) === 'ROOM_MOVED');
    expect(countRows(db, 'messages')).toBe(1);
    expect(countRows(db, 'change_log')).toBe(1);
    await expect(held.require(ROOM)).rejects.toSatisfy((e) => codeOf(e) === 'ROOM_MOVED');
  });

  it("applies central's answer only when no newer push came meanwhile, and keeps the set across a restart", async () => {
    const file = await dbFile();
    const db = openNodeDb(file);
    const answer = deferred<readonly string[]>();
    let asked = 0;
    const held = new HeldRooms({
      db: db.db,
      fetch: () => {
        asked += 1;
        return answer.promise;
      },
      log: silentLogger,
    });
    expect(held.accepts(ROOM)).toBe(false);
    // A write for a room unknown here asks central; the fence (a push without it) overtakes the
    // answer, which central read before the room was left.
    const waiting = held.require(ROOM);
    held.apply([OTHER]);
    answer.resolve([ROOM, OTHER]);
    await expect(waiting).rejects.toSatisfy((e) => codeOf(e) === 'ROOM_MOVED');
    expect(held.accepts(ROOM)).toBe(false);
    expect(asked).toBe(1);
    db.close();

    const reopened = leftovers.add(openNodeDb(file), (d) => d.close());
    const again = new HeldRooms({
      db: reopened.db,
      fetch: () => Promise.reject(new Error('central is down')),
      log: silentLogger,
    });
    expect(again.accepts(OTHER)).toBe(true);
    await again.require(OTHER);
    await expect(again.require(ROOM)).rejects.toSatisfy((e) => codeOf(e) === 'ROOM_MOVED');
  });

  it('takes a room placed here a moment ago (asked of central) without waiting for the push', async () => {
    const db = leftovers.add(openNodeDb(await dbFile()), (d) => d.close());
    const held = new HeldRooms({
      db: db.db,
      fetch: () => Promise.resolve([ROOM]),
      log: silentLogger,
    });
    held.apply([]);
    await held.require(ROOM);
    expect(held.accepts(ROOM)).toBe(true);
  });
});

describe('membership removal notices', () => {
  const member: MembershipResponse = { roomExists: true, member: true, private: false };
  const gone: MembershipResponse = { roomExists: true, member: false, private: false };

  it('drops the cached answer, and does not keep one asked before the removal', async () => {
    let answer: MembershipResponse = member;
    let inFlight: ReturnType<typeof deferred<MembershipResponse>> | undefined;
    const cache = new MembershipCache({
      client: {
        membership: () => (inFlight ? inFlight.promise : Promise.resolve(answer)),
      },
      ttlMs: 60_000,
    });
    expect((await cache.check(ROOM, ALICE)).member).toBe(true);
    answer = gone;
    expect((await cache.check(ROOM, ALICE)).member).toBe(true); // cached
    cache.forget(ROOM, ALICE);
    expect((await cache.check(ROOM, ALICE)).member).toBe(false);

    // An answer central read before a removal, arriving after its notice, is not kept.
    answer = member;
    inFlight = deferred<MembershipResponse>();
    const asked = cache.check(ROOM, ALICE);
    cache.forget(ROOM, ALICE);
    inFlight.resolve(member);
    expect((await asked).member).toBe(true);
    inFlight = undefined;
    answer = gone;
    expect((await cache.check(ROOM, ALICE)).member).toBe(false);
  });
});
