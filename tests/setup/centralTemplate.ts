// Part of vitest's global setup (global.ts): central's embedded PGlite database, migrated once per
// run. A first start of PGlite (its initdb, then every migration) costs seconds of a loaded 2-core
// machine, and about forty files start a central on PGlite; they copy this folder instead
// (tests/helpers/centralData.ts). Only the schema is in it: each central still creates its own
// admin and signing keys at start.
import { mkdtemp, rm } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { CENTRAL_TEMPLATE_ENV } from '../helpers/centralData.ts';

export default async function setup(): Promise<() => Promise<void>> {
  const dir = await mkdtemp(path.join(tmpdir(), 'switchboard-central-template-'));
  const db = await openCentralDb({ dataDir: dir });
  await db.close();
  process.env[CENTRAL_TEMPLATE_ENV] = dir;
  // A run killed before its teardown still leaves no copy behind.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return async () => {
    delete process.env[CENTRAL_TEMPLATE_ENV];
    await rm(dir, { recursive: true, force: true });
  };
}
