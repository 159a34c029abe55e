// Part of vitest's global setup (global.ts): one PostgreSQL cluster for the whole run. Test workers
// inherit its address through the environment, and `startPostgres()` (tests/helpers/postgres.ts)
// gives each file its own databases in it instead of an initdb per file. Central's migrated
// database is made here once too: the centrals of test files (in process and in cluster children)
// run on copies of it by default (tests/helpers/centralData.ts), not on embedded PGlite, whose
// WebAssembly postgres was most of central's CPU in the suite.
import pg from 'pg';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { CENTRAL_PG_TEMPLATE_ENV } from '../helpers/centralData.ts';
import { postgresBinDir, SHARED_POSTGRES_ENV, startPostgresCluster } from '../helpers/postgres.ts';

const CENTRAL_TEMPLATE = 'central_template';

/**
 * Connections the run may hold at once: two unit files and an e2e file, each with up to five
 * centrals alive (Leftovers keep them to the file's end), each central up to 16 (its pool of 10,
 * 4 publishing events, a LISTEN client and the scheduler's lock), and the files' own clients.
 */
const MAX_CONNECTIONS = 400;

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  // Without the server binaries the files that need PostgreSQL fail with the helper's message,
  // centrals run on PGlite; the rest of the suite still runs.
  if (postgresBinDir() === undefined) return undefined;
  const cluster = await startPostgresCluster({ maxConnections: MAX_CONNECTIONS });
  // A run killed before its teardown still leaves no server behind.
  process.once('exit', () => cluster.stopSync());
  try {
    const db = await openCentralDb({
      databaseUrl: await cluster.createDatabase(CENTRAL_TEMPLATE),
    });
    await db.close();
    // Copies fail while anyone is connected to their template: nobody may connect to it now.
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    try {
      await admin.query(
        `ALTER DATABASE ${CENTRAL_TEMPLATE} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false`,
      );
    } finally {
      await admin.end();
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  process.env[SHARED_POSTGRES_ENV] = cluster.url;
  process.env[CENTRAL_PG_TEMPLATE_ENV] = CENTRAL_TEMPLATE;
  return async () => {
    delete process.env[SHARED_POSTGRES_ENV];
    delete process.env[CENTRAL_PG_TEMPLATE_ENV];
    await cluster.stop();
  };
}
