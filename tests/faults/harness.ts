// Fault injection, Jepsen style: central, three chat nodes and the gateway as real processes, a
// seeded workload of posts, edits and deletes (through the gateway and directly on nodes) while
// processes are killed with SIGKILL and restarted, nodes are cut off, stalled or slowed, and one
// node's clock is skewed; then everything heals, a final FULL sync runs, and a checker compares
// what was acknowledged with what every node and central hold. See docs/faults.md.
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import { GATEWAY_SECRET_HEADER } from '../../lib/gatewayProtocol.ts';
import { ASSERTION_HEADER } from '../../lib/gatewayAssertion.ts';
import type { RoomDigests } from '../../lib/syncProtocol.ts';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { ADMIN_PASSWORD } from '../helpers/central.ts';
import { centralTestDatabase, seedCentralDataDir } from '../helpers/centralData.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok, type GraphQLResponse } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { feedDigests } from '../helpers/pullTokens.ts';
import { startProcess, type Proc } from '../helpers/processes.ts';
import { TcpProxy } from './tcpProxy.ts';

const READY = /ready at (http:\/\/[^\s]+)\/graphql/;
const NODE_NAMES = ['node-a', 'node-b', 'node-c'] as const;
/** A write that takes longer than this is left indeterminate (it may or may not have happened). */
const WRITE_TIMEOUT_MS = 4000;

