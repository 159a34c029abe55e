// Retry-safe posts in the store, on real SQLite files: the id derived from (sender, room,
// clientMessageId), a retry answered with the message held, a key reused for other content
// refused with nothing written, and two nodes that both stored a post converging through their
// versions to one message. Plus retried edits and deletes writing nothing.
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, describe, expect, it } from 'vitest';
import { codeOf } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import {
  keyTime,
  MAX_KEY_AGE_MS,
  messageIdFor,
  parseClientMessageId,
} from '../../subgraphs/node/clientMessageId.ts';
import { openNodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents, type MessageEvent } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore, type RemoteVersion } from '../../subgraphs/node/messageStore.ts';
import type { MessageRow } from '../../subgraphs/node/db/schema.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { countRows } from './helpers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const OTHER_ROOM = '0199a6f0-0000-7000-8000-000000000002';
const ALICE = '0199a6f0-0000-7000-8000-0000000000a1';
const BOB = '0199a6f0-0000-7000-8000-0000000000b1';

async function openNode(nodeId: string) {
  const file = path.join(await leftovers.tempDir('switchboard-idem-'), 'node.sqlite');
  const db = leftovers.add(openNodeDb(file), (d) => d.close());
  const events = new MessageEvents(silentLogger);
  const published: MessageEvent[] = [];
  events.onAny((event) => published.push(event));
  const clock = new HybridLogicalClock({ nodeId });
  return { db, published, store: new MessageStore({ db: db.db, clock, events }) };
}

function asVersion(row: MessageRow): RemoteVersion {
  return {
    id: row.id,
    roomId: row.roomId,
    senderId: row.senderId,
    content: row.content,
    contentHash: row.contentHash,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
    deletedAt: row.deletedAt,
    hlc: row.hlc,
    originNode: row.originNode,
  };
}

function failure(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return codeOf(error);
  }
  return 'no error';
}

describe('clientMessageId', () => {
  it('derives one UUIDv7 per sender, room and key, in the key’s millisecond', () => {
    const key = uuidv7();
    const id = messageIdFor(ALICE, ROOM, key);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(messageIdFor(ALICE, ROOM, key)).toBe(id);
    expect(keyTime(id)).toBe(keyTime(key));
    expect(
      new Set([id, messageIdFor(BOB, ROOM, key), messageIdFor(ALICE, OTHER_ROOM, key)]).size,
    ).toBe(3);
    expect(parseClientMessageId(key.toUpperCase())).toBe(key);
    for (const bad of ['', 'retry-1', crypto.randomUUID(), `${key}0`, key.replace(/-/g, '')]) {
      expect(failure(() => parseClientMessageId(bad))).toBe('BAD_USER_INPUT');
    }
  });

  it('answers a retried post with the message held, and refuses the key for other content', async () => {
    const node = await openNode('0199a6f0-0000-7000-8000-00000000000a');
    const key = uuidv7();
    const first = node.store.post({
      roomId: ROOM,
      senderId: ALICE,
      content: 'hi',
      clientMessageId: key,
    });
    expect(first.id).toBe(messageIdFor(ALICE, ROOM, key));
    const again = node.store.post({
      roomId: ROOM,
      senderId: ALICE,
      content: 'hi',
      clientMessageId: key,
    });
    expect(again).toEqual(first);
    expect(
      failure(() =>
        node.store.post({ roomId: ROOM, senderId: ALICE, content: 'other', clientMessageId: key }),
      ),
    ).toBe('CONFLICT');
    // Another sender's key is another message.
    node.store.post({ roomId: ROOM, senderId: BOB, content: 'hi', clientMessageId: key });
    expect(countRows(node.db, 'messages')).toBe(2);
    expect(countRows(node.db, 'change_log')).toBe(2);
    expect(node.published.filter((e) => e.kind === 'added')).toHaveLength(2);
  });

  it('refuses a stale key for a message it does not hold, and still answers one it holds', async () => {
    const node = await openNode('0199a6f0-0000-7000-8000-00000000000a');
    const stale = uuidv7({ msecs: Date.now() - MAX_KEY_AGE_MS - 60_000 });
    const ahead = uuidv7({ msecs: Date.now() + 10 * 60_000 });
    for (const key of [stale, ahead]) {
      expect(
        failure(() =>
          node.store.post({ roomId: ROOM, senderId: ALICE, content: 'x', clientMessageId: key }),
        ),
      ).toBe('BAD_USER_INPUT');
    }
    expect(countRows(node.db, 'messages')).toBe(0);
    // Held (it came from a peer): the retry is answered, however old the key.
    const at = new Date(keyTime(stale));
    const id = messageIdFor(ALICE, ROOM, stale);
    const peer = await openNode('0199a6f0-0000-7000-8000-00000000000b');
    const row = peer.store.post({ roomId: ROOM, senderId: ALICE, content: 'x' });
    node.store.applyRemote([{ ...asVersion(row), id, createdAt: at, updatedAt: at }]);
    expect(
      node.store.post({ roomId: ROOM, senderId: ALICE, content: 'x', clientMessageId: stale }).id,
    ).toBe(id);
  });

  it('converges to one message when two nodes both stored the post', async () => {
    const a = await openNode('0199a6f0-0000-7000-8000-00000000000a');
    const b = await openNode('0199a6f0-0000-7000-8000-00000000000b');
    const key = uuidv7();
    const post = { roomId: ROOM, senderId: ALICE, content: 'twice?', clientMessageId: key };
    const onA = a.store.post(post);
    const onB = b.store.post(post);
    expect(onB.id).toBe(onA.id);
    // The same identity on both (sync refuses a version that moves createdAt): the key's time.
    expect(onA.createdAt.getTime()).toBe(keyTime(key));
    expect(onB.createdAt).toEqual(onA.createdAt);
    a.store.applyRemote([asVersion(onB)]);
    b.store.applyRemote([asVersion(onA)]);
    for (const node of [a, b]) expect(countRows(node.db, 'messages')).toBe(1);
    expect(a.store.get(onA.id)?.hlc).toBe(b.store.get(onA.id)?.hlc);
    // A retry after the exchange is still answered, by either node.
    expect(b.store.post(post).id).toBe(onA.id);
  });

  it('writes nothing for a retried edit or delete', async () => {
    const node = await openNode('0199a6f0-0000-7000-8000-00000000000a');
    const row = node.store.post({ roomId: ROOM, senderId: ALICE, content: 'v1' });
    const edited = node.store.edit(row.id, 'v2');
    expect(node.store.edit(row.id, 'v2')).toEqual(edited);
    const deleted = node.store.delete(row.id);
    expect(node.store.delete(row.id)).toEqual(deleted);
    expect(countRows(node.db, 'change_log')).toBe(3);
    expect(node.published).toHaveLength(3);
  });
});
