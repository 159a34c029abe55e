// Part of vitest's global setup (global.ts): central's embedded PGlite database, migrated once per
// run. A first start of PGlite (its initdb, then every migration) costs seconds of a loaded 2-core
// machine; the centrals on PGlite (tests of both backends or of PGlite, the fault and load tests;
// the others run on the shared PostgreSQL, postgres.ts) copy this folder instead
// (tests/helpers/centralData.ts). Only the schema is in it: each central still creates its own
// admin and signing keys at start. The database as initdb left it, before any migration, is kept
// too, for the test of a migration on a database made by older migrations.
import { cp, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { CENTRAL_TEMPLATE_ENV, EMPTY_PGLITE_TEMPLATE_ENV } from '../helpers/centralData.ts';

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
