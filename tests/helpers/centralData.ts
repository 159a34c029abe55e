// Central's database for tests, copied from one the global setup migrated once instead of a first
// start from nothing in each file: by default a PostgreSQL database in the run's shared cluster
// (tests/setup/postgres.ts), else (asked for, or outside vitest) a PGlite data dir
// (tests/setup/centralTemplate.ts).
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { copyTree } from './copyTree.ts';
import type { Leftovers } from './leftovers.ts';
import { SHARED_POSTGRES_ENV, startPostgres, type PostgresCluster } from './postgres.ts';

/** Set by the global setup for test workers: central's migrated database in the shared cluster. */
export const CENTRAL_PG_TEMPLATE_ENV = 'SWITCHBOARD_TEST_CENTRAL_PG_TEMPLATE';

/** Set by the global setup for test workers: a stopped central's migrated data dir. */
export const CENTRAL_TEMPLATE_ENV = 'SWITCHBOARD_TEST_CENTRAL_TEMPLATE';

/** Set by the global setup for test workers: a PGlite database as initdb left it, unmigrated. */
export const EMPTY_PGLITE_TEMPLATE_ENV = 'SWITCHBOARD_TEST_EMPTY_PGLITE_TEMPLATE';

/**
 * Copies the template's database into `dataDir` when it holds none yet (a restart on the same dir
 * keeps its data). Without the template (outside vitest: benchmarks, the fault runner) nothing is
 * copied and central creates its database itself.
 */
export async function seedCentralDataDir(dataDir: string): Promise<void> {
  const template = process.env[CENTRAL_TEMPLATE_ENV];
  if (template === undefined || template === '') return;
  for (const entry of await readdir(template)) {
    const target = path.join(dataDir, entry);
    if (!existsSync(target)) await copyTree(path.join(template, entry), target);
  }
}

/**
 * Copies the run's unmigrated PGlite database to `pgliteDir` (a database's own folder, not a data
 * dir), so that opening it skips initdb; without the template PGlite runs initdb there itself.
 */
export async function seedEmptyPglite(pgliteDir: string): Promise<void> {
  const template = process.env[EMPTY_PGLITE_TEMPLATE_ENV];
  if (template === undefined || template === '') return;
  await copyTree(template, pgliteDir);
}

/**
 * A fresh database for a central, copied from the run's migrated template in the shared cluster
 * and dropped with `leftovers` (register it before the central, which must stop first). Undefined
 * without the shared cluster (no PostgreSQL binaries, or outside vitest): the caller falls back to
 * PGlite.
 */
export async function centralTestDatabase(leftovers: Leftovers): Promise<string | undefined> {
  const template = process.env[CENTRAL_PG_TEMPLATE_ENV];
  const shared = process.env[SHARED_POSTGRES_ENV];
  if (template === undefined || template === '' || shared === undefined || shared === '')
    return undefined;
  const databases = leftovers.add(await startPostgres(), (cluster) => cluster.stop());
  return databases.createDatabase('central', template);
}

/**
 * A database named `name` in `cluster` for centrals to share, copied from the run's migrated
 * template when there is one (else empty: the first central migrates it): a migration from nothing
 * costs PostgreSQL and the central about 0.08 CPU-s more than a copy, and the global setup already
 * runs one.
 */
export async function sharedCentralDatabase(
  cluster: PostgresCluster,
  name: string,
): Promise<string> {
  const template = process.env[CENTRAL_PG_TEMPLATE_ENV];
  return cluster.createDatabase(name, template === '' ? undefined : template);
}
