// Part of vitest's global setup (global.ts): one PostgreSQL cluster for the whole run. Test workers
// inherit its address through the environment, and `startPostgres()` (tests/helpers/postgres.ts)
// gives each file its own databases in it instead of an initdb per file.
import { postgresBinDir, SHARED_POSTGRES_ENV, startPostgresCluster } from '../helpers/postgres.ts';

export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  // Without the server binaries the files that need PostgreSQL fail with the helper's message;
  // the rest of the suite still runs.
  if (postgresBinDir() === undefined) return undefined;
  const cluster = await startPostgresCluster();
  process.env[SHARED_POSTGRES_ENV] = cluster.url;
  // A run killed before its teardown still leaves no server behind.
  process.once('exit', () => cluster.stopSync());
  return async () => {
    delete process.env[SHARED_POSTGRES_ENV];
    await cluster.stop();
  };
}
