// Shared by the sync benchmarks (syncThroughput, syncIncremental):
// - a cluster of real processes (`switchboard central|node`) on a data dir the benchmark picks, so
//   that one prepared state (central's database plus a seeded node file) can be copied for every
//   repetition instead of being rebuilt;
// - seeding a node's SQLite file before the node starts, with the node's own MessageStore (so the
//   rows and the change log are exactly what a node writes), in large transactions: posting a
//   million messages through GraphQL would take far longer than the sync being measured.
import { mkdtempSync, rmSync } from 'node:fs';
import { cp, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { connectCode } from '../lib/connectionErrors.ts';
import { silentLogger } from '../lib/log.ts';
import { greatestHlc } from '../subgraphs/node/changeLog.ts';
import { openNodeDb } from '../subgraphs/node/db/open.ts';
import { HybridLogicalClock } from '../subgraphs/node/hlc.ts';
import { MessageEvents } from '../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../subgraphs/node/messageStore.ts';
import { databaseFile } from '../subgraphs/node/server.ts';
import { ADMIN_PASSWORD } from '../tests/helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { startPostgres, type PostgresCluster } from '../tests/helpers/postgres.ts';
import { startProcess, type Proc } from '../tests/helpers/processes.ts';
import { centralDataTemplate } from './lib.ts';

/** A connection that stood and was then dropped: a read on it may simply be asked again. */
const RESET_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

const READY = /ready at (http:\/\/[^\s]+)\/graphql/;

export interface NodeCredentials {
  readonly name: string;
  readonly id: string;
  readonly apiKey: string;
}

export interface SessionState {
  readonly id: string;
  readonly status: 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  readonly syncType: string;
  readonly messagesSynced: number;
  readonly startedAt: string;
  readonly completedAt: string | null;
  readonly error: string | null;
  readonly sourceNode: { readonly id: string };
  readonly targetNode: { readonly id: string };
}
const SESSION =
  'id status syncType messagesSynced startedAt completedAt error sourceNode { id } targetNode { id }';

/** Central and chat nodes as child processes on one data dir; `stop()` leaves the dir reusable. */
export class BenchCluster {
  readonly leftovers: Leftovers;
  readonly dataDir: string;
  readonly central: Proc;
  readonly centralUrl: string;
  readonly adminToken: string;
  readonly nodes = new Map<string, { readonly proc: Proc; readonly url: string }>();

  private constructor(
    leftovers: Leftovers,
    dataDir: string,
    central: Proc,
    centralUrl: string,
    adminToken: string,
  ) {
    this.leftovers = leftovers;
    this.dataDir = dataDir;
    this.central = central;
    this.centralUrl = centralUrl;
    this.adminToken = adminToken;
  }

  /** Central keeps its database in `dataDir` (PGlite), or in PostgreSQL at `databaseUrl`. */
  static async start(
    leftovers: Leftovers,
    dataDir: string,
    databaseUrl?: string,
  ): Promise<BenchCluster> {
    const central = startProcess(
      leftovers,
      'central',
      ['central', '--port', '0', '--data-dir', dataDir],
      {
        SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
        SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
        SWITCHBOARD_HEARTBEAT_INTERVAL_MS: '1000',
        ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl }),
      },
    );
    const centralUrl = (await central.waitForLine(READY))[1] as string;
    const token = ok(
      await gql<{ login: { token: string } }>(
        centralUrl,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: ADMIN_PASSWORD },
      ),
    ).login.token;
    return new BenchCluster(leftovers, dataDir, central, centralUrl, token);
  }

  /** A GraphQL call to central as the admin (acting as the gateway); throws on errors. */
  async admin<T = Record<string, any>>(
    query: string,
    variables: Record<string, unknown> = {},
  ): Promise<T> {
    return ok(await gql<T>(this.centralUrl, query, variables, { token: this.adminToken }));
  }

  async register(name: string): Promise<NodeCredentials> {
    const { registerNode } = await this.admin<{
      registerNode: { node: { id: string }; apiKey: string };
    }>(
      'mutation($n: String!) { registerNode(name: $n, url: "http://127.0.0.1:1") { node { id } apiKey } }',
      { n: name },
    );
    return { name, id: registerNode.node.id, apiKey: registerNode.apiKey };
  }

  /** Starts a registered node's process; resolves once central lists it ONLINE. */
  async startNode(node: NodeCredentials, env: Record<string, string> = {}): Promise<string> {
    const proc = startProcess(
      this.leftovers,
      node.name,
      [
        'node',
        '--name',
        node.name,
        '--port',
        '0',
        '--data-dir',
        this.dataDir,
        '--central-url',
        this.centralUrl,
      ],
      { SWITCHBOARD_NODE_API_KEY: node.apiKey, ...env },
    );
    const url = (await proc.waitForLine(READY, 300_000))[1] as string;
    this.nodes.set(node.name, { proc, url });
    await this.until(
      async () =>
        (
          await this.admin<{ node: { status: string } }>(
            'query($id: ID!) { node(id: $id) { status } }',
            {
              id: node.id,
            },
          )
        ).node.status === 'ONLINE',
      `${node.name} ONLINE`,
    );
    return url;
  }

  /**
   * Polls `check` every `everyMs` until it holds. A check whose connection was reset under it
   * counts as not yet (the checks are reads): on a loaded machine central may close an idle
   * keep-alive socket just as fetch reuses it, which failed whole benchmark runs.
   */
  async until(check: () => Promise<boolean>, what: string, timeoutMs = 600_000, everyMs = 50) {
    const deadline = Date.now() + timeoutMs;
    const holds = () =>
      check().catch((error: unknown) => {
        if (RESET_CODES.has(connectCode(error) ?? '')) return false;
        throw error;
      });
    while (!(await holds())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  }

  async session(id: string): Promise<SessionState> {
    return (
      await this.admin<{ syncSession: SessionState }>(
        `query($id: ID!) { syncSession(id: $id) { ${SESSION} } }`,
        { id },
      )
    ).syncSession;
  }

  /**
   * `triggerSync(nodeId, syncType)`: the node pulls from its peers and they pull from it. Returns
   * the sessions created, and the wall-clock time just before the request was sent.
   */
  async trigger(
    nodeId: string,
    syncType: 'FULL' | 'INCREMENTAL',
  ): Promise<{ sentAt: number; sessions: SessionState[] }> {
    const sentAt = Date.now();
    const { triggerSync } = await this.admin<{ triggerSync: SessionState[] }>(
      `mutation($n: ID!, $t: SyncType!) { triggerSync(nodeId: $n, syncType: $t) { ${SESSION} } }`,
      { n: nodeId, t: syncType },
    );
    return { sentAt, sessions: triggerSync };
  }

  /**
   * Waits for a session to end, polling (the figures come from central's own `completedAt`, so the
   * polling interval does not enter them). Throws if it FAILED.
   */
  async finished(id: string, everyMs = 50): Promise<SessionState> {
    let last: SessionState | undefined;
    await this.until(
      async () => {
        last = await this.session(id);
        return last.status === 'COMPLETED' || last.status === 'FAILED';
      },
      `session ${id} to end`,
      3_600_000,
      everyMs,
    );
    if (!last || last.status !== 'COMPLETED')
      throw new Error(`session ${id} did not complete: ${JSON.stringify(last)}`);
    return last;
  }

  /**
   * Waits until a session started at or after `since` that `nodeId` is the source of has
   * COMPLETED: central queues one (a peer pulling from it) when the node opens its job stream, so
   * this proves the stream is open.
   */
  async attached(nodeId: string, since: number): Promise<void> {
    await this.until(
      async () =>
        (
          await this.admin<{ syncSessions: SessionState[] }>(
            `query($n: ID) { syncSessions(last: 20, nodeId: $n) { ${SESSION} } }`,
            { n: nodeId },
          )
        ).syncSessions.some(
          (s) =>
            s.sourceNode.id === nodeId &&
            s.status === 'COMPLETED' &&
            Date.parse(s.startedAt) >= since,
        ),
      `the job stream of ${nodeId}`,
      600_000,
      100,
    );
  }

  /** Waits until no session is PENDING or IN_PROGRESS. */
  async idle(): Promise<void> {
    await this.until(
      async () => {
        for (const status of ['PENDING', 'IN_PROGRESS']) {
          const { syncSessions } = await this.admin<{ syncSessions: unknown[] }>(
            'query($s: SyncStatus) { syncSessions(last: 1, status: $s) { id } }',
            { s: status },
          );
          if (syncSessions.length > 0) return false;
        }
        return true;
      },
      'every sync session to end',
      3_600_000,
      100,
    );
  }

  /** Stops the nodes, then central (SIGTERM, so the data dir is left consistent and reusable). */
  async stop(): Promise<void> {
    await Promise.all([...this.nodes.values()].map(({ proc }) => proc.kill('SIGTERM')));
    this.nodes.clear();
    await this.central.kill('SIGTERM');
  }
}

