// A feed read commits its bookkeeping (sends, acknowledged sync fields) without an fsync, and
// leaves the node's connection as it found it: every other write (posts, applied batches, whose
// change-log rows peers pull) stays synchronous = FULL, even after a read that failed. A read
// that records versions the peer refused (FAILED, told once) keeps its fsync.
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeDb } from '../../subgraphs/node/db/open.ts';
import { ChangeFeed, CursorAheadError } from '../../subgraphs/node/sync/changeFeed.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { openNodeStore } from '../helpers/nodeStore.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const SOURCE = '0190f0a0-0000-7000-8000-0000000000a1';
const PEER = '0190f0a0-0000-7000-8000-0000000000b2';
const ROOM = 'room-1';
const FULL = 2;

async function source() {
  const { db, store } = await openNodeStore(leftovers, SOURCE, 'switchboard-feed-sync-');
  return { db, store, feed: new ChangeFeed({ db, nodeId: SOURCE }) };
}

/** The `synchronous` pragmas the feed sets while `run` runs, in order. */
function pragmasDuring(db: NodeDb, run: () => void): string[] {
  const seen: string[] = [];
  const exec = db.sqlite.exec.bind(db.sqlite);
  db.sqlite.exec = (source: string) => {
    if (/synchronous/i.test(source)) seen.push(source);
    return exec(source);
  };
  try {
    run();
  } finally {
    db.sqlite.exec = exec;
  }
  return seen;
}

// `sqlite.pragma` prepares afresh: a prepared PRAGMA reads the value it was compiled with.
const synchronous = (db: NodeDb) => db.sqlite.pragma('synchronous', { simple: true });

describe('a feed read and the durability of the node’s writes', () => {
  it('commits its bookkeeping without an fsync and leaves the connection at FULL', async () => {
    const { db, store, feed } = await source();
    expect(synchronous(db)).toBe(FULL);
    const posted = store.post({ roomId: ROOM, senderId: 'u', content: 'hello' });
    let batch: ReturnType<ChangeFeed['read']> | undefined;
    const set = pragmasDuring(db, () => {
      batch = feed.read({ after: 0, limit: 10, roomIds: [ROOM], peerNodeId: PEER });
    });
    expect(batch?.versions.map((v) => v.id)).toEqual([posted.id]);
    expect(set).toEqual(['PRAGMA synchronous = NORMAL', 'PRAGMA synchronous = FULL']);
    expect(synchronous(db)).toBe(FULL);
    // The send it recorded is there: the acknowledgement dates the version from it.
    expect(db.sqlite.prepare('SELECT count(*) AS n FROM sync_sends').get()).toEqual({ n: 1 });
    feed.read({ after: batch?.nextAfter ?? 0, limit: 10, roomIds: [ROOM], peerNodeId: PEER });
    expect(store.get(posted.id)?.syncStatus).toBe('SYNCED');
  });

  it('is back at FULL after a read that failed', async () => {
    const { db, feed } = await source();
    const set = pragmasDuring(db, () => {
      expect(() => feed.read({ after: 5, limit: 10, roomIds: [ROOM], peerNodeId: PEER })).toThrow(
        CursorAheadError,
      );
    });
    expect(set.at(-1)).toBe('PRAGMA synchronous = FULL');
    expect(synchronous(db)).toBe(FULL);
  });

  it('keeps the fsync when it records versions the peer refused', async () => {
    const { db, store, feed } = await source();
    store.post({ roomId: ROOM, senderId: 'u', content: 'refused there' });
    const { nextAfter } = feed.read({ after: 0, limit: 10, roomIds: [ROOM], peerNodeId: PEER });
    const set = pragmasDuring(db, () => {
      feed.read({ after: nextAfter, limit: 10, roomIds: [ROOM], peerNodeId: PEER, refused: [1] });
    });
    expect(set).toEqual([]);
    expect(synchronous(db)).toBe(FULL);
    expect(db.sqlite.prepare('SELECT sync_status AS s FROM messages').get()).toEqual({
      s: 'FAILED',
    });
  });
});