/** Deterministic pseudo-random numbers (mulberry32). */
export function random(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function until<T>(
  read: () => Promise<T>,
  check: (value: T) => boolean,
  what: string,
  timeoutMs: number,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read().catch(() => undefined);
    if (value !== undefined && check(value)) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

export interface FaultNode {
  readonly name: string;
  readonly id: string;
  readonly apiKey: string;
  /** Inbound: peers and the gateway reach the node here (its --public-url). */
  readonly inbound: TcpProxy;
  /** Outbound: the node reaches central here (its --central-url). */
  readonly outbound: TcpProxy;
  readonly clockOffsetMs: number;
  proc: Proc | undefined;
  /** The node's own address (no proxy): the test client is never partitioned. */
  url: string;
}

export interface FaultClusterOptions {
  /** Per node name: its --clock-offset-ms. @default none */
  readonly clockOffsets?: Readonly<Record<string, number>>;
  /**
   * Central's --offline-after-ms. @default 3 heartbeats (600 ms): what the fault seeds run with.
   * A file beside another on a loaded machine starves a node longer than that, and it flaps.
   */
  readonly offlineAfterMs?: number;
  /** Extra environment of every node process (e.g. a longer SWITCHBOARD_MEMBERSHIP_CACHE_MS). */
  readonly nodeEnv?: Readonly<Record<string, string>>;
  /**
   * Central on a database in the run's PostgreSQL cluster (`centralDatabaseUrl`), as the tests'
   * Cluster runs it, instead of PGlite in the data dir; PGlite when there is no such cluster.
   * @default false: the fault seeds run on PGlite
   */
  readonly postgres?: boolean;
  /**
   * Whether to start the gateway. false: a file that speaks to nodes and central directly (as
   * the regressions do) does not pay for a process it never asks. @default true (the seeds
   * send part of their workload through it)
   */
  readonly gateway?: boolean;
  /**
   * Central's and so the nodes' heartbeat interval. @default 200: three beats per the seeds' 600
   * ms OFFLINE bound. A file with a longer bound needs fewer (each beat an HTTP request and an
   * UPDATE at central).
   */
  readonly heartbeatIntervalMs?: number;
}

/** Central + 3 nodes + gateway, with one inbound and one outbound TCP proxy per node. */
export class FaultCluster {
  readonly leftovers: Leftovers;
  readonly dataDir: string;
  readonly secret = `faults-${sha256(String(Math.random())).slice(0, 32)}`;
  readonly nodes = new Map<string, FaultNode>();
  central: Proc | undefined;
  centralPort = 0;
  /** Central's PostgreSQL database (--database-url); undefined when it runs on PGlite. */
  centralDatabaseUrl: string | undefined;
  /** Unset when started with `gateway: false`. */
  gateway: Proc | undefined;
  gatewayUrl = '';
  adminToken = '';
  #toNodes: TestGateway | undefined;
  readonly #options: FaultClusterOptions;

  private constructor(leftovers: Leftovers, dataDir: string, options: FaultClusterOptions) {
    this.leftovers = leftovers;
    this.dataDir = dataDir;
    this.#options = options;
  }

  get centralUrl(): string {
    return `http://127.0.0.1:${this.centralPort}`;
  }

  static async start(leftovers: Leftovers, options: FaultClusterOptions = {}) {
    const cluster = new FaultCluster(
      leftovers,
      await leftovers.tempDir('switchboard-faults-'),
      options,
    );
    if (options.postgres === true)
      cluster.centralDatabaseUrl = await centralTestDatabase(leftovers);
    if (cluster.centralDatabaseUrl === undefined) await seedCentralDataDir(cluster.dataDir);
    await cluster.startCentral();
    cluster.adminToken = await cluster.login('admin', ADMIN_PASSWORD);
    cluster.#toNodes = await registerTestGateway(cluster.centralUrl, cluster.secret);
    for (const name of NODE_NAMES) {
      const registered = ok(
        await cluster.central$<{ registerNode: { node: { id: string }; apiKey: string } }>(
          'mutation($n: String!) { registerNode(name: $n, url: "http://127.0.0.1:1") { node { id } apiKey } }',
          { n: name },
        ),
      ).registerNode;
      const inbound = leftovers.add(await TcpProxy.start(), (p) => p.close());
      const outbound = leftovers.add(await TcpProxy.start(cluster.centralPort), (p) => p.close());
      cluster.nodes.set(name, {
        name,
        id: registered.node.id,
        apiKey: registered.apiKey,
        inbound,
        outbound,
        clockOffsetMs: options.clockOffsets?.[name] ?? 0,
        proc: undefined,
        url: '',
      });
    }
    // The gateway starts with the nodes, as the tests' Cluster does: it needs only central, and
    // routes to each node once it is ONLINE. One after the other, a cluster start waited for a
    // gateway's start (seconds of module loading on a loaded core) after the nodes' (#18).
    const startGateway = async () => {
      cluster.gateway = startProcess(
        leftovers,
        'gateway',
        ['gateway', '--port', '0', '--central-url', cluster.centralUrl],
        { SWITCHBOARD_GATEWAY_SECRET: cluster.secret, SWITCHBOARD_NODE_TIMEOUT_MS: '3000' },
      );
      cluster.gatewayUrl = (await cluster.gateway.waitForLine(READY))[1] as string;
    };
    await Promise.all([
      ...NODE_NAMES.map((name) => cluster.startNode(name)),
      ...(options.gateway === false ? [] : [startGateway()]),
    ]);
    if (options.gateway === false) {
      await until(
        () => cluster.nodeStatuses(),
        (s) => NODE_NAMES.every((n) => s[n] === 'ONLINE'),
        'every node ONLINE',
        60_000,
      );
      return cluster;
    }
    // Routed to every node before the workload's first request through it, as when it started
    // after them; its /ready lists nodes in detail to an ADMIN token only.
    await until(
      async () =>
        (await (
          await fetch(`${cluster.gatewayUrl}/ready`, {
            headers: { authorization: `Bearer ${cluster.adminToken}` },
          })
        ).json()) as { nodes?: Array<{ name: string; status: string; schema: { state: string } }> },
      (report) =>
        NODE_NAMES.every((name) =>
          report.nodes?.some(
            (n) => n.name === name && n.status === 'ONLINE' && n.schema.state === 'ok',
          ),
        ),
      'the gateway to route to every node',
      60_000,
    );
    return cluster;
  }

  node(name: string): FaultNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no node ${name}`);
    return node;
  }

  central$<T>(query: string, variables: Record<string, unknown> = {}) {
    return this.asGateway<T>(query, variables, this.adminToken);
  }

  /** The header a gateway sends `node` for `token`'s user (nodes take nothing else). */
  async nodeHeaders(node: string, token: string): Promise<Record<string, string>> {
    if (!this.#toNodes) throw new Error('the cluster is not started');
    return { [ASSERTION_HEADER]: await this.#toNodes.assertionFor(this.node(node).id, token) };
  }

  /** A call to central as the gateway makes it (central serves only the gateway). */
  asGateway<T>(query: string, variables: Record<string, unknown>, token?: string) {
    return gql<T>(this.centralUrl, query, variables, {
      ...(token === undefined ? {} : { token }),
      headers: { [GATEWAY_SECRET_HEADER]: this.secret },
    });
  }

  async login(username: string, password: string): Promise<string> {
    return ok(
      await this.asGateway<{ login: { token: string } }>(
        'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
        { u: username, p: password },
      ),
    ).login.token;
  }

  /** Starts central; a restart binds the same port, so the gateway and proxies keep their URL. */
  async startCentral(): Promise<void> {
    const restart = this.centralPort !== 0;
    this.central = startProcess(
      this.leftovers,
      'central',
      [
        'central',
        '--port',
        String(this.centralPort),
        ...(this.centralDatabaseUrl === undefined
          ? ['--data-dir', this.dataDir]
          : ['--database-url', this.centralDatabaseUrl]),
      ],
      {
        SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
        SWITCHBOARD_GATEWAY_SECRET: this.secret,
        SWITCHBOARD_HEARTBEAT_INTERVAL_MS: String(this.#options.heartbeatIntervalMs ?? 200),
        ...(this.#options.offlineAfterMs === undefined
          ? {}
          : { SWITCHBOARD_OFFLINE_AFTER_MS: String(this.#options.offlineAfterMs) }),
      },
    );
    const url = (await this.central.waitForLine(READY))[1] as string;
    this.centralPort = Number(new URL(url).port);
    // Leftovers stop the newest first: a restarted central would go before the gateway and the
    // nodes, wait out its HTTP server's 2 s grace for their open requests, and then each node's
    // shutdown would wait for a central that is gone. Registered after it, this stops them
    // first, as they are before the first central (#18).
    if (restart) this.leftovers.defer(() => this.#stopAllButCentral());
  }

  /** Stops the gateway, then the nodes at once (SIGTERM), as Leftovers would but before central. */
  async #stopAllButCentral(): Promise<void> {
    await this.gateway?.kill();
    const running = [...this.nodes.values()].flatMap((node) => node.proc ?? []);
    await Promise.all(running.map((proc) => proc.kill()));
  }

  async killCentral(): Promise<void> {
    await this.central?.kill('SIGKILL');
    this.central = undefined;
  }

  async startNode(name: string): Promise<void> {
    const node = this.node(name);
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
        node.outbound.url,
        '--public-url',
        node.inbound.url,
        `--clock-offset-ms=${node.clockOffsetMs}`,
      ],
      {
        // Windows close a second after their last change, not the product's 10 s: the final
        // check waits for every session, windows too, to end.
        SWITCHBOARD_SYNC_LIVE_WINDOW_IDLE_MS: '1000',
        ...this.#options.nodeEnv,
        SWITCHBOARD_NODE_API_KEY: node.apiKey,
      },
    );
    node.url = (await node.proc.waitForLine(READY))[1] as string;
    node.inbound.retarget(Number(new URL(node.url).port));
  }

  async killNode(name: string): Promise<void> {
    const node = this.node(name);
    await node.proc?.kill('SIGKILL');
    node.proc = undefined;
  }

  /** Cuts a node off: nobody reaches it (inbound) and it reaches nobody (outbound to central). */
  isolate(name: string): void {
    this.node(name).inbound.cut();
    this.node(name).outbound.cut();
  }

  heal(name: string): void {
    this.node(name).inbound.heal();
    this.node(name).outbound.heal();
  }

  async nodeStatuses(): Promise<Record<string, string>> {
    const nodes = ok(
      await this.central$<{ nodes: Array<{ name: string; status: string }> }>(
        '{ nodes { name status } }',
      ),
    ).nodes;
    return Object.fromEntries(nodes.map((n) => [n.name, n.status]));
  }

  /** A node's room digests, asked as a peer storing the rooms would, with a pull token. */
  async digests(
    name: string,
    roomIds: readonly string[],
    peers: readonly string[],
  ): Promise<RoomDigests['digests']> {
    const asker = this.node(peers.find((n) => n !== name) as string);
    return feedDigests(this.centralUrl, this.node(name), asker, roomIds);
  }

  readDb<T>(name: string, read: (db: Database.Database) => T): T {
    const db = new Database(databaseFile(this.dataDir, name), {
      readonly: true,
      fileMustExist: true,
    });
    try {
      return read(db);
    } finally {
      db.close();
    }
  }
}

export interface Row {
  id: string;
  room_id: string;
  sender_id: string;
  content: string;
  content_hash: string;
  deleted_at: number | null;
  hlc: string;
}

interface Attempt {
  readonly op: number;
  readonly kind: 'post' | 'edit' | 'delete';
  readonly via: string;
  readonly roomId: string;
  readonly content: string;
  /** For edits and deletes; for posts once acknowledged. */
  messageId?: string;
  acknowledged: boolean;
  error?: string | undefined;
}

export interface SeedResult {
  seed: number;
  ops: number;
  acknowledged: number;
  indeterminate: number;
  /** Writes the skewed node refused with CLOCK_SKEW (counted in `indeterminate`). */
  clockSkewRefused: number;
  faults: string[];
  violations: string[];
  convergenceMs: number | null;
  totalMs: number;
  /** Diagnostics of a run that did not converge. */
  notes?: string[];
}

export interface SeedOptions {
  readonly seed: number;
  /** @default 60 */
  readonly ops?: number;
  /** Progress lines (faults, phases). @default none */
  readonly log?: (line: string) => void;
}

export interface Workspace {
  readonly users: Record<string, { id: string; token: string }>;
  /** roomId -> the names of the nodes that store it, home first. */
  readonly holders: Map<string, string[]>;
}

/** Users alice and bob (both members of every room), two rooms on every node, two on a pair. */
export async function setupRooms(cluster: FaultCluster): Promise<Workspace> {
  const users: Record<string, { id: string; token: string }> = {};
  for (const name of ['alice', 'bob']) {
    const password = `pw-${name}-secret`;
    const id = ok(
      await cluster.central$<{ createUser: { id: string } }>(
        'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
        { u: name, p: password },
      ),
    ).createUser.id;
    users[name] = { id, token: await cluster.login(name, password) };
  }
  const token = (user: string) => users[user]?.token ?? '';
  const holders = new Map<string, string[]>();
  const layouts: Array<[string, string[] | null]> = [
    ['node-a', null],
    ['node-b', null],
    ['node-c', ['node-a']],
    ['node-a', ['node-b']],
  ];
  for (const [home, replicas] of layouts) {
    const id = ok(
      await cluster.asGateway<{ createRoom: { id: string } }>(
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "faults", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: cluster.node(home).id, r: replicas?.map((n) => cluster.node(n).id) ?? null },
        token('alice'),
      ),
    ).createRoom.id;
    ok(
      await cluster.asGateway(
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: id },
        token('bob'),
      ),
    );
    holders.set(id, [home, ...(replicas ?? NODE_NAMES.filter((n) => n !== home))]);
  }
  return { users, holders };
}

/** One whole run: cluster, workload with faults, heal, final sync, check. */
export async function runSeed(options: SeedOptions): Promise<SeedResult> {
  const leftovers = new Leftovers();
  try {
    return await runSeedIn(leftovers, options);
  } finally {
    await leftovers.dispose();
  }
}

async function runSeedIn(leftovers: Leftovers, options: SeedOptions): Promise<SeedResult> {
  const started = Date.now();
  const { seed } = options;
  const totalOps = options.ops ?? 60;
  const log = options.log ?? (() => {});
  const rand = random(seed);
  const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)] as T;
  // One node's clock runs minutes ahead or behind: beyond the default drift bound (60 s), so it
  // must refuse every write (CLOCK_SKEW) while the others carry on, and strand nothing.
  const skewed = pick(NODE_NAMES);
  const skew = Math.round((rand() < 0.5 ? -1 : 1) * (60_000 + rand() * 180_000));
  const faults: string[] = [`skew ${skewed} ${skew}ms`];
  log(`seed ${seed}: ${faults[0]}`);
  const cluster = await FaultCluster.start(leftovers, { clockOffsets: { [skewed]: skew } });

  const { users, holders } = await setupRooms(cluster);
  const token = (user: string) => users[user]?.token ?? '';
  const roomIds = [...holders.keys()];

  // Every node that ever stored each room: one that left keeps its copy (docs/central.md).
  const everHeld = new Map([...holders].map(([id, names]) => [id, new Set(names)]));
  /** A placement change (updateRoom) runs alongside the writes; at most one at a time. */
  let placing: Promise<void> | undefined;
  const changePlacement = (op: number) => {
    const roomId = pick(roomIds);
    const current = holders.get(roomId) as string[];
    const others = NODE_NAMES.filter((n) => !current.includes(n));
    const roll = rand();
    let next: string[];
    let what: string;
    if (roll < 0.4) {
      const home = pick(NODE_NAMES.filter((n) => n !== current[0]));
      next = [home, ...current.filter((n) => n !== home)];
      what = `move home ${current[0]} -> ${home}`;
    } else if (roll < 0.7 && others.length > 0) {
      const added = pick(others);
      next = [...current, added];
      what = `add replica ${added}`;
    } else if (current.length > 2) {
      // Two holders at least stay: a room on one node only is never synced, so never indexed.
      const removed = pick(current);
      next = current.filter((n) => n !== removed);
      what = `remove holder ${removed}`;
    } else return;
    faults.push(`op ${op}: updateRoom ${roomId.slice(0, 8)} ${what}`);
    log(faults.at(-1) as string);
    for (const n of next) everHeld.get(roomId)?.add(n);
    // Written to `holders` only when central said yes: a refused or failed change may leave the
    // room as it was or in its interim placement, which is read from central after healing.
    placing = cluster
      .asGateway<{ updateRoom: { id: string } }>(
        'mutation($r: ID!, $h: ID, $rs: [ID!]) { updateRoom(roomId: $r, homeNodeId: $h, replicaNodeIds: $rs) { id } }',
        {
          r: roomId,
          h: cluster.node(next[0] as string).id,
          rs: next.slice(1).map((n) => cluster.node(n).id),
        },
        cluster.adminToken,
      )
      .then(
        (response) => {
          if (response.data?.updateRoom) holders.set(roomId, next);
          else
            log(`op ${op}: updateRoom refused: ${JSON.stringify(response.errors?.[0]?.message)}`);
        },
        (error: unknown) => log(`op ${op}: updateRoom failed: ${(error as Error).message}`),
      )
      .finally(() => (placing = undefined));
  };

  // The workload: sequential, so the seed fixes every choice; faults come between writes.
  const attempts: Attempt[] = [];
  const posted: Array<{ id: string; roomId: string; sender: string }> = [];
  const write = async (
    via: string,
    user: string,
    query: string,
    variables: Record<string, unknown>,
  ): Promise<GraphQLResponse<Record<string, { id: string }>>> => {
    const url = via === 'gateway' ? cluster.gatewayUrl : cluster.node(via).url;
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(via === 'gateway'
          ? { authorization: `Bearer ${token(user)}` }
          : await cluster.nodeHeaders(via, token(user))),
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(WRITE_TIMEOUT_MS),
    });
    return { status: response.status, ...((await response.json()) as object) };
  };
  const down = new Map<string, number>(); // process -> op at which it comes back
  const partitioned = new Map<string, number>(); // node -> op at which it heals
  const restart = async (name: string) => {
    if (name === 'central') await cluster.startCentral();
    else await cluster.startNode(name);
  };
  for (let op = 0; op < totalOps; op++) {
    // Bring back what is due.
    for (const [name, at] of [...down]) {
      if (at > op) continue;
      // A node restarting needs central: restart central first if both are due.
      if (name !== 'central' && down.has('central')) continue;
      if (name !== 'central' && partitioned.has(name)) {
        cluster.heal(name);
        partitioned.delete(name);
      }
      log(`op ${op}: restart ${name}`);
      await restart(name);
      down.delete(name);
    }
    for (const [name, at] of [...partitioned]) {
      if (at > op) continue;
      log(`op ${op}: heal ${name}`);
      cluster.heal(name);
      partitioned.delete(name);
    }
    // Maybe start a fault: at most one process down and one node partitioned at a time.
    const before = faults.length;
    if (rand() < 0.2) {
      const roll = rand();
      const name = pick(NODE_NAMES);
      const back = op + 2 + Math.floor(rand() * 8);
      if (roll < 0.3 && down.size === 0) {
        faults.push(`op ${op}: kill -9 ${name} until op ${back}`);
        await cluster.killNode(name);
        down.set(name, back);
      } else if (roll < 0.45 && down.size === 0) {
        faults.push(`op ${op}: kill -9 central until op ${back}`);
        await cluster.killCentral();
        down.set('central', back);
      } else if (partitioned.size === 0 && !down.has(name)) {
        const kind = roll < 0.75 ? 'isolate' : roll < 0.9 ? 'stall inbound' : 'delay 300ms';
        faults.push(`op ${op}: ${kind} ${name} until op ${back}`);
        const node = cluster.node(name);
        if (kind === 'isolate') cluster.isolate(name);
        else if (kind === 'stall inbound') node.inbound.stall();
        else node.inbound.delayMs = node.outbound.delayMs = 300;
        partitioned.set(name, back);
      }
      if (faults.length > before) log(faults.at(-1) as string);
    }
    // Sometimes a room's placement changes (updateRoom) while the writes go on.
    if (rand() < 0.06 && placing === undefined) changePlacement(op);

    const roomId = pick(roomIds);
    const roomHolders = holders.get(roomId) as string[];
    const via = rand() < 0.5 ? 'gateway' : pick(roomHolders);
    const inRoom = posted.filter((p) => p.roomId === roomId);
    const roll = rand();
    const sender = pick(['alice', 'bob']);
    let attempt: Attempt;
    let request: () => Promise<GraphQLResponse<Record<string, { id: string }>>>;
    if (roll < 0.55 || inRoom.length === 0) {
      const content = `seed ${seed} op ${op} post by ${sender}`;
      attempt = { op, kind: 'post', via, roomId, content, acknowledged: false };
      request = () =>
        write(
          via,
          sender,
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: roomId, c: content },
        );
    } else {
      const target = pick(inRoom);
      const kind = roll < 0.85 ? 'edit' : 'delete';
      const content = kind === 'edit' ? `seed ${seed} op ${op} edit` : '';
      attempt = { op, kind, via, roomId, content, messageId: target.id, acknowledged: false };
      request = () =>
        kind === 'edit'
          ? write(
              via,
              target.sender,
              'mutation($i: ID!, $c: String!) { editMessage(id: $i, content: $c) { id } }',
              { i: target.id, c: content },
            )
          : write(via, target.sender, 'mutation($i: ID!) { deleteMessage(id: $i) { id } }', {
              i: target.id,
            });
    }
    attempts.push(attempt);
    try {
      const response = await request();
      const result = response.data ? Object.values(response.data)[0] : undefined;
      if (response.errors?.length || !result) {
        attempt.error = response.errors
          ?.map((e) => `${String(e.extensions?.['code'])}: ${e.message}`)
          .join('; ');
      } else {
        attempt.acknowledged = true;
        if (attempt.kind === 'post') {
          attempt.messageId = result.id;
          posted.push({ id: result.id, roomId, sender });
        }
      }
    } catch (error) {
      attempt.error = (error as Error).message;
    }
  }

  // Heal everything and bring every process back.
  log('healing');
  await placing;
  for (const name of partitioned.keys()) cluster.heal(name);
  if (down.has('central')) await restart('central');
  for (const name of down.keys()) if (name !== 'central') await restart(name);
  const healedAt = Date.now();
  await until(
    () => cluster.nodeStatuses(),
    (s) => NODE_NAMES.every((n) => s[n] === 'ONLINE'),
    'every node ONLINE',
    60_000,
  );
  // The placement as central has it (a change cut short by a fault left its interim one).
  const placed = ok(
    await cluster.central$<{
      rooms: Array<{
        id: string;
        homeNode: { name: string };
        replicaNodes: Array<{ name: string }>;
      }>;
    }>('{ rooms { id homeNode { name } replicaNodes { name } } }'),
  ).rooms;
  for (const room of placed) {
    if (!holders.has(room.id)) continue;
    holders.set(room.id, [room.homeNode.name, ...room.replicaNodes.map((n) => n.name)]);
  }

  // Convergence without help: change notifications, reconnection catch-up and retries.
  const sameDigests = async () => {
    for (const roomId of roomIds) {
      const names = holders.get(roomId) as string[];
      const ds = await Promise.all(names.map((n) => cluster.digests(n, [roomId], names)));
      const first = JSON.stringify(ds[0]?.[roomId]);
      if (!ds.every((d) => JSON.stringify(d[roomId]) === first)) return false;
    }
    return true;
  };
  let convergenceMs: number | null = null;
  const notes: string[] = [];
  try {
    await until(sameDigests, (same) => same, 'digests to converge after healing', 45_000);
    convergenceMs = Date.now() - healedAt;
  } catch {
    convergenceMs = null;
    notes.push(await divergence(cluster, holders));
  }
  log(`converged after ${convergenceMs} ms`);

  // The final FULL sync, then every session must have ended.
  const active = async () => {
    let count = 0;
    for (const status of ['PENDING', 'IN_PROGRESS']) {
      count += ok(
        await cluster.central$<{ syncSessions: unknown[] }>(
          `{ syncSessions(last: 500, status: ${status}) { id } }`,
        ),
      ).syncSessions.length;
    }
    return count;
  };
  ok(await cluster.central$('mutation { triggerSync(syncType: FULL) { id } }'));
  await until(active, (n) => n === 0, 'the final FULL sync to end', 60_000).catch(() => 0);

  const violations = await check(cluster, holders, attempts, everHeld);
  // Writes sent straight to the skewed node: refused, never acknowledged with a skewed clock.
  for (const a of attempts) {
    if (a.via === skewed && a.acknowledged) {
      violations.push(`op ${a.op}: ${skewed}, ${skew} ms off, acknowledged a ${a.kind}`);
    }
  }
  const clockSkewRefused = attempts.filter((a) => a.error?.includes('CLOCK_SKEW')).length;
  // A live window can open while the final FULL sync runs and reach central only with its first
  // report (up to a second later), after the wait above saw no session; it closes a second after
  // its last change. Such a window must end too, not be counted while it is still reporting: a
  // window that never ends is still one after these 15 s.
  const stuck = await until(active, (n) => n === 0, 'every session to end', 15_000).catch(() =>
    active(),
  );
  if (stuck > 0) {
    // Named, so that a run that fails says which pair and kind of session never ended.
    const sessions: string[] = [];
    for (const status of ['PENDING', 'IN_PROGRESS']) {
      const listed = ok(
        await cluster.central$<{
          syncSessions: Array<{
            id: string;
            syncType: string;
            trigger: string;
            startedAt: string;
            sourceNode: { name: string };
            targetNode: { name: string };
          }>;
        }>(
          `{ syncSessions(last: 500, status: ${status}) { id syncType trigger startedAt sourceNode { name } targetNode { name } } }`,
        ),
      ).syncSessions;
      for (const x of listed) {
        sessions.push(
          `${status} ${x.syncType}/${x.trigger} ${x.sourceNode.name} -> ${x.targetNode.name} since ${x.startedAt} (${x.id})`,
        );
      }
    }
    violations.push(
      `${stuck} sessions still PENDING/IN_PROGRESS after the final sync: ${sessions.join('; ')}`,
    );
  }
  if (convergenceMs === null) violations.push('digests did not converge within 45 s of healing');
  const acknowledged = attempts.filter((a) => a.acknowledged).length;
  return {
    seed,
    ops: totalOps,
    acknowledged,
    indeterminate: attempts.length - acknowledged,
    clockSkewRefused,
    faults,
    violations,
    convergenceMs,
    totalMs: Date.now() - started,
    ...(notes.length ? { notes } : {}),
  };
}

/** What differs and what central is doing, for a run that did not converge. */
async function divergence(
  cluster: FaultCluster,
  holders: ReadonlyMap<string, readonly string[]>,
): Promise<string> {
  const parts: string[] = [];
  for (const [roomId, names] of holders) {
    const ds = await Promise.all(
      names.map((n) => cluster.digests(n, [roomId], names).catch((e: Error) => e.message)),
    );
    parts.push(
      `${roomId.slice(0, 8)}: ${names
        .map((n, i) => {
          const d = ds[i];
          return `${n}=${typeof d === 'string' ? d : `${d?.[roomId]?.count}/${d?.[roomId]?.digest.slice(0, 6)}`}`;
        })
        .join(' ')}`,
    );
  }
  const sessions = ok(
    await cluster.central$<{
      syncSessions: Array<{
        status: string;
        syncType: string;
        trigger: string;
        error: string | null;
        sourceNode: { name: string };
        targetNode: { name: string };
      }>;
    }>(
      '{ syncSessions(last: 12) { status syncType trigger error sourceNode { name } targetNode { name } } }',
    ),
  ).syncSessions;
  parts.push(
    ...sessions.map(
      (x) =>
        `${x.sourceNode.name}>${x.targetNode.name} ${x.syncType} ${x.trigger} ${x.status} ${x.error ?? ''}`,
    ),
  );
  return parts.join(' | ');
}

/** Compares what was acknowledged with what every node and central hold; returns violations. */
export async function check(
  cluster: FaultCluster,
  holders: ReadonlyMap<string, readonly string[]>,
  attempts: readonly Attempt[],
  /** Per room, every node that stored it during the run (a node that left keeps its copy). */
  everHeld: ReadonlyMap<string, ReadonlySet<string>> = new Map(),
): Promise<string[]> {
  const violations: string[] = [];
  const rows = new Map<string, Map<string, Row>>(); // node -> id -> row
  const log: Array<{ message_id: string; op: string; hlc: string; content_hash: string }> = [];
  for (const name of NODE_NAMES) {
    const nodeRows = cluster.readDb(
      name,
      (db) =>
        db
          .prepare(
            'SELECT id, room_id, sender_id, content, content_hash, deleted_at, hlc FROM messages',
          )
          .all() as Row[],
    );
    rows.set(name, new Map(nodeRows.map((r) => [r.id, r])));
    log.push(
      ...cluster.readDb(
        name,
        (db) =>
          db.prepare('SELECT message_id, op, hlc, content_hash FROM change_log').all() as Array<{
            message_id: string;
            op: string;
            hlc: string;
            content_hash: string;
          }>,
      ),
    );
  }
  const roomOf = new Map<string, string>();
  for (const a of attempts) if (a.messageId) roomOf.set(a.messageId, a.roomId);

  // Every row is in a room its node stores, and every message comes from one attempted post.
  const postsByHash = new Map<string, Attempt>();
  for (const a of attempts) if (a.kind === 'post') postsByHash.set(sha256(a.content), a);
  // A node that first receives an already edited or deleted message logs its create with that
  // version's hash: only the origin's create carries the post's content, and one must exist.
  const idsOfPost = new Map<Attempt, Set<string>>();
  const createdBy = new Map<string, Attempt | undefined>();
  for (const entry of log) {
    if (entry.op !== 'create') continue;
    const post = postsByHash.get(entry.content_hash);
    if (!createdBy.get(entry.message_id)) createdBy.set(entry.message_id, post);
    if (!post) continue;
    const ids = idsOfPost.get(post) ?? new Set<string>();
    ids.add(entry.message_id);
    idsOfPost.set(post, ids);
  }
  for (const [id, post] of createdBy)
    if (!post) violations.push(`message ${id} was created by no attempted post`);
  for (const [post, ids] of idsOfPost) {
    if (ids.size > 1)
      violations.push(`duplicate: op ${post.op}'s post became ${[...ids].join(', ')}`);
    if (post.acknowledged && !ids.has(post.messageId as string))
      violations.push(`op ${post.op}: acknowledged id ${post.messageId} is not the one stored`);
  }
  for (const [name, nodeRows] of rows) {
    for (const row of nodeRows.values()) {
      const held = holders.get(row.room_id)?.includes(name) ?? false;
      if (!held && !everHeld.get(row.room_id)?.has(name))
        violations.push(`${name} holds ${row.id} of room ${row.room_id}, which it does not store`);
    }
  }

  const hlcOf = (messageId: string, contentHash: string, op: string) =>
    log
      .filter((e) => e.message_id === messageId && e.content_hash === contentHash && e.op === op)
      .map((e) => e.hlc)
      .sort()
      .at(-1);

  for (const a of attempts) {
    if (!a.acknowledged || !a.messageId) continue;
    const id = a.messageId;
    for (const name of holders.get(a.roomId) ?? []) {
      const row = rows.get(name)?.get(id);
      if (!row) {
        violations.push(
          `lost: op ${a.op}'s acknowledged ${a.kind} of ${id} (via ${a.via}) missing on ${name}`,
        );
        continue;
      }
      if (a.kind === 'delete' && row.deleted_at === null)
        violations.push(`resurrected: op ${a.op} deleted ${id} (via ${a.via}), live on ${name}`);
      if (a.kind === 'edit' && row.deleted_at === null) {
        const hlc = hlcOf(id, sha256(a.content), 'update');
        if (!hlc)
          violations.push(`lost: op ${a.op}'s acknowledged edit of ${id} is in no change log`);
        else if (row.hlc < hlc || (row.hlc === hlc && row.content !== a.content))
          violations.push(
            `lost: op ${a.op}'s acknowledged edit of ${id} (hlc ${hlc}) replaced by older ${row.hlc} on ${name}`,
          );
      }
    }
  }
  // Any delete that happened (acknowledged or not) is final on every node that stores the room.
  // A node that left a room keeps the copy it had then, frozen: it is not served (the gateway
  // routes a room only to its holders), and its older versions lose to the tombstone wherever
  // they go, so deletes made after it left are missing there by design. Should it store
  // the room again, it is a holder and checked here, and the tombstone, the newer version, reaches
  // it with the catch-up sync (seed 1862276462).
  for (const entry of log) {
    if (entry.op !== 'delete') continue;
    for (const [name, nodeRows] of rows) {
      const row = nodeRows.get(entry.message_id);
      if (row && row.deleted_at === null && (holders.get(row.room_id)?.includes(name) ?? false))
        violations.push(`resurrected: ${entry.message_id} was deleted, live on ${name}`);
    }
  }

  // Holders agree: same rows, same digests; central's index agrees with them.
  for (const [roomId, names] of holders) {
    const perNode = names.map((name) =>
      JSON.stringify(
        [...(rows.get(name) as Map<string, Row>).values()]
          .filter((r) => r.room_id === roomId)
          .sort((x, y) => (x.id < y.id ? -1 : 1)),
      ),
    );
    if (!perNode.every((r) => r === perNode[0]))
      violations.push(`room ${roomId}: holders ${names.join(', ')} have different rows`);
    const digests = await Promise.all(names.map((n) => cluster.digests(n, [roomId], names)));
    const first = JSON.stringify(digests[0]?.[roomId]);
    if (!digests.every((d) => JSON.stringify(d[roomId]) === first))
      violations.push(`room ${roomId}: digests differ across ${names.join(', ')}`);

    const index: Array<{
      id: string;
      contentHash: string;
      deleted: boolean;
      storageNodes: Array<{ name: string }>;
    }> = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        edges: Array<{ node: (typeof index)[number] }>;
        pageInfo: { hasNextPage: boolean; endCursor: string | null };
      } = ok(
        await cluster.central$<{ messageIndex: any }>(
          'query($r: ID!, $a: String) { messageIndex(roomId: $r, first: 100, after: $a) { edges { node { id contentHash deleted storageNodes { name } } } pageInfo { hasNextPage endCursor } } }',
          { r: roomId, a: after },
        ),
      ).messageIndex;
      index.push(...page.edges.map((e) => e.node));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    const reference = rows.get(names[0] as string) as Map<string, Row>;
    const expected = [...reference.values()].filter((r) => r.room_id === roomId);
    const indexed = new Map(index.map((e) => [e.id, e]));
    for (const row of expected) {
      const entry = indexed.get(row.id);
      if (!entry) {
        violations.push(`index: ${row.id} of room ${roomId} missing from messageIndex`);
        continue;
      }
      if (entry.contentHash !== row.content_hash || entry.deleted !== (row.deleted_at !== null))
        violations.push(
          `index: ${row.id} indexed as ${entry.contentHash.slice(0, 8)}/deleted=${entry.deleted}, nodes hold ${row.content_hash.slice(0, 8)}/deleted=${row.deleted_at !== null}`,
        );
      const storage = entry.storageNodes.map((n) => n.name).sort();
      // A room whose placement changed: every holder is listed, and any node that left may be.
      const moved = (everHeld.get(roomId)?.size ?? names.length) > names.length;
      const listed = moved
        ? names.every((n) => storage.includes(n)) &&
          storage.every((n) => everHeld.get(roomId)?.has(n))
        : JSON.stringify(storage) === JSON.stringify([...names].sort());
      if (!listed)
        violations.push(
          `index: ${row.id} storageNodes ${storage.join(',')}, held by ${[...names].sort().join(',')}`,
        );
    }
    for (const entry of index)
      if (!reference.has(entry.id)) violations.push(`index: ${entry.id} indexed but on no node`);
  }

  // Every ended session says why if it failed.
  const failed = ok(
    await cluster.central$<{ syncSessions: Array<{ id: string; error: string | null }> }>(
      '{ syncSessions(last: 500, status: FAILED) { id error } }',
    ),
  ).syncSessions;
  for (const s of failed)
    if (!s.error?.trim()) violations.push(`session ${s.id} FAILED without a reason`);
  return violations;
}