/**
 * Where central keeps its database: `pglite`, the embedded default, in the data dir; or
 * `postgres`, a real PostgreSQL 15 server (the production setting, README), started by the
 * benchmark with its durability defaults (fsync on), as the nodes' SQLite files sync too.
 */
export type CentralBackend = 'pglite' | 'postgres';

/** A prepared state: central knows node A (holding `count` messages) and node B (empty). */
export interface PreparedPair {
  readonly backend: CentralBackend;
  /** The data dir to copy: A's SQLite file (B has none yet), and central's PGlite database. */
  readonly dir: string;
  /** `postgres`: the database every run copies (CREATE DATABASE ... TEMPLATE). */
  readonly databaseTemplate?: string;
  readonly a: NodeCredentials;
  readonly b: NodeCredentials;
  readonly roomIds: readonly string[];
  readonly senderId: string;
  readonly count: number;
  /** How long seeding A's file took, ms. */
  readonly seedMs: number;
}

// Prepared states live for the whole `npm run bench` process: both sync benchmarks start from the
// same central database and the same seeded messages, which take a while to write.
let cacheRoot: string | undefined;
const templates = new Map<CentralBackend, Promise<Omit<PreparedPair, 'count' | 'seedMs'>>>();
const prepared = new Map<string, Promise<PreparedPair>>();
let postgres: Promise<PostgresCluster> | undefined;
let runs = 0;

