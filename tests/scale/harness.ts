// Several instances of each tier on one real PostgreSQL database, as an operator runs them
// (issue 20): central processes sharing the database, gateways, and chat nodes split between the
// centrals, every one a real `switchboard` process running the compiled code in dist/. Each
// instance can be killed (-9) and started again on the port it had, so that clients and the
// other processes that name it find it again.
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { ADMIN_PASSWORD } from '../helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import type { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { startProcess, type Proc } from '../helpers/processes.ts';

const ready = /ready at (http:\/\/[^\s]+)\/graphql/;

export interface Instance {
  readonly name: string;
  proc: Proc;
  url: string;
}

export interface ScaleNode extends Instance {
  readonly id: string;
  readonly apiKey: string;
  /** Index of the central the node names first. */
  readonly central: number;
}

export interface ScaleOptions {
  /** @default 2 */
  readonly centrals?: number;
  /** @default 2 */
  readonly gateways?: number;
  /** Node name -> index of its central. @default node-a and node-c on central 0, node-b on 1 */
  readonly nodes?: Readonly<Record<string, number>>;
  /** @default 1000: on 2 shared cores, shorter beats make loaded nodes flap OFFLINE */
  readonly heartbeatIntervalMs?: number;
  readonly centralEnv?: Readonly<Record<string, string>>;
  readonly nodeEnv?: Readonly<Record<string, string>>;
  readonly gatewayEnv?: Readonly<Record<string, string>>;
  /** Start PostgreSQL with its durability defaults (benchmarks). @default false */
  readonly durable?: boolean;
}

export class ScaleCluster {
  readonly leftovers: Leftovers;
  readonly dataDir: string;
  readonly databaseUrl: string;
  readonly secret = TEST_GATEWAY_SECRET;
  readonly centrals: Instance[] = [];
  readonly gateways: Instance[] = [];
  readonly nodes = new Map<string, ScaleNode>();
  adminToken = '';
  readonly #options: ScaleOptions;
  readonly #pool: pg.Pool;
  /** Every process started, restarts included, for the logs kept on request. */
  readonly #started: Proc[] = [];

