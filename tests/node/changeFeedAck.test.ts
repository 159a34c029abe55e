// The change feed's acknowledgement (sync/changeFeed.ts) when one peer reads the same rooms twice
// at once, as its live stream and a session do: each acknowledgement looks only at the log beyond
// the highest cursor acknowledged, never from 0 again (which made a FULL sync's cost grow with
// the square of the log), and every message acknowledged still becomes SYNCED.
import { afterAll, describe, expect, it } from 'vitest';
import type { NodeDb } from '../../subgraphs/node/db/open.ts';
import type { MessageStore } from '../../subgraphs/node/messageStore.ts';
import { ChangeFeed } from '../../subgraphs/node/sync/changeFeed.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { openNodeStore } from '../helpers/nodeStore.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const NODE = '0190f0a0-0000-7000-8000-0000000000a1';
const PEER = '0190f0a0-0000-7000-8000-0000000000b2';
const ROOMS = ['room-1', 'room-2'];

/** The node's file, with the log ranges each acknowledgement of unrecorded sends looked at. */
async function feedWithRanges(): Promise<{
  db: NodeDb;
  store: MessageStore;
  feed: ChangeFeed;
  ranges: Array<[number, number]>;
}> {
  const { db, store } = await openNodeStore(leftovers, NODE, 'switchboard-feed-ack-');
  const ranges: Array<[number, number]> = [];
  // The statement that marks what no recorded send covers: its (from, upTo] is recorded.
  const sqlite = new Proxy(db.sqlite, {
    get(target, key) {
      if (key !== 'prepare') return Reflect.get(target, key, target) as unknown;
      return (source: string) => {
        const statement = target.prepare(source);
        if (!source.includes("sync_status = 'PENDING'")) return statement;
        return new Proxy(statement, {
          get(s, k) {
            if (k !== 'run') return Reflect.get(s, k, s) as unknown;
            return (...args: unknown[]) => {
              ranges.push([args[0] as number, args[1] as number]);
              return s.run(...args);
            };
          },
        });
      };
    },
  });
  const feed = new ChangeFeed({ db: { ...db, sqlite }, nodeId: NODE });
  return { db, store, feed, ranges };
}

describe('the change feed acknowledgement', () => {
  it('looks only beyond the highest cursor acknowledged when two readers of the same rooms alternate', async () => {
    const { db, store, feed, ranges } = await feedWithRanges();
    for (let i = 0; i < 12; i++)
      store.post({ roomId: ROOMS[i % 2] as string, senderId: 'u', content: `m${i}` });
    const read = (after: number) =>
      feed.read({ after, limit: 100, roomIds: ROOMS, peerNodeId: PEER });
    // Nothing was served up to 8 before (no send recorded there): those ranges are unrecorded.
    read(8); // the reader ahead (a live stream) acknowledges 8, and is served 9-12
    read(4); // the one behind (a session) acknowledges 4: nothing new
    read(10);
    read(6);
    read(12); // the send of 9-12 covers the rest
    expect(ranges).toEqual([
      [0, 8],
      [8, 10],
    ]);
    const pending = db.sqlite
      .prepare("SELECT count(*) AS n FROM messages WHERE sync_status = 'PENDING'")
      .get() as { n: number };
    expect(pending.n).toBe(0);
  });
});