/** One PostgreSQL server for the whole benchmark process, stopped when it exits. */
function benchPostgres(): Promise<PostgresCluster> {
  postgres ??= startPostgres({ durable: true }).then((cluster) => {
    process.once('exit', () => cluster.stopSync());
    return cluster;
  });
  return postgres;
}

function cacheDir(): string {
  if (cacheRoot === undefined) {
    const root = mkdtempSync(path.join(tmpdir(), 'switchboard-bench-sync-'));
    cacheRoot = root;
    process.once('exit', () => rmSync(root, { recursive: true, force: true }));
  }
  return cacheRoot;
}

/**
 * Central's database with two registered nodes, `node-a` (home) and `node-b` (replica) of 100
 * rooms, made once per process (a first start of central takes seconds) and copied for every
 * size. B's `syncEnabled` is off, so that nothing but the benchmark's own `triggerSync` makes it
 * pull (a node that connects otherwise catches up with its peers at once).
 */
function centralTemplate(
  leftovers: Leftovers,
  backend: CentralBackend,
): Promise<Omit<PreparedPair, 'count' | 'seedMs'>> {
  let template = templates.get(backend);
  if (template) return template;
  template = (async () => {
    const dir = path.join(cacheDir(), `template-${backend}`);
    let databaseTemplate: string | undefined;
    let databaseUrl: string | undefined;
    if (backend === 'pglite') {
      await cp(await centralDataTemplate(), dir, { recursive: true });
    } else {
      await mkdir(dir, { recursive: true });
      databaseTemplate = 'bench_central_template';
      databaseUrl = await (await benchPostgres()).createDatabase(databaseTemplate);
    }
    const cluster = await BenchCluster.start(leftovers, dir, databaseUrl);
    try {
      const a = await cluster.register('node-a');
      const b = await cluster.register('node-b');
      const senderId = (await cluster.admin<{ me: { id: string } }>('{ me { id } }')).me.id;
      const roomIds: string[] = [];
      for (let r = 0; r < ROOMS; r++) {
        const { createRoom } = await cluster.admin<{ createRoom: { id: string } }>(
          'mutation($n: String!, $h: ID!, $b: ID!) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: [$b]) { id } }',
          { n: `bench-${r}`, h: a.id, b: b.id },
        );
        roomIds.push(createRoom.id);
      }
      await cluster.admin('mutation($id: ID!) { updateNode(id: $id, syncEnabled: false) { id } }', {
        id: b.id,
      });
      return {
        backend,
        dir,
        ...(databaseTemplate === undefined ? {} : { databaseTemplate }),
        a,
        b,
        roomIds,
        senderId,
      };
    } finally {
      await cluster.stop();
    }
  })();
  templates.set(backend, template);
  return template;
}

