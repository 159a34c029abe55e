// vitest's global setup: its parts at once, since each mostly waits on a child process or on
// PGlite and together they take about as long as the longest: dist/ brought up to date with the
// sources (build.ts), the run's PostgreSQL cluster with central's migrated database that tests'
// centrals copy (postgres.ts), and central's migrated PGlite database for those that ask for PGlite
// (centralTemplate.ts).
import { memoryDir } from '../helpers/memoryDir.ts';
import build from './build.ts';
import centralTemplate from './centralTemplate.ts';
import postgres from './postgres.ts';

type Teardown = () => Promise<void>;

// vitest runs a global setup once for the root project and again for every project that extends
// it (`npm test`: three times), each time in this same process. The first call does the work; the
// others share it, and only the first one's teardown undoes it.
const STARTED = Symbol.for('switchboard.tests.globalSetup');
const shared = globalThis as { [STARTED]?: Promise<Teardown> };

export default async function setup(): Promise<Teardown> {
  const started = shared[STARTED];
  if (started !== undefined) {
    await started;
    return async () => {};
  }
  const starting = start();
  shared[STARTED] = starting;
  const teardown = await starting;
  return async () => {
    delete shared[STARTED];
    await teardown();
  };
}

/**
 * scrypt cost of the password hashes central makes in tests (in-process centrals and children,
 * which inherit the environment; central's template too): 2^10 instead of 2^15. The suite makes
 * hundreds of users and logins, and at the production cost their hashes were a large share of
 * its CPU; the hashing code is the same at any cost.
 */
const TEST_PASSWORD_HASH_COST = '10';

/**
 * Apollo's gateway, unless told otherwise, makes a "data collection" meter provider per instance:
 * it probes the cloud metadata endpoints of AWS, GCP and Azure at start, and sends Apollo its
 * metrics once an hour and on close. Tests start dozens of gateways (in-process and as
 * children, which inherit the environment): that was CPU and outbound requests per gateway for
 * nothing the tests look at.
 */
const APOLLO_TELEMETRY_DISABLED = '1';

/**
 * Free room in memory (tmpfs) the run asks before its temp dirs go there (TMPDIR): test files and
 * their processes write SQLite files, PGlite data dirs and copies of templates, hundreds of
 * megabytes over a run, all removed at the file's end and none needing the disk; on the disk the
 * kernel's side of those writes (ext4's journal, the block layer, discards on unlink) was about 15
 * CPU-s of the unit project's. A run given a TMPDIR keeps it.
 */
const TEST_TEMP_ROOM = 2 * 1024 ** 3;

async function start(): Promise<Teardown> {
  process.env['SWITCHBOARD_PASSWORD_HASH_COST'] ??= TEST_PASSWORD_HASH_COST;
  process.env['APOLLO_TELEMETRY_DISABLED'] ??= APOLLO_TELEMETRY_DISABLED;
  if ((process.env['TMPDIR'] ?? '') === '') {
    // The workers and every process they start inherit it. Not the PGlite templates kept between
    // runs: centralTemplate.ts took their folder (in the usual temp dir) when it was imported.
    const memory = memoryDir(TEST_TEMP_ROOM);
    if (memory !== undefined) process.env['TMPDIR'] = memory;
  }
  const parts = await Promise.allSettled([build(), postgres(), centralTemplate()]);
  const teardowns = parts
    .map((part) => (part.status === 'fulfilled' ? part.value : undefined))
    .filter((value): value is Teardown => typeof value === 'function');
  const teardown = async () => {
    for (const stop of teardowns.reverse()) await stop();
  };
  const failed = parts.find((part) => part.status === 'rejected');
  if (failed !== undefined) {
    await teardown();
    throw failed.reason;
  }
  return teardown;
}
