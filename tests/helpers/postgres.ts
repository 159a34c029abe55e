// PostgreSQL for tests. Under vitest, one throwaway cluster serves the whole run (started by the
// global setup tests/setup/postgres.ts, since an initdb costs seconds of a loaded 2-core machine)
// and `startPostgres()` hands each caller its own databases in it. Outside vitest (benchmarks), or
// with `durable`, it starts a cluster of its own: initdb in a temp dir (in memory unless durable,
// see `clusterParent`), listening only on a Unix socket in that dir (no port to collide with),
// trust auth, stopped and deleted by `stop()`.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { memoryDir } from './memoryDir.ts';

const run = promisify(execFile);

export interface PostgresCluster {
  /** Connection string for the `postgres` database. */
  readonly url: string;
  /** Creates a fresh database (a copy of `template` when given) and returns its connection string. */
  createDatabase(name: string, template?: string): Promise<string>;
  dropDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
  /** For a process's `exit` handler, where nothing asynchronous runs any more. */
  stopSync(): void;
}

export interface StartPostgresOptions {
  /**
   * Keep PostgreSQL's durability defaults (fsync, synchronous commit, full page writes), for
   * benchmarks that compare with writers that sync to disk. Tests turn them off. @default false
   */
  readonly durable?: boolean;
  /** PostgreSQL's max_connections (a cluster of one's own only). @default 200 */
  readonly maxConnections?: number;
}

export function postgresBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => Number(b) - Number(a));
  for (const v of versions) {
    const dir = path.join(root, v, 'bin');
    if (existsSync(path.join(dir, 'initdb'))) return dir;
  }
  return undefined;
}

/** Set by the global setup for test workers: the run's shared cluster (its `postgres` database). */
export const SHARED_POSTGRES_ENV = 'SWITCHBOARD_TEST_POSTGRES_URL';

/**
 * Where a cluster's temp dir goes. A throwaway one goes to memory when there is room: fsync is off
 * anyway, and on the disk (ext4) the kernel's side of its writes (CREATE DATABASE copies a
 * template per test file, DROP DATABASE checkpoints and unlinks) was most of PostgreSQL's CPU in
 * the tests: 26.4 -> 12.7 CPU-s of its processes over the unit project, at most about 90 MB. A
 * durable one (benchmarks that compare with writers syncing to disk) stays on the disk.
 */
function clusterParent(durable: boolean): string {
  return (durable ? undefined : memoryDir(CLUSTER_ROOM)) ?? tmpdir();
}

/**
 * Free room a throwaway cluster asks of memory: about ten times its peak over the unit project (90
 * MB), for the cluster files' databases beside them.
 */
const CLUSTER_ROOM = 1024 ** 3;

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const shared = process.env[SHARED_POSTGRES_ENV];
  if (shared !== undefined && shared !== '' && options.durable !== true) return databasesIn(shared);
  return startPostgresCluster(options);
}

let databaseCounter = 0;

/**
 * The shared cluster seen as a cluster of one's own: names are given a suffix unique to this
 * process (files run in parallel and may pick the same names), and `stop()` drops only what this
 * caller created, leaving the cluster to the global teardown.
 */
function databasesIn(url: string): PostgresCluster {
  const actual = new Map<string, string>();
  const unique = (name: string) =>
    `${name.slice(0, 40)}_${process.pid}_${++databaseCounter}`.toLowerCase();
  const drop = async (name: string) => {
    const real = actual.get(name);
    if (real === undefined) return;
    actual.delete(name);
    await adminQuery(url, `DROP DATABASE IF EXISTS ${quoteName(real)} WITH (FORCE)`);
  };
  return {
    url,
    async createDatabase(name, template) {
      const real = unique(name);
      const from = template === undefined ? undefined : (actual.get(template) ?? template);
      await createDatabaseIn(url, real, from);
      actual.set(name, real);
      return url.replace('/postgres?', `/${real}?`);
    },
    dropDatabase: drop,
    async stop() {
      for (const name of [...actual.keys()]) await drop(name);
    },
    stopSync() {
      // Nothing asynchronous runs any more: the global teardown removes the whole cluster.
      actual.clear();
    },
  };
}

/** A cluster of one's own (the global setup's, or a benchmark's). */
export async function startPostgresCluster(
  options: StartPostgresOptions = {},
): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)',
    );
  const root = await mkdtemp(path.join(clusterParent(options.durable ?? false), 'switchboard-pg-'));
  const dataDir = path.join(root, 'data');
  // PostgreSQL refuses to run as root: as root, run it as the `postgres` system user.
  const asRoot = process.getuid?.() === 0;
  const exec = async (file: string, args: string[]) => {
    const full = path.join(bin, file);
    return asRoot ? run('runuser', ['-u', 'postgres', '--', full, ...args]) : run(full, args);
  };
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(root, Number(stdout.trim()), Number(gid.trim()));
  }
  await chmod(root, 0o700);
  await exec('initdb', [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--no-sync',
    '-E',
    'UTF8',
    '--locale=C',
  ]);
  await exec('pg_ctl', [
    '-D',
    dataDir,
    '-w',
    '-l',
    path.join(root, 'server.log'),
    '-o',
    `-c listen_addresses='' -k ${root} -c max_connections=${options.maxConnections ?? 200}` +
      (options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off'),
    'start',
  ]);
  const url = `postgres://postgres@localhost/postgres?host=${encodeURIComponent(root)}`;
  let stopped = false;
  return {
    url,
    async createDatabase(name, template) {
      await createDatabaseIn(url, name, template);
      return url.replace('/postgres?', `/${name}?`);
    },
    async dropDatabase(name) {
      await admin(`DROP DATABASE IF EXISTS ${quoteName(name)} WITH (FORCE)`);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await exec('pg_ctl', ['-D', dataDir, '-m', 'immediate', '-w', 'stop']).catch(() => {});
      await rm(root, { recursive: true, force: true });
    },
    stopSync() {
      if (stopped) return;
      stopped = true;
      const pgCtl = path.join(bin, 'pg_ctl');
      const args = ['-D', dataDir, '-m', 'immediate', '-w', 'stop'];
      spawnSync(
        asRoot ? 'runuser' : pgCtl,
        asRoot ? ['-u', 'postgres', '--', pgCtl, ...args] : args,
      );
      rmSync(root, { recursive: true, force: true });
    },
  };
  async function admin(statement: string): Promise<void> {
    await adminQuery(url, statement);
  }
}

async function adminQuery(url: string, statement: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(statement);
  });
}

/**
 * CREATE DATABASE copying the files (STRATEGY FILE_COPY, PostgreSQL 15 and later) rather than
 * PostgreSQL 15's default, which writes every page of the template to the WAL and through shared
 * buffers: for the small databases of tests (8 MB, central's migrated template) that cost about
 * twice the CPU of a file copy and its two checkpoints.
 */
async function createDatabaseIn(url: string, name: string, template?: string): Promise<void> {
  await withClient(url, async (client) => {
    const version = await client.query<{ v: number }>(
      "SELECT current_setting('server_version_num')::int AS v",
    );
    const fileCopy = (version.rows[0]?.v ?? 0) >= 150000;
    await client.query(
      `CREATE DATABASE ${quoteName(name)}` +
        (template === undefined ? '' : ` TEMPLATE ${quoteName(template)}`) +
        (fileCopy ? ' STRATEGY FILE_COPY' : ''),
    );
  });
}

async function withClient(url: string, use: (client: pg.Client) => Promise<void>): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await use(client);
  } finally {
    await client.end();
  }
}

function quoteName(name: string): string {
  return `"${name.replace(/"/g, '')}"`;
}