const ROOMS = 100;

/**
 * The central template plus A's file seeded with `count` messages spread over the 100 rooms.
 * Cached per count for the process.
 */
export function preparePair(
  leftovers: Leftovers,
  count: number,
  backend: CentralBackend = 'pglite',
): Promise<PreparedPair> {
  const key = `${backend}-${count}`;
  let entry = prepared.get(key);
  if (!entry) {
    entry = (async () => {
      const base = await centralTemplate(leftovers, backend);
      const dir = path.join(cacheDir(), `pair-${key}`);
      await cp(base.dir, dir, { recursive: true });
      const seedMs =
        count === 0
          ? 0
          : seedMessages(databaseFile(dir, 'node-a'), {
              nodeId: base.a.id,
              roomIds: base.roomIds,
              senderId: base.senderId,
              count,
            });
      return { ...base, dir, count, seedMs };
    })();
    prepared.set(key, entry);
  }
  return entry;
}

/** Copies a prepared state to a fresh temp dir (removed with `leftovers`). */
export async function copyPrepared(leftovers: Leftovers, pair: PreparedPair): Promise<string> {
  const dir = await leftovers.tempDir('switchboard-bench-run-');
  await cp(pair.dir, dir, { recursive: true });
  return dir;
}

/**
 * A fresh copy of a prepared state: the data dir, and for `postgres` a database copied from the
 * pair's template (dropped with `leftovers`).
 */
export async function copyPreparedRun(
  leftovers: Leftovers,
  pair: PreparedPair,
): Promise<{ dir: string; databaseUrl?: string }> {
  const dir = await copyPrepared(leftovers, pair);
  if (pair.databaseTemplate === undefined) return { dir };
  const cluster = await benchPostgres();
  const name = `bench_run_${++runs}`;
  const databaseUrl = await cluster.createDatabase(name, pair.databaseTemplate);
  leftovers.add(name, (database) => cluster.dropDatabase(database));
  return { dir, databaseUrl };
}

export interface SeedOptions {
  /** Central's id of the node whose file this is: the origin of the messages. */
  readonly nodeId: string;
  readonly roomIds: readonly string[];
  readonly senderId: string;
  readonly count: number;
  /** Numbering of the messages' content, so later seeds do not repeat earlier ones. @default 0 */
  readonly from?: number;
  /** Messages per transaction. @default 20000 */
  readonly chunk?: number;
}

/**
 * Posts `count` messages into a node's SQLite file with the node's own MessageStore (each post a
 * savepoint inside a large transaction), round-robin over the rooms. Works while the node runs
 * too (WAL; a second writer waits for the lock): the node then publishes nothing about them, so
 * no change notification starts a sync behind the benchmark's back. Returns the time taken, ms.
 */
