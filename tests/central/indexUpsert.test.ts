// The message index's upsert (sync/report.ts upsertIndex) on real PGlite: a version the index
// already has, on nodes it already lists, leaves the row as it is (no new tuple: a FULL sync's
// held versions re-reported every message, and writing each row again cost more than inserting
// it); a new holder or a winning version still changes it.
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openCentralDb, type CentralDb } from '../../subgraphs/central/db/open.ts';
import { upsertIndex } from '../../subgraphs/central/sync/report.ts';
import type { HeldVersion } from '../../lib/syncProtocol.ts';
import { seedCentralDataDir } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let central: CentralDb;
beforeAll(async () => {
  // From the run's migrated template: an in-memory PGlite ran initdb and every migration, about
  // 5 CPU-s, where a copy opens in a fraction of one.
  const dataDir = await leftovers.tempDir('switchboard-index-upsert-');
  await seedCentralDataDir(dataDir);
  central = leftovers.add(await openCentralDb({ dataDir }), (db) => db.close());
});
afterAll(() => leftovers.dispose());

const ID = '0190f0a0-0000-7000-8000-0000000000a1';
const version: HeldVersion = {
  messageId: ID,
  roomId: 'room-1',
  senderId: 'user-1',
  contentHash: 'a'.repeat(64),
  originNode: 'node-a',
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  deleted: false,
  hlc: '001700000000000:00000000:node-a',
};

async function upsert(versions: HeldVersion[], holders: string[]): Promise<void> {
  await central.db.transaction((tx) => upsertIndex(tx, versions, holders).then(() => undefined));
}

/** The row's transaction id (xmin): it changes whenever the row is written again. */
async function row(): Promise<{ xmin: string; storage: string[]; hash: string }> {
  const { rows } = (await central.db.execute(
    sql`select xmin::text as xmin, storage_node_ids as storage, content_hash as hash
          from distributed_messages where id = ${ID}`,
  )) as { rows: Array<{ xmin: string; storage: string[]; hash: string }> };
  const found = rows[0];
  if (!found) throw new Error('the message is not indexed');
  return found;
}

describe('upsertIndex', () => {
  it('leaves an indexed version on the same nodes unwritten; a new holder or a newer version writes it', async () => {
    await upsert([version], ['node-a', 'node-b']);
    const first = await row();
    expect(first.storage).toEqual(['node-a', 'node-b']);

    // The same version again, from the other direction of the pair (a FULL sync's held list).
    await upsert([version], ['node-b', 'node-a']);
    expect(await row()).toEqual(first);
    // An older version changes nothing either.
    await upsert([{ ...version, hlc: '001600000000000:00000000:node-a' }], ['node-a']);
    expect(await row()).toEqual(first);

    await upsert([version], ['node-a', 'node-c']);
    const third = await row();
    expect(third.storage).toEqual(['node-a', 'node-b', 'node-c']);
    expect(third.xmin).not.toBe(first.xmin);

    const newer = {
      ...version,
      contentHash: 'b'.repeat(64),
      updatedAt: version.updatedAt + 1,
      hlc: '001700000000001:00000000:node-a',
    };
    await upsert([newer], ['node-a']);
    const fourth = await row();
    expect(fourth.hash).toBe('b'.repeat(64));
    expect(fourth.storage).toEqual(['node-a', 'node-b', 'node-c']);
    expect(fourth.xmin).not.toBe(third.xmin);
  });
});
