// A real cluster for end-to-end tests: central, chat nodes and the gateway, each its own process
// (`switchboard central|node|gateway`) on ports picked at start, in a temp data dir. Central runs
// on a copy of the run's migrated database in the shared PostgreSQL cluster under vitest, as in
// production; on PGlite in the data dir when asked, when started from a data dir, or outside vitest
// (benchmarks).
import { cp } from 'node:fs/promises';
import { ADMIN_PASSWORD } from './central.ts';
import { centralTestDatabase, seedCentralDataDir } from './centralData.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from './graphql.ts';
import type { Leftovers } from './leftovers.ts';
import { startProcess, type Proc } from './processes.ts';

export interface ClusterNode {
  readonly name: string;
  readonly id: string;
  readonly apiKey: string;
  /** Where the node tells central it is reached (--public-url), when not its own address. */
  readonly publicUrl?: string;
  proc: Proc;
  url: string;
}

export interface ClusterOptions {
  readonly nodes?: readonly string[];
  /**
   * @default 500: four beats per OFFLINE bound (2 s, below). At 200 ms the suite's 58 node
   * processes (about 13 s each) sent some 3,800 heartbeats, each an HTTP request and an UPDATE at
   * central, and the bound was no shorter for it.
   */
  readonly heartbeatIntervalMs?: number;
  /**
   * Central's --offline-after-ms. @default the larger of 2000 and 3 heartbeat intervals: a node
   * killed by a failover test is OFFLINE within seconds, and one merely starved of CPU for a
   * moment (two test files run at once on 2 cores) does not flap OFFLINE.
   */
  readonly offlineAfterMs?: number;
  /**
   * The gateway's --node-timeout-ms. @default 3000: a dead node is found by its refused
   * connections at once; the deadline only has to spare a live node slowed by the other file
   * running beside this one.
   */
  readonly nodeTimeoutMs?: number;
  /**
   * A stopped central's data dir to copy and start from, instead of a new database: benchmarks
   * make one per run, since a first start of embedded PGlite takes seconds. @default none
   */
  readonly centralDataFrom?: string;
  /**
   * Central on embedded PGlite in the data dir (implied by `centralDataFrom`). @default false
   * under vitest (a database in the run's PostgreSQL cluster); PGlite without that cluster.
   */
  readonly pglite?: boolean;
  /** Extra environment of every node process (e.g. a longer SWITCHBOARD_MEMBERSHIP_CACHE_MS). */
  readonly nodeEnv?: Readonly<Record<string, string>>;
  /** Extra environment of central's process (e.g. smaller SWITCHBOARD_SYNC_BATCH_SIZE). */
  readonly centralEnv?: Readonly<Record<string, string>>;
  /**
   * Nodes' --sync-live-window-idle-ms. @default 1000 under vitest, where tests wait for every
   * session (live windows too) to end; the product's default otherwise (benchmarks measure it).
   */
  readonly liveWindowIdleMs?: number;
  /**
   * Whether to start the cluster's gateway. false: a test that runs only gateways of its own
   * (`gateway` and `gatewayUrl` stay unset) does not pay for a process it never asks. @default true
   */
  readonly gateway?: boolean;
}

const ready = /ready at (http:\/\/[^\s]+)\/graphql/;

export class Cluster {
  readonly leftovers: Leftovers;
  readonly dataDir: string;
  // The one secret of test processes, so that helpers calling central or nodes directly pass.
  readonly secret = TEST_GATEWAY_SECRET;
  readonly nodes = new Map<string, ClusterNode>();
  central!: Proc;
  centralUrl!: string;
  gateway!: Proc;
  gatewayUrl!: string;
  adminToken!: string;
  /** Central's PostgreSQL database (--database-url); undefined when it runs on PGlite. */
  centralDatabaseUrl: string | undefined;
  readonly #options: ClusterOptions;

  private constructor(leftovers: Leftovers, dataDir: string, options: ClusterOptions) {
    this.leftovers = leftovers;
    this.dataDir = dataDir;
    this.#options = options;
  }