  private constructor(
    leftovers: Leftovers,
    dataDir: string,
    databaseUrl: string,
    options: ScaleOptions,
  ) {
    this.leftovers = leftovers;
    this.dataDir = dataDir;
    this.databaseUrl = databaseUrl;
    this.#options = options;
    this.#pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    // A central killed mid-query may leave the pool an error to report; the next query reconnects.
    this.#pool.on('error', () => {});
    leftovers.defer(() => this.#pool.end());
    // SWITCHBOARD_SCALE_LOGS=<dir>: every process's log lines end up there, one file each,
    // for reading a failed run afterwards.
    const logDir = process.env['SWITCHBOARD_SCALE_LOGS'];
    if (logDir)
      leftovers.defer(() => {
        mkdirSync(logDir, { recursive: true });
        for (const proc of this.#started)
          writeFileSync(
            path.join(logDir, `${proc.name}-${proc.child.pid ?? 0}.log`),
            `${proc.lines.join('\n')}\n`,
          );
      });
  }

  #start(name: string, args: string[], env: Record<string, string>): Proc {
    const proc = startProcess(this.leftovers, name, args, env);
    this.#started.push(proc);
    return proc;
  }

  static async start(leftovers: Leftovers, options: ScaleOptions = {}): Promise<ScaleCluster> {
    const postgres = await startPostgres({ durable: options.durable ?? false });
    leftovers.defer(() => postgres.stop());
    const databaseUrl = await postgres.createDatabase('scale');
    const cluster = new ScaleCluster(
      leftovers,
      await leftovers.tempDir('switchboard-scale-'),
      databaseUrl,
      options,
    );
    // The first start migrates and creates the admin; the others find both done.
    await cluster.startCentral(0);
    const centrals = options.centrals ?? 2;
    await Promise.all(Array.from({ length: centrals - 1 }, (_, i) => cluster.startCentral(i + 1)));
    cluster.adminToken = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl(0),
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: ADMIN_PASSWORD },
      ),
    ).login.token;
    const nodes = options.nodes ?? { 'node-a': 0, 'node-b': 1, 'node-c': 0 };
    await Promise.all(
      Object.entries(nodes).map(([name, central]) => cluster.addNode(name, central % centrals)),
    );
    await Promise.all(
      Array.from({ length: options.gateways ?? 2 }, (_, i) => cluster.startGateway(i)),
    );
    return cluster;
  }

  centralUrl(index: number): string {
    const central = this.centrals[index];
    if (!central) throw new Error(`no central ${index}`);
    return central.url;
  }

  /** The `--central-url` of a gateway or node whose own central is `first`: every one, it first. */
  centralUrlsFor(first: number): string {
    const own = this.centralUrl(first % this.centrals.length);
    return [own, ...this.centrals.map((c) => c.url).filter((url) => url !== own)].join(',');
  }

  /** Starts (or restarts, on the port it had) central `index`. */
  async startCentral(index: number): Promise<Instance> {
    const previous = this.centrals[index];
    const port = previous ? new URL(previous.url).port : '0';
    const name = `central-${index}`;
    const proc = this.#start(
      name,
      ['central', '--port', port, '--data-dir', path.join(this.dataDir, name)],
      {
        DATABASE_URL: this.databaseUrl,
        SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
        SWITCHBOARD_GATEWAY_SECRET: this.secret,
        SWITCHBOARD_HEARTBEAT_INTERVAL_MS: String(this.#options.heartbeatIntervalMs ?? 1000),
        ...this.#options.centralEnv,
      },
    );
    const url = (await proc.waitForLine(ready))[1] as string;
    const instance = { name, proc, url };
    this.centrals[index] = instance;
    return instance;
  }

  /** Starts (or restarts, on the port it had) gateway `index`, and waits until it routes. */
  async startGateway(index: number): Promise<Instance> {
    const previous = this.gateways[index];
    const port = previous ? new URL(previous.url).port : '0';
    const name = `gateway-${index}`;
    const proc = this.#start(
      name,
      ['gateway', '--port', port, '--central-url', this.centralUrlsFor(index)],
      {
        SWITCHBOARD_GATEWAY_SECRET: this.secret,
        SWITCHBOARD_NODE_TIMEOUT_MS: '3000',
        ...this.#options.gatewayEnv,
      },
    );
    const url = (await proc.waitForLine(ready))[1] as string;
    const instance = { name, proc, url };
    this.gateways[index] = instance;
    await this.waitUntilRoutable(index);
    return instance;
  }

  async addNode(name: string, central: number): Promise<ScaleNode> {
    const registered = ok(
      await gql<{ registerNode: { node: { id: string }; apiKey: string } }>(
        this.centralUrl(central),
        'mutation($n: String!) { registerNode(name: $n, url: "http://127.0.0.1:1") { node { id } apiKey } }',
        { n: name },
        { token: this.adminToken },
      ),
    ).registerNode;
    const node: ScaleNode = {
      name,
      id: registered.node.id,
      apiKey: registered.apiKey,
      central,
      proc: undefined as never,
      url: '',
    };
    this.nodes.set(name, node);
    await this.startNode(name);
    return node;
  }

  /** (Re)starts a node on its data dir and the port it had. */
  async startNode(name: string): Promise<ScaleNode> {
    const node = this.node(name);
    const port = node.url === '' ? '0' : new URL(node.url).port;
    node.proc = this.#start(
      name,
      [
        'node',
        '--name',
        name,
        '--port',
        port,
        '--data-dir',
        this.dataDir,
        '--central-url',
        this.centralUrlsFor(node.central),
      ],
      { ...this.#options.nodeEnv, SWITCHBOARD_NODE_API_KEY: node.apiKey },
    );
    node.url = (await node.proc.waitForLine(ready))[1] as string;
    return node;
  }

  node(name: string): ScaleNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  /** GET /ready of a gateway: its HTTP status and body (details with the admin's token). */
  async ready(
    gateway: number,
    options: { details?: boolean } = {},
  ): Promise<{ status: number; body: ReadyBody }> {
    const instance = this.gateways[gateway];
    if (!instance) throw new Error(`no gateway ${gateway}`);
    const response = await fetch(`${instance.url}/ready`, {
      headers: options.details ? { authorization: `Bearer ${this.adminToken}` } : {},
    });
    return { status: response.status, body: (await response.json()) as ReadyBody };
  }

  /** Waits until gateway `index` routes to every node (ONLINE, schema checked). */
  async waitUntilRoutable(index: number, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const answer = await this.ready(index, { details: true });
        last = answer;
        if (answer.status === 200 && answer.body.routableNodes === this.nodes.size) return;
      } catch (error) {
        // A gateway starting again on its port refuses connections for a moment.
        last = String(error);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`gateway ${index} never routed to every node: ${JSON.stringify(last)}`);
  }

  /** A query on the shared database, as an operator would look at it. */
  async sql<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<R[]> {
    return (await this.#pool.query<R>(text, values)).rows;
  }

  /**
   * The deadlocks PostgreSQL counted in this database so far. Backends report their counters
   * when they go idle, so a caller compares after the load has ended.
   */
  async deadlocks(): Promise<number> {
    await this.sql('SELECT pg_stat_clear_snapshot()');
    const [row] = await this.sql<{ deadlocks: string }>(
      'SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()',
    );
    return Number(row?.deadlocks ?? 0);
  }

  /**
   * PostgreSQL's server log (the test cluster's `server.log`, next to its socket), or undefined
   * when this database is not one of ours.
   */
  serverLog(): ServerLog | undefined {
    const host = new URL(this.databaseUrl).searchParams.get('host');
    if (host === null) return undefined;
    const file = path.join(host, 'server.log');
    try {
      statSync(file);
    } catch {
      return undefined;
    }
    return {
      mark: () => statSync(file).size,
      since: (offset) => readFileSync(file).subarray(offset).toString('utf8'),
    };
  }

  /**
   * The messages a node holds in `roomIds`, read from its SQLite file (read-only, beside the
   * running process): what it stored, whatever any API says.
   */
  storedMessages(
    name: string,
    roomIds: readonly string[],
  ): Array<{ id: string; roomId: string; content: string }> {
    const db = new Database(databaseFile(this.dataDir, name), { readonly: true });
    try {
      return db
        .prepare<
          [string],
          { id: string; roomId: string; content: string }
        >('SELECT id, room_id AS roomId, content FROM messages WHERE room_id IN (SELECT value FROM json_each(?))')
        .all(JSON.stringify(roomIds));
    } finally {
      db.close();
    }
  }
}

export interface ReadyBody {
  readonly status: string;
  readonly routableNodes: number;
  readonly nodes?: ReadonlyArray<{ name: string; status: string }>;
}

export interface ServerLog {
  /** Where the log ends now. */
  mark(): number;
  /** What was written after `mark`. */
  since(offset: number): string;
}
