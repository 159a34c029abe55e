// Part of vitest's global setup (global.ts): central's embedded PGlite database, migrated. A first
// start of PGlite (its initdb, then every migration) costs seconds of a loaded 2-core machine; the
// centrals on PGlite (tests of both backends or of PGlite, the fault and load tests; the others run
// on the shared PostgreSQL, postgres.ts) copy this folder instead (tests/helpers/centralData.ts).
// Only the schema is in it: each central still creates its own admin and signing keys at start.
// The database as initdb left it, before any migration, is kept too, for the test of a migration on
// a database made by older migrations.
//
// Both are kept between runs, under a key of everything they are made from: the global setup
// waited for them before any test file started (12 CPU-s, the longest part of it; 30 s of a
// loaded machine), for the same files every run until a migration or a dependency changes.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile, cp, mkdir, mkdtemp, rename, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { CENTRAL_TEMPLATE_ENV, EMPTY_PGLITE_TEMPLATE_ENV } from '../helpers/centralData.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CACHE = path.join(tmpdir(), 'switchboard-test-cache');
/** What the templates are made from: the migrations, the code that runs them, the versions of
 * PGlite and drizzle (package-lock.json), and this file. */
const INPUTS = [
  'subgraphs/central/migrations',
  'subgraphs/central/db/open.ts',
  'package-lock.json',
  'tests/setup/centralTemplate.ts',
];
/**
 * shared_buffers of the templates, so of every PGlite database the tests open from them: initdb
 * writes PostgreSQL's 128MB, and PGlite prepares all of it in its WebAssembly memory at every
 * start, about 0.6 of the 0.9 CPU-s an open of the template took (loaded machine); at 16MB an open
 * takes about 0.35 s. A test's database is a few megabytes, so it still fits in the buffers. The
 * product's own databases (outside vitest nothing is copied from here) keep initdb's setting.
 */
const TEST_SHARED_BUFFERS = '16MB';
/** Templates of other keys (older migrations, other checkouts) unused this long are removed. */
const UNUSED_FOR_MS = 24 * 3600_000;

export default async function setup(): Promise<void> {
  const dir = path.join(CACHE, `central-pglite-${inputsHash()}`);
  if (existsSync(dir)) {
    // Its mtime says when a run last used it (pruneUnused).
    const now = new Date();
    await utimes(dir, now, now);
  } else {
    await make(dir);
    await pruneUnused(dir);
  }
  process.env[CENTRAL_TEMPLATE_ENV] = path.join(dir, 'migrated');
  process.env[EMPTY_PGLITE_TEMPLATE_ENV] = path.join(dir, 'empty', 'central-pglite');
}

/** Makes both templates in a folder of its own, then renames it to `dir`: a run reading `dir` never
 * sees half of it, and of two runs making it at once the second keeps the first one's. */
async function make(dir: string): Promise<void> {
  await mkdir(CACHE, { recursive: true });
  const root = await mkdtemp(path.join(CACHE, 'making-'));
  try {
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
    await rename(root, dir).catch((error: NodeJS.ErrnoException) => {
      if (!existsSync(dir)) throw error;
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

async function pruneUnused(keep: string): Promise<void> {
  const cutoff = Date.now() - UNUSED_FOR_MS;
  for (const name of readdirSync(CACHE)) {
    const entry = path.join(CACHE, name);
    // Another run may be removing it too.
    const usedAt = statSync(entry, { throwIfNoEntry: false })?.mtimeMs ?? Date.now();
    if (entry !== keep && usedAt < cutoff) await rm(entry, { recursive: true, force: true });
  }
}

function inputsHash(): string {
  const hash = createHash('sha256');
  const add = (relative: string) => {
    const full = path.join(ROOT, relative);
    if (statSync(full).isDirectory()) {
      for (const name of readdirSync(full).sort()) add(path.join(relative, name));
    } else {
      hash.update(`${relative}\0`).update(readFileSync(full)).update('\0');
    }
  };
  INPUTS.forEach(add);
  return hash.digest('hex').slice(0, 16);
}