  static async start(leftovers: Leftovers, options: ClusterOptions = {}): Promise<Cluster> {
    const cluster = new Cluster(
      leftovers,
      await leftovers.tempDir('switchboard-cluster-'),
      options,
    );
    if (options.centralDataFrom !== undefined)
      await cp(options.centralDataFrom, cluster.dataDir, { recursive: true });
    else if (options.pglite !== true)
      cluster.centralDatabaseUrl = await centralTestDatabase(leftovers);
    if (cluster.centralDatabaseUrl === undefined && options.centralDataFrom === undefined)
      await seedCentralDataDir(cluster.dataDir);
    await cluster.startCentral(0);
    cluster.adminToken = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: ADMIN_PASSWORD },
      ),
    ).login.token;
    const names = options.nodes ?? ['node-a', 'node-b', 'node-c'];
    await Promise.all(names.map((name) => cluster.registerNode(name)));
    // The nodes and the gateway start at once: each start is mostly module loading, seconds of a
    // loaded core, and one after the other they made a cluster start three of those long. The
    // gateway knows the registered nodes from central and routes to each once it is ONLINE and
    // its schema checked, which startGateway waits for.
    await Promise.all([
      ...names.map((name) => cluster.startNode(name)),
      ...(options.gateway === false ? [] : [cluster.startGateway()]),
    ]);
    // Without a gateway nothing above waited for the nodes' first heartbeats: a started cluster
    // has every node ONLINE either way.
    if (options.gateway === false) await cluster.waitUntilOnline(names);
    return cluster;
  }

  /** Starts central on `port` (0: any) and its database: a restart binds the port it had. */
  async startCentral(port = Number(new URL(this.centralUrl).port)): Promise<void> {
    const heartbeatIntervalMs = this.#options.heartbeatIntervalMs ?? 500;
    this.central = startProcess(
      this.leftovers,
      'central',
      [
        'central',
        '--port',
        String(port),
        ...(this.centralDatabaseUrl === undefined
          ? ['--data-dir', this.dataDir]
          : ['--database-url', this.centralDatabaseUrl]),
      ],
      {
        ...this.#options.centralEnv,
        SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
        SWITCHBOARD_GATEWAY_SECRET: this.secret,
        SWITCHBOARD_HEARTBEAT_INTERVAL_MS: String(heartbeatIntervalMs),
        SWITCHBOARD_OFFLINE_AFTER_MS: String(
          this.#options.offlineAfterMs ?? Math.max(2000, 3 * heartbeatIntervalMs),
        ),
      },
    );
    this.centralUrl = (await this.central.waitForLine(ready))[1] as string;
  }

  async startGateway(): Promise<void> {
    this.gateway = startProcess(
      this.leftovers,
      'gateway',
      ['gateway', '--port', '0', '--central-url', this.centralUrl],
      {
        SWITCHBOARD_GATEWAY_SECRET: this.secret,
        SWITCHBOARD_NODE_TIMEOUT_MS: String(this.#options.nodeTimeoutMs ?? 3000),
      },
    );
    this.gatewayUrl = (await this.gateway.waitForLine(ready))[1] as string;
    await this.waitUntilRoutable([...this.nodes.keys()]);
  }

  /**
   * Registers a node at central and starts its process. `publicUrl`: the address the node
   * announces instead of its own, e.g. a proxy in front of it.
   */
  async addNode(name: string, options: { publicUrl?: string } = {}): Promise<ClusterNode> {
    await this.registerNode(name, options);
    return this.startNode(name);
  }

  /** Registers a node at central, without starting its process (`startNode`). */
  async registerNode(name: string, options: { publicUrl?: string } = {}): Promise<ClusterNode> {
    const registered = ok(
      await gql<{ registerNode: { node: { id: string }; apiKey: string } }>(
        this.centralUrl,
        'mutation($n: String!) { registerNode(name: $n, url: "http://127.0.0.1:1") { node { id } apiKey } }',
        { n: name },
        { token: this.adminToken },
      ),
    ).registerNode;
    const node: ClusterNode = {
      name,
      id: registered.node.id,
      apiKey: registered.apiKey,
      ...(options.publicUrl === undefined ? {} : { publicUrl: options.publicUrl }),
      proc: undefined as never,
      url: '',
    };
    this.nodes.set(name, node);
    return node;
  }

  /** (Re)starts a registered node's process on its data dir; `args` are added to its command. */
  async startNode(name: string, args: readonly string[] = []): Promise<ClusterNode> {
    const node = this.#node(name);
    node.proc = startProcess(
      this.leftovers,
      name,
      [
        'node',
        '--name',
        name,
        '--port',
        '0',
        '--data-dir',
        this.dataDir,
        '--central-url',
        this.centralUrl,
        ...(node.publicUrl === undefined ? [] : ['--public-url', node.publicUrl]),
        ...args,
      ],
      {
        ...windowIdleEnv(this.#options.liveWindowIdleMs),
        ...this.#options.nodeEnv,
        SWITCHBOARD_NODE_API_KEY: node.apiKey,
      },
    );
    node.url = (await node.proc.waitForLine(ready))[1] as string;
    return node;
  }

  async killNode(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.#node(name).proc.kill(signal);
  }

  node(name: string): ClusterNode {
    return this.#node(name);
  }

  #node(name: string): ClusterNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name} in this cluster`);
    return node;
  }

  /** Waits until central lists every named node ONLINE (for a cluster without its gateway). */
  async waitUntilOnline(names: readonly string[]): Promise<void> {
    await this.#poll(
      async () =>
        ok(
          await gql<{ nodes: Array<{ name: string; status: string }> }>(
            this.centralUrl,
            '{ nodes { name status } }',
            {},
            { token: this.adminToken },
          ),
        ).nodes,
      (nodes) => names.every((name) => nodes.some((n) => n.name === name && n.status === 'ONLINE')),
      `central never listed ${names.join(', ')} ONLINE`,
      30_000,
    );
  }

  /** Waits until the gateway routes to every named node (ONLINE, schema checked), via /ready. */
  async waitUntilRoutable(
    names: readonly string[],
    predicate = (n: ReadyNode) => n.status === 'ONLINE' && n.schema.state === 'ok',
  ): Promise<void> {
    await this.waitForReady((report) =>
      names.every((name) => report.nodes.some((n) => n.name === name && predicate(n))),
    );
  }

  /**
   * Polls the gateway's /ready until `check` holds: routing changes arrive through central's event
   * stream, and /ready is where the gateway shows them (in detail to an ADMIN token only).
   */
  async waitForReady(
    check: (report: ReadyReport) => boolean,
    timeoutMs = 30_000,
  ): Promise<ReadyReport> {
    return this.#poll(
      async () => {
        const response = await fetch(`${this.gatewayUrl}/ready`, {
          headers: { authorization: `Bearer ${this.adminToken}` },
        });
        return (await response.json()) as ReadyReport;
      },
      check,
      'gateway /ready never satisfied the check',
      timeoutMs,
    );
  }

  /**
   * Reads every 50 ms until `check` holds; after `timeoutMs` fails with `failure` and the last value.
   * Not vitest's waitFor: benchmarks run clusters outside vitest.
   */
  async #poll<T>(
    read: () => Promise<T>,
    check: (value: T) => boolean,
    failure: string,
    timeoutMs: number,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let last: T | undefined;
    while (Date.now() < deadline) {
      last = await read();
      if (check(last)) return last;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`${failure}: ${JSON.stringify(last)}`);
  }
}

export interface ReadyNode {
  readonly id: string;
  readonly name: string;
  readonly status: string;
  readonly schema: { readonly state: string; readonly differences?: string[] };
}
export interface ReadyReport {
  readonly status: string;
  readonly nodes: readonly ReadyNode[];
}

function windowIdleEnv(ms: number | undefined): Record<string, string> {
  const idle = ms ?? (process.env['VITEST'] === undefined ? undefined : 1000);
  return idle === undefined ? {} : { SWITCHBOARD_SYNC_LIVE_WINDOW_IDLE_MS: String(idle) };
}
