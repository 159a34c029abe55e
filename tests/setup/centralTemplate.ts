// Part of vitest's global setup (global.ts): central's embedded PGlite database, migrated once per
// run. A first start of PGlite (its initdb, then every migration) costs seconds of a loaded 2-core
// machine; the centrals on PGlite (tests of both backends or of PGlite, the fault and load tests;
// the others run on the shared PostgreSQL, postgres.ts) copy this folder instead
// (tests/helpers/centralData.ts). Only the schema is in it: each central still creates its own
// admin and signing keys at start. The database as initdb left it, before any migration, is kept
// too, for the test of a migration on a database made by older migrations.
import { appendFile, cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { CENTRAL_TEMPLATE_ENV, EMPTY_PGLITE_TEMPLATE_ENV } from '../helpers/centralData.ts';

/**
 * shared_buffers of the templates, so of every PGlite database the tests open from them: initdb
 * writes PostgreSQL's 128MB, and PGlite prepares all of it in its WebAssembly memory at every
 * start, about 0.6 of the 0.9 CPU-s an open of the template took (loaded machine); at 16MB an open
 * takes about 0.35 s. A test's database is a few megabytes, so it still fits in the buffers. The
 * product's own databases (outside vitest nothing is copied from here) keep initdb's setting.
 */
const TEST_SHARED_BUFFERS = '16MB';

export default async function setup(): Promise<() => Promise<void>> {
  const root = await mkdtemp(path.join(tmpdir(), 'switchboard-central-template-'));
  // A run killed before its teardown still leaves no copy behind.
  process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  const empty = path.join(root, 'empty');
  const migrated = path.join(root, 'migrated');
  // The folder central opens in its data dir (subgraphs/central/db/open.ts).
  await mkdir(empty);
  const initdb = new PGlite(path.join(empty, 'central-pglite'));
  await initdb.waitReady;
  await initdb.close();
  await appendFile(
    path.join(empty, 'central-pglite', 'postgresql.conf'),
    `\n# tests/setup/centralTemplate.ts\nshared_buffers = ${TEST_SHARED_BUFFERS}\n`,
  );
  await cp(empty, migrated, { recursive: true });
  const db = await openCentralDb({ dataDir: migrated });
  await db.close();
  process.env[CENTRAL_TEMPLATE_ENV] = migrated;
  process.env[EMPTY_PGLITE_TEMPLATE_ENV] = path.join(empty, 'central-pglite');
  return async () => {
    delete process.env[CENTRAL_TEMPLATE_ENV];
    delete process.env[EMPTY_PGLITE_TEMPLATE_ENV];
    await rm(root, { recursive: true, force: true });
  };
}
