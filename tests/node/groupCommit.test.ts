// Group commit on a real SQLite file: writes submitted together share one transaction, a failing
// write fails alone, every caller is answered only after COMMIT, and events and change-log seqs
// follow commit order.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { readChanges } from '../../subgraphs/node/changeLog.ts';
import { openNodeDb, type NodeDb } from '../../subgraphs/node/db/open.ts';
import type { MessageRow } from '../../subgraphs/node/db/schema.ts';
import { GroupCommit } from '../../subgraphs/node/groupCommit.ts';
import { encodeHlc, HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents, type MessageEvent } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore, sha256Hex } from '../../subgraphs/node/messageStore.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { countRows } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const ALICE = '0199a6f0-0000-7000-8000-0000000000a1';
const NODE = '0199a6f0-0000-7000-8000-00000000000a';
const PEER = '0199a6f0-0000-7000-8000-00000000000b';

interface Fixture {
  readonly db: NodeDb;
  readonly store: MessageStore;
  readonly events: MessageEvents;
  readonly published: MessageEvent[];
  /** A second connection to the same file: what another process, or the node after a crash, sees. */
  readonly reader: Database.Database;
}

async function open(): Promise<Fixture> {
  const file = path.join(await leftovers.tempDir('switchboard-group-'), 'node.sqlite');
  const db = leftovers.add(openNodeDb(file), (d) => d.close());
  const reader = leftovers.add(new Database(file, { readonly: true }), (r) => void r.close());
  const events = new MessageEvents(silentLogger);
  const published: MessageEvent[] = [];
  events.onAny((event) => published.push(event));
  const store = new MessageStore({
    db: db.db,
    clock: new HybridLogicalClock({ nodeId: NODE }),
    events,
  });
  return { db, store, events, published, reader };
}

const post = (content: string) => ({ roomId: ROOM, senderId: ALICE, content });

/** Makes inserts into the change log of `content`'s version fail with `action` (ABORT/ROLLBACK). */
function poison(db: NodeDb, content: string, action: 'ABORT' | 'ROLLBACK'): void {
  db.sqlite.exec(
    `CREATE TRIGGER poison BEFORE INSERT ON change_log WHEN NEW.content_hash = '${sha256Hex(content)}'
     BEGIN SELECT RAISE(${action}, 'poisoned write'); END`,
  );
}

function seen(reader: Database.Database, id: string): boolean {
  return reader.prepare('SELECT 1 FROM messages WHERE id = ?').get(id) !== undefined;
}

