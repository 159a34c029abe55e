// A node's SQLite file and its message store, in a temp dir of the file's Leftovers: what the
// in-process tests of the store, its change feed and sync read and write.
import path from 'node:path';
import { silentLogger } from '../../lib/log.ts';
import { openNodeDb, type NodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../../subgraphs/node/hlc.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../../subgraphs/node/messageStore.ts';
import type { Leftovers } from './leftovers.ts';

export async function openNodeStore(
  leftovers: Leftovers,
  nodeId: string,
  prefix = 'switchboard-node-',
): Promise<{ db: NodeDb; store: MessageStore }> {
  const file = path.join(await leftovers.tempDir(prefix), 'node.sqlite');
  const db = leftovers.add(openNodeDb(file), (d) => d.close());
  const store = new MessageStore({
    db: db.db,
    clock: new HybridLogicalClock({ nodeId }),
    events: new MessageEvents(silentLogger),
  });
  return { db, store };
}
