// The store on a real SQLite file: atomicity of message + change-log writes, the log's order,
// idempotent apply of remote versions, and paging.
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { greatestHlc, lastSeq, readChanges } from '../../subgraphs/node/changeLog.ts';
import { openNodeDb, type NodeDb } from '../../subgraphs/node/db/open.ts';
import { encodeHlc, HlcDriftError, HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents, type MessageEvent } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore, sha256Hex, type RemoteVersion } from '../../subgraphs/node/messageStore.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { countRows, failInsertsInto } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const ALICE = '0199a6f0-0000-7000-8000-0000000000a1';
const NODE = '0199a6f0-0000-7000-8000-00000000000a';
const PEER = '0199a6f0-0000-7000-8000-00000000000b';

interface Fixture {
  readonly db: NodeDb;
  readonly store: MessageStore;
  readonly published: MessageEvent[];
  /** The wall clock the store and its HLC read; tests move it by hand. */
  readonly wall: { now: number };
}

async function openStore(file?: string, wallStart = Date.now()): Promise<Fixture> {
  const dbFile = file ?? path.join(await leftovers.tempDir('switchboard-store-'), 'node.sqlite');
  const db = leftovers.add(openNodeDb(dbFile), (d) => d.close());
  const wall = { now: wallStart };
  const now = () => wall.now;
  const resume = greatestHlc(db.db);
  const clock = new HybridLogicalClock({
    nodeId: NODE,
    now,
    ...(resume === undefined ? {} : { resumeFrom: resume }),
  });
  const events = new MessageEvents(silentLogger);
  const published: MessageEvent[] = [];
  events.onAny((event) => published.push(event));
  return { db, wall, published, store: new MessageStore({ db: db.db, clock, events, now }) };
}

function remoteVersion(
  overrides: Partial<RemoteVersion> & { id: string; hlc: string },
): RemoteVersion {
  const content = overrides.content ?? 'from a peer';
  const at = new Date(Date.now() - 1000);
  return {
    roomId: ROOM,
    senderId: ALICE,
    content,
    contentHash: sha256Hex(content),
    createdAt: at,
    updatedAt: at,
    deletedAt: null,
    originNode: PEER,
    ...overrides,
  };
}

describe('writes and their change-log rows', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await openStore();
  });

  it('writes one change-log row per create, edit and delete, with the version it made', () => {
    const posted = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'hello' });
    const edited = f.store.edit(posted.id, 'hello, world');
    const deleted = f.store.delete(posted.id);
    expect(f.store.delete(posted.id)).toEqual(deleted); // deleting a tombstone writes nothing

    expect(posted).toMatchObject({
      roomId: ROOM,
      senderId: ALICE,
      originNode: NODE,
      syncStatus: 'PENDING',
    });
    expect(posted.contentHash).toBe(sha256Hex('hello'));
    expect(deleted).toMatchObject({ content: '', contentHash: sha256Hex('') });
    expect(deleted.deletedAt).toBeInstanceOf(Date);

    const log = readChanges(f.db.db, 0, 100);
    expect(
      log.map((c) => [c.seq, c.op, c.hlc, c.contentHash, c.messageId, c.roomId, c.originNode]),
    ).toEqual([
      [1, 'create', posted.hlc, sha256Hex('hello'), posted.id, ROOM, NODE],
      [2, 'update', edited.hlc, sha256Hex('hello, world'), posted.id, ROOM, NODE],
      [3, 'delete', deleted.hlc, sha256Hex(''), posted.id, ROOM, NODE],
    ]);
    expect(posted.hlc < edited.hlc && edited.hlc < deleted.hlc).toBe(true);
    expect(f.published.map((e) => [e.kind, e.source, e.message.hlc])).toEqual([
      ['added', 'local', posted.hlc],
      ['changed', 'local', edited.hlc],
      ['changed', 'local', deleted.hlc],
    ]);
  });

  it('refuses content with a lone surrogate at post and edit, writing nothing', () => {
    const posted = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'fine' });
    const rows = countRows(f.db, 'change_log');
    const refusal = {
      extensions: { code: 'BAD_USER_INPUT' },
      message: 'content is not valid Unicode: lone UTF-16 surrogate \\ud800 at character 1',
    };
    expect(() => f.store.post({ roomId: ROOM, senderId: ALICE, content: '\ud800' })).toThrow(
      expect.objectContaining(refusal),
    );
    expect(() => f.store.edit(posted.id, '\ud800')).toThrow(expect.objectContaining(refusal));
    expect(f.store.get(posted.id)?.content).toBe('fine');
    expect(countRows(f.db, 'change_log')).toBe(rows);
  });

  it('refuses to edit a tombstone', () => {
    const posted = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'hello' });
    f.store.delete(posted.id);
    expect(() => f.store.edit(posted.id, 'back from the dead')).toThrow(
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'CONFLICT' }) }),
    );
    expect(countRows(f.db, 'change_log')).toBe(2);
  });

  it('leaves neither the message nor its change-log row when the write fails halfway', () => {
    const kept = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'before the fault' });
    f.published.length = 0;
    // The message row is written first; the change-log insert then fails inside the transaction.
    const restore = failInsertsInto(f.db.sqlite, 'change_log');
    expect(() => f.store.post({ roomId: ROOM, senderId: ALICE, content: 'lost' })).toThrow(
      /forced failure/,
    );
    expect(() => f.store.edit(kept.id, 'lost edit')).toThrow(/forced failure/);
    expect(() => f.store.delete(kept.id)).toThrow(/forced failure/);
    restore();

    expect(countRows(f.db, 'messages')).toBe(1);
    expect(countRows(f.db, 'change_log')).toBe(1);
    expect(f.store.get(kept.id)).toEqual(kept);
    expect(f.published).toEqual([]);
    // The failed attempts did not burn sequence numbers either.
    f.store.post({ roomId: ROOM, senderId: ALICE, content: 'after the fault' });
    expect(readChanges(f.db.db, 0, 10).map((c) => c.seq)).toEqual([1, 2]);
  });
});

