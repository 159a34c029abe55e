// Full sync throughput (issue 9, item 1): node A holds N messages across 100 rooms (1,000,000;
// quick pass 3,000); a FULL sync to an empty node B through the real protocol and real processes
// (central assigns the session, B pulls A's change feed over HTTP in batches, validates, applies,
// reports in the background, compares digests at the end). Timed from sending
// `triggerSync(B, FULL)` to central's `completedAt` of the A -> B session. `--full` runs it with
// central on embedded PGlite (the default) and on a real PostgreSQL server (production; fsync on);
// the quick pass on PGlite only.
// The physical reference, in the same run: the same message rows copied from A's file into an
// empty node file by one better-sqlite3 prepared-statement transaction in one process.
// Alternating, several repetitions, medians. Every repetition starts from a copy of the same
// prepared data dir (central's database plus A's seeded file), so each B starts empty.
// `node --import tsx bench/syncThroughput.ts [--full] [--messages=N] [--repetitions=N]
//   [--central=pglite|postgres]`
import path from 'node:path';
import Database from 'better-sqlite3';
import { openNodeDb } from '../subgraphs/node/db/open.ts';
import { databaseFile } from '../subgraphs/node/server.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { median, numberArg, report, round } from './lib.ts';
import {
  fullSyncRun,
  preparePair,
  type CentralBackend,
  type FullSyncRun,
  type PreparedPair,
} from './syncSetup.ts';

const COLUMNS =
  'id, room_id, sender_id, content, content_hash, created_at, updated_at, deleted_at, hlc, origin_node, sync_status, last_sync_attempt';

/** The same rows copied by one prepared statement in one transaction into an empty node file. */
export async function referenceRun(pair: PreparedPair): Promise<number> {
  const leftovers = new Leftovers();
  try {
    const dir = await leftovers.tempDir('switchboard-bench-reference-');
    // A node's own file: same schema, indexes and pragmas (WAL, synchronous=FULL).
    const target = openNodeDb(path.join(dir, 'copy.sqlite'));
    const source = new Database(databaseFile(pair.dir, 'node-a'), { readonly: true });
    try {
      const placeholders = COLUMNS.split(',')
        .map(() => '?')
        .join(', ');
      const select = source.prepare(`SELECT ${COLUMNS} FROM messages`).raw();
      const insert = target.sqlite.prepare(
        `INSERT INTO messages (${COLUMNS}) VALUES (${placeholders})`,
      );
      const t0 = performance.now();
      let copied = 0;
      target.sqlite.transaction(() => {
        for (const row of select.iterate() as IterableIterator<unknown[]>) {
          insert.run(...row);
          copied++;
        }
      })();
      const ms = performance.now() - t0;
      if (copied !== pair.count) throw new Error(`reference copied ${copied} of ${pair.count}`);
      return ms;
    } finally {
      source.close();
      target.close();
    }
  } finally {
    await leftovers.dispose();
  }
}

/**
 * `--central=pglite|postgres` runs one backend. Otherwise `--full` runs both (PGlite first); the
 * quick pass runs PGlite only, which keeps it under its 3 minutes.
 */
function backends(full: boolean): CentralBackend[] {
  const arg = process.argv.find((a) => a.startsWith('--central='))?.slice('--central='.length);
  if (arg === undefined) return full ? ['pglite', 'postgres'] : ['pglite'];
  if (arg !== 'pglite' && arg !== 'postgres') throw new Error('--central is pglite or postgres');
  return [arg];
}

export async function run({ full }: { full: boolean }): Promise<void> {
  for (const backend of backends(full)) await runOn(backend, full);
}

async function runOn(central: CentralBackend, full: boolean): Promise<void> {
  const count = numberArg('messages') ?? (full ? 1_000_000 : 3_000);
  const rooms = 100;
  const repetitions = numberArg('repetitions') ?? 3;
  const leftovers = new Leftovers();
  try {
    const pair = await preparePair(leftovers, count, central);
    const protocol: FullSyncRun[] = [];
    const reference: number[] = [];
    for (let rep = 0; rep < repetitions; rep++) {
      // Alternate which goes first so neither always runs on a warmer or cooler machine.
      if (rep % 2 === 0) {
        protocol.push(await fullSyncRun(pair));
        reference.push(await referenceRun(pair));
      } else {
        reference.push(await referenceRun(pair));
        protocol.push(await fullSyncRun(pair));
      }
    }
    const protocolMs = median(protocol.map((r) => r.ms));
    const referenceMs = median(reference);
    const rate = (count / protocolMs) * 1000;
    const referenceRate = (count / referenceMs) * 1000;
    report({
      name: 'sync: full sync throughput',
      // FULL sessions' batch size: central's --sync-full-batch-size default.
      parameters: { messages: count, rooms, repetitions, batchSize: 5000, central },
      figures: {
        messagesPerSecond: Math.round(rate),
        referenceMessagesPerSecond: Math.round(referenceRate),
        ratioToReference: round(rate / referenceRate, 3),
        protocolMs: round(protocolMs, 0),
        sessionMs: round(median(protocol.map((r) => r.sessionMs)), 0),
        referenceMs: round(referenceMs, 0),
        runsMs: protocol.map((r) => round(r.ms, 0)),
        referenceRunsMs: reference.map((ms) => round(ms, 0)),
        seedMs: round(pair.seedMs, 0),
        target: '>= 100000 messages/s and >= 0.25 of the reference',
        met: rate >= 100_000 && rate / referenceRate >= 0.25,
      },
    });
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
