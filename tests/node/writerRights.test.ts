// The writer check on its own, on a real SQLite file: central's word comes from a plain function
// given to it (what the node's central client does over HTTP), so the test sees every question.
import path from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import type { AuthorityQuery } from '../../lib/syncProtocol.ts';
import { openNodeDb, type NodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../../subgraphs/node/messageStore.ts';
import {
  UnjudgedVersionError,
  WriterRights,
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
    expect(await rights.learn([heldVersion])).toEqual(new Map());
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
    const none = new Map<string, boolean>();
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