describe('applyRemote', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await openStore();
  });

  const id = '0199a6f0-1111-7000-8000-000000000001';
  const hlcAt = (offsetMs: number, node = PEER) =>
    encodeHlc({ physical: Date.now() + offsetMs, logical: 0, node });

  it('adds a new message once; replays and older versions change nothing', () => {
    const v1 = remoteVersion({ id, hlc: hlcAt(-500) });
    expect(f.store.applyRemote([v1])).toMatchObject({ applied: 1, skipped: 0 });
    expect(f.store.applyRemote([v1, v1])).toMatchObject({ applied: 0, skipped: 2 });
    const v2 = remoteVersion({ id, hlc: hlcAt(-100), content: 'edited on the peer' });
    expect(f.store.applyRemote([v2])).toMatchObject({ applied: 1, skipped: 0 });
    expect(f.store.applyRemote([v1])).toMatchObject({ applied: 0, skipped: 1 });

    expect(f.store.get(id)).toMatchObject({
      content: 'edited on the peer',
      hlc: v2.hlc,
      syncStatus: 'SYNCED',
    });
    expect(readChanges(f.db.db, 0, 10).map((c) => [c.op, c.hlc, c.originNode])).toEqual([
      ['create', v1.hlc, PEER],
      ['update', v2.hlc, PEER],
    ]);
    expect(f.published.map((e) => [e.kind, e.source])).toEqual([
      ['added', 'remote'],
      ['changed', 'remote'],
    ]);
    // A local edit afterwards is newer than anything seen from the peer.
    expect(f.store.edit(id, 'local edit').hlc > v2.hlc).toBe(true);
  });

  it('skips a version `admit` refuses, given the identity of the row held', () => {
    const v1 = remoteVersion({ id, hlc: hlcAt(-500) });
    const seen: unknown[] = [];
    expect(
      f.store.applyRemote([v1], {
        admit: (_version, held) => {
          seen.push(held);
          return 'not allowed';
        },
      }),
    ).toMatchObject({ applied: 0, skipped: 0 });
    expect(f.store.get(id)).toBeUndefined();
    f.store.applyRemote([v1]);
    const moved = remoteVersion({ id, hlc: hlcAt(-100), roomId: 'elsewhere' });
    expect(
      f.store.applyRemote([moved], { admit: (_v, held) => (seen.push(held), undefined) }),
    ).toMatchObject({
      applied: 1,
      skipped: 0,
    });
    expect(seen).toEqual([
      undefined,
      { roomId: ROOM, senderId: ALICE, originNode: PEER, createdAt: v1.createdAt.getTime() },
    ]);
  });

  it('never lets an edit resurrect a tombstone, whatever the clocks say', () => {
    const posted = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'hello' });
    f.store.delete(posted.id);
    const laterEdit = remoteVersion({
      id: posted.id,
      hlc: hlcAt(5_000),
      content: 'edited elsewhere',
      originNode: NODE,
    });
    expect(f.store.applyRemote([laterEdit])).toMatchObject({ applied: 0, skipped: 1 });
    expect(f.store.get(posted.id)?.deletedAt).not.toBeNull();
  });

  it('applies a batch all or nothing, cursor included', () => {
    const ok = remoteVersion({ id, hlc: hlcAt(-100) });
    const tooFarAhead = remoteVersion({
      id: '0199a6f0-1111-7000-8000-000000000002',
      hlc: hlcAt(3_600_000),
    });
    expect(() => f.store.applyRemote([ok, tooFarAhead])).toThrow(HlcDriftError);
    let cursorWrites = 0;
    expect(() =>
      f.store.applyRemote([ok], {
        inTransaction: () => {
          cursorWrites += 1;
          throw new Error('cursor write failed');
        },
      }),
    ).toThrow('cursor write failed');
    expect(cursorWrites).toBe(1);
    const corrupt = { ...ok, content: 'not what was hashed' };
    expect(() => f.store.applyRemote([corrupt])).toThrow(/content hash/);
    expect(countRows(f.db, 'messages')).toBe(0);
    expect(countRows(f.db, 'change_log')).toBe(0);
    expect(f.published).toEqual([]);
  });
});

