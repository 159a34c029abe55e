// The gateway's live view of the cluster: which nodes exist, which are ONLINE and serve the
// expected schema, and which nodes store each room. Learned from central at start and kept
// current from central's events, so nodes come and go without a restart or recomposition.
import DataLoader from 'dataloader';
import { fullJitterDelay } from '../lib/backoff.ts';
import { answersOk } from '../lib/httpClient.ts';
import type { Logger } from '../lib/log.ts';
import type {
  CentralLink,
  CentralLinkState,
  GatewayEvent,
  RoomPlacement,
  RoutingNode,
} from './centralLink.ts';
import { NodeHealth, type HealthState, type HealthView } from './nodeHealth.ts';
import { canonicalSdl, sdlDifference } from './schemaCheck.ts';

export type SchemaState =
  | { readonly state: 'pending' }
  | { readonly state: 'ok' }
  | { readonly state: 'mismatch'; readonly differences: readonly string[] }
  | { readonly state: 'unreachable'; readonly reason: string };

interface Entry {
  node: RoutingNode;
  schema: SchemaState;
  check: Promise<void> | undefined;
  /**
   * Counts the schema checks started: only the latest one's answer counts. Not the node object,
   * which every event and reload replace even when its url and status are unchanged; a check
   * whose node object was replaced meanwhile was dropped, and the node stayed `pending` for good
   * (seen when central's events came through PostgreSQL's NOTIFY, in their own time).
   */
  checks: number;
}

export interface RoutingTableOptions {
  readonly link: CentralLink;
  /** Canonical SDL every node must serve (see schemaCheck.ts). */
  readonly expectedSdl: string;
  /** Fetches a node's `_service { sdl }`. */
  readonly fetchSdl: (node: RoutingNode) => Promise<string>;
  readonly log: Logger;
  /** Clamps of the hedge bound (nodeHealth.ts). @default 50 and 300 */
  readonly hedgeMinMs?: number;
  readonly hedgeMaxMs?: number;
  /** Deadline of a health probe of a node that failed. @default 1000 */
  readonly probeTimeoutMs?: number;
  /** First delay before probing a node that failed; doubles up to 8x. @default 250 */
  readonly probeIntervalMs?: number;
}

export interface RoutingReport {
  /** An event stream to some central is open and a central answered lately (centralLink.ts). */
  readonly centralConnected: boolean;
  readonly central: CentralLinkState;
  readonly nodes: ReadonlyArray<{
    readonly id: string;
    readonly name: string;
    readonly url: string;
    readonly status: string;
    readonly schema: SchemaState;
    /** True while the gateway's own view (`health`) is not healthy. */
    readonly suspect: boolean;
    readonly health: HealthView;
  }>;
}

export class RoutingTable {
  readonly #options: RoutingTableOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #placements: DataLoader<string, RoomPlacement | null>;
  /** The gateway's own view of each node's health, for routing (central's is for OFFLINE). */
  readonly health: NodeHealth;
  /**
   * The last placement central gave per room, kept across roomChanged and reloads: when central
   * cannot be asked, a room it placed before is routed as it last was (at most one entry per room
   * central knows).
   */
  readonly #lastKnown = new Map<string, RoomPlacement>();
  #watch: { stop(): void } | undefined;
  #stopped = false;
  #loaded: Promise<void> | undefined;
  #reloading: Promise<void> | undefined;

