// Opens (or creates) a node's SQLite file and brings its tables up to date. WAL lets readers go
// on while a write commits; better-sqlite3 is synchronous, so each transaction runs start to end
// without another request interleaving inside it.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { BaseSQLiteDatabase } from 'drizzle-orm/sqlite-core';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { packagePath } from '../../../lib/packageRoot.ts';
import * as schema from './schema.ts';

export type NodeSchema = typeof schema;
export type NodeDatabase = BetterSQLite3Database<NodeSchema> & { $client: Database.Database };
/** The database or a transaction on it: what helpers that may run inside a transaction take. */
export type NodeQueryable = BaseSQLiteDatabase<'sync', Database.RunResult, NodeSchema>;

const migrationsFolder = packagePath('subgraphs', 'node', 'migrations');

export interface NodeDb {
  readonly db: NodeDatabase;
  /** The raw connection, for pragmas and tests that inspect the file. */
  readonly sqlite: Database.Database;
  readonly file: string;
  close(): void;
}

export function openNodeDb(file: string): NodeDb {
  mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  try {
    sqlite.pragma('journal_mode = WAL');
    // FULL, not NORMAL: a change a peer has already pulled must survive a power cut too, or the
    // node could hand out the same `seq` again for a different change.
    sqlite.pragma('synchronous = FULL');
    sqlite.pragma('busy_timeout = 5000');
    const db = drizzle(sqlite, { schema });
    migrate(db, { migrationsFolder });
    return { db, sqlite, file, close: () => sqlite.close() };
  } catch (error) {
    sqlite.close();
    throw error;
  }
}
