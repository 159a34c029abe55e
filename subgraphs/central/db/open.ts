// Opens central's database: embedded PGlite in the data dir by default, real PostgreSQL (through
// `pg`) when a URL is given. Both are driven by the same drizzle Postgres schema and migrations.
// Each backend's modules are imported when it is opened: a central on PostgreSQL does not load
// PGlite (half a megabyte of JavaScript) at every start, nor one on PGlite `pg`.
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core';
import { packagePath } from '../../../lib/packageRoot.ts';
import * as schema from './schema.ts';

export type CentralSchema = typeof schema;
export type CentralDatabase = PgDatabase<PgQueryResultHKT, CentralSchema>;

const migrationsFolder = packagePath('subgraphs', 'central', 'migrations');
// Any fixed number: every central replica takes this advisory lock around migrations so two
// starting at once do not both try to create the tables.
const MIGRATION_LOCK = 727_001;

export interface OpenCentralDbOptions {
  /** Folder for the embedded PGlite database (ignored with `databaseUrl`). */
  readonly dataDir?: string;
  /** `postgres://...`: use real PostgreSQL instead of PGlite. */
  readonly databaseUrl?: string;
  /** Called with every SQL statement; tests count queries with it. */
  readonly onQuery?: (sql: string) => void;
}

export interface CentralDb {
  readonly db: CentralDatabase;
  readonly kind: 'pglite' | 'postgres';
  /** Real PostgreSQL only: a connection string, for LISTEN/NOTIFY on a dedicated client. */
  readonly databaseUrl: string | undefined;
  close(): Promise<void>;
}

export async function openCentralDb(options: OpenCentralDbOptions): Promise<CentralDb> {
  const logger = options.onQuery
    ? { logQuery: (query: string) => options.onQuery?.(query) }
    : false;
  if (options.databaseUrl !== undefined) {
    const [{ default: pg }, { drizzle: drizzlePg }, { migrate: migratePg }] = await Promise.all([
      import('pg'),
      import('drizzle-orm/node-postgres'),
      import('drizzle-orm/node-postgres/migrator'),
    ]);
    const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 10 });
    // An idle client that loses its server must not crash the process; the next query reconnects.
    pool.on('error', () => {});
    const client = await pool.connect();
    try {
      await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
      await migratePg(drizzlePg(client, { schema }), { migrationsFolder });
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
      client.release();
    }
    const db = drizzlePg(pool, { schema, logger }) as unknown as CentralDatabase;
    return { db, kind: 'postgres', databaseUrl: options.databaseUrl, close: () => pool.end() };
  }
  const [{ PGlite }, { drizzle: drizzlePglite }, { migrate: migratePglite }] = await Promise.all([
    import('@electric-sql/pglite'),
    import('drizzle-orm/pglite'),
    import('drizzle-orm/pglite/migrator'),
  ]);
  let client: PGlite;
  if (options.dataDir === undefined) {
    client = new PGlite();
  } else {
    const dir = path.join(options.dataDir, 'central-pglite');
    await mkdir(dir, { recursive: true });
    client = new PGlite(dir);
  }
  await client.waitReady;
  await migratePglite(drizzlePglite(client, { schema }), { migrationsFolder });
  const db = drizzlePglite(client, { schema, logger }) as unknown as CentralDatabase;
  return { db, kind: 'pglite', databaseUrl: undefined, close: () => client.close() };
}