  constructor(options: RoutingTableOptions) {
    this.#options = options;
    this.#placements = new DataLoader(async (ids) => {
      let rows: readonly RoomPlacement[];
      try {
        rows = await options.link.rooms(ids);
      } catch (error) {
        // A fallback stays cached until central is back (its reconnection reloads everything).
        return ids.map((id) => this.#lastKnown.get(id) ?? (error as Error));
      }
      const found = new Map(rows.map((p) => [p.id, p]));
      return ids.map((id) => {
        const placement = found.get(id) ?? null;
        if (placement) this.#lastKnown.set(id, placement);
        else this.#lastKnown.delete(id);
        return placement;
      });
    });
    const probeTimeoutMs = options.probeTimeoutMs ?? 1000;
    this.health = new NodeHealth({
      log: options.log,
      ...(options.hedgeMinMs === undefined ? {} : { hedgeMinMs: options.hedgeMinMs }),
      ...(options.hedgeMaxMs === undefined ? {} : { hedgeMaxMs: options.hedgeMaxMs }),
      ...(options.probeIntervalMs === undefined
        ? {}
        : { probeIntervalMs: options.probeIntervalMs }),
      probe: async (id) => {
        const entry = this.#entries.get(id);
        if (entry?.node.status !== 'ONLINE') return 'skip';
        return (await answersOk(`${entry.node.url}/health`, probeTimeoutMs)) ? 'ok' : 'failed';
      },
    });
  }

  /** Loads the table and follows central's events. Resolves once the first load is done. */
  start(): Promise<void> {
    this.#loaded ??= new Promise<void>((resolve) => {
      this.#watch = this.#options.link.watch(
        (event) => this.#onEvent(event),
        () => {
          // Anything may have changed while disconnected: start over from central's state.
          void this.reload().then(resolve, (error: unknown) => {
            this.#options.log.warn(
              `loading nodes from central failed: ${(error as Error).message}`,
            );
          });
        },
      );
    });
    return this.#loaded;
  }

  stop(): void {
    this.#watch?.stop();
    this.#stopped = true;
    this.health.close();
  }

  async reload(): Promise<void> {
    this.#reloading ??= (async () => {
      try {
        const nodes = await this.#options.link.nodes();
        this.#placements.clearAll();
        const seen = new Set<string>();
        for (const node of nodes) {
          seen.add(node.id);
          this.#upsert(node);
        }
        for (const id of [...this.#entries.keys()]) {
          if (seen.has(id)) continue;
          this.#entries.delete(id);
          this.health.forget(id);
        }
      } finally {
        this.#reloading = undefined;
      }
    })();
    return this.#reloading;
  }

  #upsert(node: RoutingNode): void {
    const entry = this.#entries.get(node.id);
    if (!entry) {
      const created: Entry = { node, schema: { state: 'pending' }, check: undefined, checks: 0 };
      this.#entries.set(node.id, created);
      this.health.track(node.id, node.name);
      if (node.status === 'ONLINE') this.#checkSchema(created);
      return;
    }
    const cameOnline = entry.node.status !== 'ONLINE' && node.status === 'ONLINE';
    const moved = entry.node.url !== node.url;
    entry.node = node;
    this.health.track(node.id, node.name);
    if (cameOnline || moved) {
      // A node that restarted may run another build: check its schema again.
      this.health.reset(node.id);
      entry.schema = { state: 'pending' };
      this.#checkSchema(entry);
    }
  }

  #onEvent(event: GatewayEvent): void {
    switch (event.type) {
      case 'nodeStatusChanged': {
        const entry = this.#entries.get(event.nodeId);
        if (!entry) {
          void this.reload().catch(() => {});
          return;
        }
        this.#upsert({ ...entry.node, status: event.status });
        return;
      }
      case 'nodeChanged':
        void this.reload().catch((error: unknown) =>
          this.#options.log.warn(`reload failed: ${(error as Error).message}`),
        );
        return;
      case 'roomChanged':
        this.#placements.clear(event.roomId);
        return;
    }
  }

  #checkSchema(entry: Entry, attempt = 0): void {
    const node = entry.node;
    const check = ++entry.checks;
    const latest = () => entry.checks === check && this.#entries.get(node.id) === entry;
    entry.check = (async () => {
      try {
        const actual = canonicalSdl(await this.#options.fetchSdl(node));
        if (!latest()) return;
        if (actual === this.#options.expectedSdl) {
          entry.schema = { state: 'ok' };
          this.#options.log.info(`node ${node.name} routable at ${node.url}`);
        } else {
          const differences = sdlDifference(this.#options.expectedSdl, actual);
          entry.schema = { state: 'mismatch', differences };
          this.#options.log.warn(
            `node ${node.name} serves a different schema and will not be routed to: ${differences.join('; ')}`,
          );
        }
      } catch (error) {
        if (!latest()) return;
        entry.schema = { state: 'unreachable', reason: (error as Error).message };
        // A node reports ONLINE as soon as it heartbeats, which may be a moment before it
        // serves: ask again, less and less often, while it stays ONLINE.
        const delay = fullJitterDelay(attempt, { initialMs: 250, maxMs: 10_000 });
        this.#options.log.debug(
          `node ${node.name}: schema check failed (${(error as Error).message}); again in ${delay} ms`,
        );
        setTimeout(() => {
          if (latest() && entry.node.status === 'ONLINE') this.#checkSchema(entry, attempt + 1);
        }, delay).unref();
      }
    })();
  }

  /** The room's storage nodes, home first; null for a room central does not know. */
  placement(roomId: string): Promise<RoomPlacement | null> {
    return this.#placements.load(roomId).catch((error: unknown) => {
      // A failure is not cached: the next request asks central again.
      this.#placements.clear(roomId);
      throw error;
    });
  }

  /** A node said the room's placement moved: the next lookup asks central again. */
  forgetPlacement(roomId: string): void {
    this.#placements.clear(roomId);
  }

  /**
   * Of the given node ids (all nodes when omitted), those a request can go to: ONLINE and
   * serving the expected schema, in the given order, healthy ones first, then suspect, then down
   * (in the gateway's own view: nodeHealth.ts).
   */
  async candidates(ids?: readonly string[]): Promise<RoutingNode[]> {
    const entries = (ids ?? [...this.#entries.keys()])
      .map((id) => this.#entries.get(id))
      .filter((e): e is Entry => e !== undefined && e.node.status === 'ONLINE');
    await Promise.all(entries.map((e) => e.check ?? Promise.resolve()));
    const usable = entries.filter((e) => e.schema.state === 'ok');
    const rank: Record<HealthState, number> = { healthy: 0, suspect: 1, down: 2 };
    // A stable sort: the given order (home node first) holds among equals.
    return usable
      .map((e) => ({ e, rank: rank[this.health.state(e.node.id)] }))
      .sort((a, b) => a.rank - b.rank)
      .map(({ e }) => e.node);
  }

  /** True when the gateway's own view of the node is not healthy (it is then tried last). */
  isSuspect(nodeId: string): boolean {
    return this.health.state(nodeId) !== 'healthy';
  }

  report(): RoutingReport {
    const central: CentralLinkState = this.#stopped
      ? { connected: false, reason: 'the gateway is stopping', centrals: [] }
      : this.#options.link.state();
    return {
      centralConnected: central.connected,
      central,
      nodes: [...this.#entries.values()].map((e) => ({
        id: e.node.id,
        name: e.node.name,
        url: e.node.url,
        status: e.node.status,
        schema: e.schema,
        suspect: this.health.state(e.node.id) !== 'healthy',
        health: this.health.view(e.node.id),
      })),
    };
  }
}
