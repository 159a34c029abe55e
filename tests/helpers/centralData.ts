// Central's data dir for tests, seeded from the run's migrated PGlite database (made once by the
// global setup tests/setup/centralTemplate.ts) instead of a first start from nothing in each file.
import { existsSync } from 'node:fs';
import { cp, readdir } from 'node:fs/promises';
import path from 'node:path';

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
    if (!existsSync(target)) await cp(path.join(template, entry), target, { recursive: true });
  }
}

/**
 * Copies the run's unmigrated PGlite database to `pgliteDir` (a database's own folder, not a data
 * dir), so that opening it skips initdb; without the template PGlite runs initdb there itself.
 */
export async function seedEmptyPglite(pgliteDir: string): Promise<void> {
  const template = process.env[EMPTY_PGLITE_TEMPLATE_ENV];
  if (template === undefined || template === '') return;
  await cp(template, pgliteDir, { recursive: true });
}