describe('page', () => {
  it('pages forwards and backwards over the id order with true hasNext/hasPrevious flags', async () => {
    const f = await openStore();
    const ids = Array.from(
      { length: 7 },
      (_, i) => f.store.post({ roomId: ROOM, senderId: ALICE, content: `m${i}` }).id,
    );
    f.store.post({
      roomId: '0199a6f0-0000-7000-8000-000000000002',
      senderId: ALICE,
      content: 'other room',
    });
    const page = (q: Parameters<MessageStore['page']>[1]) => {
      const p = f.store.page(ROOM, q);
      return {
        ids: p.rows.map((r) => ids.indexOf(r.id)),
        prev: p.hasPreviousPage,
        next: p.hasNextPage,
      };
    };
    expect(page({ limit: 3, from: 'start' })).toEqual({ ids: [0, 1, 2], prev: false, next: true });
    expect(page({ limit: 3, from: 'start', after: ids[2] })).toEqual({
      ids: [3, 4, 5],
      prev: true,
      next: true,
    });
    expect(page({ limit: 3, from: 'start', after: ids[5] })).toEqual({
      ids: [6],
      prev: true,
      next: false,
    });
    expect(page({ limit: 3, from: 'end' })).toEqual({ ids: [4, 5, 6], prev: true, next: false });
    expect(page({ limit: 3, from: 'end', before: ids[1] })).toEqual({
      ids: [0],
      prev: false,
      next: true,
    });
    expect(page({ limit: 3, from: 'start', after: ids[6] })).toEqual({
      ids: [],
      prev: true,
      next: false,
    });
    expect(page({ limit: 0, from: 'end', before: ids[3] })).toEqual({
      ids: [],
      prev: false,
      next: true,
    });
    expect(page({ limit: 10, from: 'start', after: ids[1], before: ids[4] })).toEqual({
      ids: [2, 3],
      prev: true,
      next: true,
    });
  });
});

describe('restart', () => {
  it('reopens the same file: same messages, seq continues, the clock resumes above the log', async () => {
    const file = path.join(await leftovers.tempDir('switchboard-store-'), 'node.sqlite');
    const first = await openStore(file);
    const posted = Array.from({ length: 5 }, (_, i) =>
      first.store.post({ roomId: ROOM, senderId: ALICE, content: `m${i}` }),
    );
    first.db.close();

    // The wall clock went back an hour while the node was down.
    const second = await openStore(file, first.wall.now - 3_600_000);
    expect(second.store.get(posted[4]?.id ?? '')).toEqual(posted[4]);
    expect(lastSeq(second.db.db)).toBe(5);
    const next = second.store.post({ roomId: ROOM, senderId: ALICE, content: 'after restart' });
    expect(readChanges(second.db.db, 5, 10).map((c) => [c.seq, c.messageId])).toEqual([
      [6, next.id],
    ]);
    expect(next.hlc > (posted[4]?.hlc ?? '')).toBe(true);
  });
});
