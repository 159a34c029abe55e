// The migration that adds room_membership_history fills it from the members of that moment and
// records when the history began: a database with members before the upgrade keeps answering
// writer checks for them. Real PGlite, migrated first without the history, then with it.
import { cp, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { drizzle } from 'drizzle-orm/pglite';
import { migrate } from 'drizzle-orm/pglite/migrator';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import {
  roomMembers,
  roomMembershipHistory,
  settings,
  users,
} from '../../subgraphs/central/db/schema.ts';
import { wereMembers } from '../../subgraphs/central/membership.ts';
import { seedEmptyPglite } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const MIGRATIONS = fileURLToPath(new URL('../../subgraphs/central/migrations', import.meta.url));
const HISTORY_MIGRATION = '0005_sync_scope_quarantine';

describe('the membership history migration', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());

  it('backfills the members of the moment with their joined_at, and records its start', async () => {
    // The migrations as they were before the history: the journal cut before its entry.
    const older = await leftovers.tempDir('switchboard-migrations-');
    await cp(MIGRATIONS, older, { recursive: true });
    const journalPath = path.join(older, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(journalPath, 'utf8')) as {
      entries: Array<{ tag: string }>;
    };
    const cut = journal.entries.findIndex((e) => e.tag === HISTORY_MIGRATION);
    expect(cut).toBeGreaterThan(0);
    await writeFile(
      journalPath,
      JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }),
    );

    const dataDir = await leftovers.tempDir('switchboard-central-');
    // initdb's output copied from the run's template: PGlite's initdb costs seconds.
    await seedEmptyPglite(path.join(dataDir, 'central-pglite'));
    const client = new PGlite(path.join(dataDir, 'central-pglite'));
    const before = drizzle(client);
    await migrate(before, { migrationsFolder: older });
    const joinedAt = new Date('2026-01-02T03:04:05.678Z');
    await before.insert(users).values([
      { id: 'u1', username: 'u1', displayName: 'u1', passwordHash: 'x' },
      { id: 'u2', username: 'u2', displayName: 'u2', passwordHash: 'x' },
    ]);
    // In SQL: today's table definitions name columns later migrations added.
    await client.exec(
      "insert into nodes (id, name, url, api_key_hash) values ('n1', 'n1', 'http://n1', 'h')",
    );
    await client.exec("insert into rooms (id, name, home_node_id) values ('r1', 'r1', 'n1')");
    await before.insert(roomMembers).values({ roomId: 'r1', userId: 'u1', joinedAt });
    await client.close();

    const upgraded = leftovers.add(await openCentralDb({ dataDir }), (db) => db.close());
    const upgradeDone = Date.now();
    const history = await upgraded.db.select().from(roomMembershipHistory);
    expect(history).toMatchObject([{ roomId: 'r1', userId: 'u1', leftAt: null }]);
    expect(history[0]?.joinedAt.getTime()).toBe(joinedAt.getTime());
    const [since] = await upgraded.db
      .select()
      .from(settings)
      .where(eq(settings.key, 'membership_history_since'));
    expect(typeof since?.value).toBe('number');
    expect(since?.value as number).toBeLessThanOrEqual(upgradeDone);

    // u1 is a member from its joined_at on; u2 never was, except before the history began,
    // where every existing user of an existing room counts.
    const later = upgradeDone + 120_000;
    expect(
      await wereMembers(upgraded.db, [
        { roomId: 'r1', userId: 'u1', at: later },
        { roomId: 'r1', userId: 'u2', at: later },
        { roomId: 'r1', userId: 'u2', at: joinedAt.getTime() },
        { roomId: 'r1', userId: 'nobody', at: joinedAt.getTime() },
      ]),
    ).toEqual([true, false, true, false]);
  });
});
