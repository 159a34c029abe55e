// Echoes (docs/sync.md): a live stream asks its source with `skipEchoes`, and the source leaves out
// the versions it applied from that very peer, which holds them or newer, while the cursor still
// moves past them. Every other reader (another peer, a FULL session) is served them as before.
import { afterAll, describe, expect, it } from 'vitest';
import { ChangeFeed } from '../../subgraphs/node/sync/changeFeed.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { openNodeStore } from '../helpers/nodeStore.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const A = '0190f0a0-0000-7000-8000-0000000000a1';
const B = '0190f0a0-0000-7000-8000-0000000000b2';
const C = '0190f0a0-0000-7000-8000-0000000000c3';
const ROOM = 'room-1';

async function node(nodeId: string) {
  const { db, store } = await openNodeStore(leftovers, nodeId, 'switchboard-feed-echo-');
  return { store, feed: new ChangeFeed({ db, nodeId }) };
}

describe('a source reading its change feed for a peer', () => {
  it('leaves out what it applied from that peer when asked, and serves it to everyone else', async () => {
    const a = await node(A);
    const b = await node(B);
    const fromA = a.store.post({ roomId: ROOM, senderId: 'u', content: 'posted on a' });
    const applied = b.store.applyRemote([fromA], { receivedFrom: A });
    expect(applied.applied).toBe(1);
    const own = b.store.post({ roomId: ROOM, senderId: 'u', content: 'posted on b' });
    // A's message edited on B: B's version is newer than what A sent, so A must get it.
    const relayed = a.store.post({ roomId: ROOM, senderId: 'u', content: 'second on a' });
    b.store.applyRemote([relayed], { receivedFrom: A });
    const editedOnB = b.store.edit(relayed.id, 'second, edited on b');

    const read = (peerNodeId: string, skipEchoes: boolean, after = 0) =>
      b.feed.read({ after, limit: 100, roomIds: [ROOM], peerNodeId, skipEchoes });
    const forA = read(A, true);
    expect(forA.versions.map((v) => [v.id, v.content])).toEqual([
      [own.id, 'posted on b'],
      [relayed.id, editedOnB.content],
    ]);
    expect(forA.nextAfter).toBe(forA.headSeq);

    // Only echoes after the cursor: nothing served, and the cursor goes to the head.
    const echoOnly = a.store.post({ roomId: ROOM, senderId: 'u', content: 'third on a' });
    b.store.applyRemote([echoOnly], { receivedFrom: A });
    const after = forA.headSeq;
    const onlyEchoes = read(A, true, after);
    expect(onlyEchoes.versions).toEqual([]);
    expect(onlyEchoes.nextAfter).toBe(after + 1);
    expect(onlyEchoes.headSeq).toBe(after + 1);

    // Another peer, and A without the option (a FULL session, a node of the previous release).
    for (const everything of [read(C, true), read(A, false)]) {
      expect(everything.versions.map((v) => v.id)).toEqual([
        fromA.id,
        own.id,
        relayed.id,
        echoOnly.id,
      ]);
    }
  });

  it('counts what remains without the echoes', async () => {
    const a = await node(A);
    const b = await node(B);
    for (const content of ['one', 'two', 'three']) {
      b.store.applyRemote([a.store.post({ roomId: ROOM, senderId: 'u', content })], {
        receivedFrom: A,
      });
    }
    b.store.post({ roomId: ROOM, senderId: 'u', content: 'own' });
    const count = (skipEchoes: boolean) =>
      b.feed.read({
        after: 0,
        limit: 1,
        roomIds: [ROOM],
        peerNodeId: A,
        skipEchoes,
        countRemaining: true,
      }).remaining;
    expect(count(true)).toBe(1);
    expect(count(false)).toBe(4);
  });
});