describe('group commit', () => {
  let f: Fixture;
  beforeEach(async () => {
    f = await open();
  });

  it('commits posts, edits and deletes submitted together in one transaction', async () => {
    const editMe = f.store.post(post('first draft'));
    const deleteMe = f.store.post(post('to be deleted'));
    const writes = new GroupCommit({ store: f.store });
    const commitsBefore = f.store.commits;

    const results = await Promise.all([
      ...Array.from({ length: 20 }, (_, i) => writes.post(post(`together ${i}`))),
      writes.edit(editMe.id, 'second draft'),
      writes.delete(deleteMe.id),
    ]);

    expect(f.store.commits - commitsBefore).toBe(1);
    expect(writes.stats).toEqual({ groups: 1, committed: 22, failed: 0, largestGroup: 22 });
    expect(results.at(-2)).toMatchObject({ id: editMe.id, content: 'second draft' });
    expect(results.at(-1)?.deletedAt).toBeInstanceOf(Date);
    expect(countRows(f.db, 'messages')).toBe(22);
    expect(countRows(f.db, 'change_log')).toBe(24);
  });

  it('fails a bad write alone: the others of its group commit', async () => {
    const tombstone = f.store.post(post('gone'));
    f.store.delete(tombstone.id);
    poison(f.db, 'poison', 'ABORT');
    const writes = new GroupCommit({ store: f.store });
    const commitsBefore = f.store.commits;
    f.published.length = 0;

    const settled = await Promise.allSettled([
      writes.post(post('good 1')),
      writes.post(post('lone surrogate \ud800')),
      // The message row is written, then its change-log row fails: the savepoint undoes both.
      writes.post(post('poison')),
      writes.edit('0199a6f0-2222-7000-8000-000000000001', 'ghost'),
      writes.edit(tombstone.id, 'back from the dead'),
      writes.post(post('good 2')),
    ]);

    expect(settled.map((s) => s.status)).toEqual([
      'fulfilled',
      'rejected',
      'rejected',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    const reasons = settled.map((s) => (s.status === 'rejected' ? s.reason : undefined));
    expect(reasons[1]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT' } });
    expect(String(reasons[2])).toMatch(/poisoned write/);
    expect(reasons[3]).toMatchObject({ extensions: { code: 'NOT_FOUND' } });
    expect(reasons[4]).toMatchObject({ extensions: { code: 'CONFLICT' } });
    expect(f.store.commits - commitsBefore).toBe(1);

    const good = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
    const contents = f.db.sqlite.prepare('SELECT content FROM messages ORDER BY id').pluck().all();
    expect(contents).toEqual(['', 'good 1', 'good 2']);
    // The failed writes took no sequence number: the log goes on without a gap.
    expect(readChanges(f.db.db, 0, 100).map((c) => [c.seq, c.messageId])).toEqual([
      [1, tombstone.id],
      [2, tombstone.id],
      [3, good[0]?.id],
      [4, good[1]?.id],
    ]);
    expect(f.published.map((e) => e.message.id)).toEqual(good.map((m) => m.id));
  });

  it('fails the whole group, writing and publishing nothing, when its transaction is lost', async () => {
    // RAISE(ROLLBACK) ends the transaction itself, as a full disk or an I/O error would.
    poison(f.db, 'poison', 'ROLLBACK');
    const writes = new GroupCommit({ store: f.store });
    const commitsBefore = f.store.commits;

    const settled = await Promise.allSettled([
      writes.post(post('before')),
      writes.post(post('poison')),
      writes.post(post('after')),
    ]);

    expect(settled.map((s) => s.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const s of settled)
      expect(String(s.status === 'rejected' && s.reason)).toMatch(/poisoned/);
    expect(f.store.commits).toBe(commitsBefore);
    expect(countRows(f.db, 'messages')).toBe(0);
    expect(countRows(f.db, 'change_log')).toBe(0);
    expect(f.published).toEqual([]);
    expect(writes.stats).toMatchObject({ groups: 0, failed: 3 });

    // The next group is a transaction of its own, not the remains of the lost one.
    const next = await Promise.all([writes.post(post('next 1')), writes.post(post('next 2'))]);
    expect(f.store.commits - commitsBefore).toBe(1);
    expect(next.every((m) => seen(f.reader, m.id))).toBe(true);
  });

  it('answers each caller only after COMMIT: another connection already sees the row', async () => {
    const writes = new GroupCommit({ store: f.store });
    // At event time too: events go out after commit.
    const visibleAtEvent: boolean[] = [];
    f.events.onAny((event) => visibleAtEvent.push(seen(f.reader, event.message.id)));

    const checks = Array.from({ length: 10 }, (_, i) =>
      writes.post(post(`durable ${i}`)).then((row) => seen(f.reader, row.id)),
    );
    // Queued, not committed: nothing of the group is in the file yet.
    expect(writes.pending).toBe(10);
    expect(countRows(f.db, 'messages')).toBe(0);

    expect(await Promise.all(checks)).toEqual(Array.from({ length: 10 }, () => true));
    expect(visibleAtEvent).toEqual(Array.from({ length: 10 }, () => true));
  });

  it('publishes each event once, in commit order, which is also seq and HLC order', async () => {
    const writes = new GroupCommit({ store: f.store });
    const [a, b] = await Promise.all([writes.post(post('a')), writes.post(post('b'))]);
    if (!a || !b) throw new Error('posts missing');
    const first = Promise.all([writes.edit(a.id, 'a2'), writes.delete(b.id)]);
    // A sync batch commits between two groups.
    const remoteId = '0199a6f0-3333-7000-8000-000000000001';
    f.store.applyRemote([
      {
        id: remoteId,
        roomId: ROOM,
        senderId: ALICE,
        content: 'from a peer',
        contentHash: sha256Hex('from a peer'),
        createdAt: new Date(),
        updatedAt: new Date(),
        deletedAt: null,
        hlc: encodeHlc({ physical: Date.now(), logical: 0, node: PEER }),
        originNode: PEER,
      },
    ]);
    await first;
    const second = await Promise.all([writes.post(post('c')), writes.edit(a.id, 'a3')]);

    const log = readChanges(f.db.db, 0, 100);
    const fromEvents = f.published.map((e) => [e.message.id, e.message.hlc]);
    expect(fromEvents).toEqual(log.map((c) => [c.messageId, c.hlc]));
    expect(log.map((c) => c.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(log.map((c) => c.messageId)).toEqual([
      a.id,
      b.id,
      remoteId,
      a.id,
      b.id,
      second[0].id,
      a.id,
    ]);
    const local = log.filter((c) => c.originNode === NODE).map((c) => c.hlc);
    expect(local).toEqual([...local].sort());
    expect(new Set(local).size).toBe(local.length);
  });

  it('commits each write alone with a window of 0, and in slices of maxWrites', async () => {
    const alone = new GroupCommit({ store: f.store, windowMs: 0 });
    const before = f.store.commits;
    await Promise.all(Array.from({ length: 5 }, (_, i) => alone.post(post(`alone ${i}`))));
    expect(f.store.commits - before).toBe(5);

    const sliced = new GroupCommit({ store: f.store, maxWrites: 2 });
    const rows: Promise<MessageRow>[] = [];
    for (let i = 0; i < 5; i++) rows.push(sliced.post(post(`sliced ${i}`)));
    // Two full slices committed as they filled; the fifth waits for its window.
    expect(sliced.pending).toBe(1);
    await Promise.all(rows);
    expect(sliced.stats).toMatchObject({ groups: 3, committed: 5, largestGroup: 2 });
  });

  it('commits what is queued on close and refuses later writes', async () => {
    const writes = new GroupCommit({ store: f.store, windowMs: 60_000 });
    const queued = writes.post(post('queued at close'));
    writes.close();
    expect(seen(f.reader, (await queued).id)).toBe(true);
    await expect(writes.post(post('too late'))).rejects.toMatchObject({
      extensions: { code: 'NODE_UNAVAILABLE' },
    });
  });
});
