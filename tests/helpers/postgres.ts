// A throwaway PostgreSQL cluster for tests: initdb in a temp dir, listening only on a Unix socket
// in that dir (no port to collide with), trust auth, stopped and deleted by `stop()`.
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

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

export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresCluster> {
  const bin = postgresBinDir();
  if (!bin)
    throw new Error(
      'PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install postgresql)',
    );
  const root = await mkdtemp(path.join(tmpdir(), 'switchboard-pg-'));
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
    `-c listen_addresses='' -k ${root} -c max_connections=200` +
      (options.durable ? '' : ' -c fsync=off -c synchronous_commit=off -c full_page_writes=off'),
    'start',
  ]);
  const url = `postgres://postgres@localhost/postgres?host=${encodeURIComponent(root)}`;
  let stopped = false;
  return {
    url,
    async createDatabase(name, template) {
      await admin(
        `CREATE DATABASE ${quoteName(name)}` +
          (template === undefined ? '' : ` TEMPLATE ${quoteName(template)}`),
      );
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
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  }
}

function quoteName(name: string): string {
  return `"${name.replace(/"/g, '')}"`;
}