export function seedMessages(file: string, options: SeedOptions): number {
  const t0 = performance.now();
  const db = openNodeDb(file);
  // Benchmark set-up only: the node itself commits with synchronous=FULL.
  db.sqlite.pragma('synchronous = OFF');
  try {
    const latest = greatestHlc(db.db);
    const store = new MessageStore({
      db: db.db,
      clock: new HybridLogicalClock({
        nodeId: options.nodeId,
        ...(latest === undefined ? {} : { resumeFrom: latest }),
      }),
      events: new MessageEvents(silentLogger),
    });
    const from = options.from ?? 0;
    const chunk = options.chunk ?? 20_000;
    const rooms = options.roomIds;
    for (let start = 0; start < options.count; start += chunk) {
      const end = Math.min(options.count, start + chunk);
      db.sqlite
        .transaction(() => {
          for (let i = from + start; i < from + end; i++) {
            store.post({
              roomId: rooms[i % rooms.length] as string,
              senderId: options.senderId,
              content: `bench message ${i}: the quick brown fox jumps over the lazy dog`,
            });
          }
        })
        .immediate();
    }
  } finally {
    db.close();
  }
  return performance.now() - t0;
}

export interface FullSyncRun {
  /** From sending triggerSync to the A -> B session's completedAt, ms. */
  readonly ms: number;
  /** The session's own startedAt to completedAt, ms. */
  readonly sessionMs: number;
  readonly messagesSynced: number;
}

// Data dirs in which B has pulled everything from A (cached per prepared pair): the starting
// point of the incremental benchmark, which the throughput benchmark leaves behind for free.
const synced = new Map<PreparedPair, Promise<string>>();

/**
 * One FULL sync A -> B, through `triggerSync(B, FULL)`, on a fresh copy of the prepared state.
 * The first run of a pair keeps its end state for `syncedState`.
 */
export async function fullSyncRun(pair: PreparedPair): Promise<FullSyncRun> {
  const leftovers = new Leftovers();
  try {
    const { dir, databaseUrl } = await copyPreparedRun(leftovers, pair);
    const since = Date.now();
    const cluster = await BenchCluster.start(leftovers, dir, databaseUrl);
    // B runs without live streams: it would pull A's changes the moment it connects, and the
    // session measured here would find nothing left to do.
    await Promise.all([
      cluster.startNode(pair.a),
      cluster.startNode(pair.b, { SWITCHBOARD_LIVE_REPLICATION: 'false' }),
    ]);
    // B's connection queued a B -> A catch-up (A pulls from the empty B): let it end first.
    await cluster.attached(pair.b.id, since);
    await cluster.idle();
    const { sentAt, sessions } = await cluster.trigger(pair.b.id, 'FULL');
    const measured = sessions.find(
      (s) => s.sourceNode.id === pair.a.id && s.targetNode.id === pair.b.id,
    );
    if (!measured)
      throw new Error(`triggerSync made no A -> B session: ${JSON.stringify(sessions)}`);
    const done = await cluster.finished(measured.id, 250);
    if (done.messagesSynced !== pair.count)
      throw new Error(`A -> B synced ${done.messagesSynced} of ${pair.count} messages`);
    const completedAt = Date.parse(done.completedAt ?? '');
    // The reverse session (A pulls from B) ends too, so the processes stop with nothing running.
    await cluster.idle();
    await cluster.stop();
    // Kept for the incremental benchmark, which runs on PGlite only.
    if (pair.backend === 'pglite' && !synced.has(pair)) {
      const kept = path.join(cacheDir(), `synced-${pair.count}-${pair.roomIds.length}`);
      synced.set(
        pair,
        cp(dir, kept, { recursive: true }).then(() => kept),
      );
      await synced.get(pair);
    }
    return {
      ms: completedAt - sentAt,
      sessionMs: completedAt - Date.parse(done.startedAt),
      messagesSynced: done.messagesSynced,
    };
  } finally {
    await leftovers.dispose();
  }
}

/**
 * A copy (removed with `leftovers`) of the state a FULL sync of `pair` left, where B holds
 * everything A holds, if one ran in this process; undefined otherwise.
 */
export async function syncedState(
  leftovers: Leftovers,
  pair: PreparedPair,
): Promise<string | undefined> {
  const kept = await synced.get(pair);
  if (kept === undefined) return undefined;
  const dir = await leftovers.tempDir('switchboard-bench-run-');
  await cp(kept, dir, { recursive: true });
  return dir;
}
