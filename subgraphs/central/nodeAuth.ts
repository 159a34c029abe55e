// Authenticating a node by its X-Node-API-Key: the key's SHA-256 is looked up, then compared in
// constant time; a rotated key no longer matches any row and fails at once.
//
// Every internal request is authenticated, and a node sends several a second (live reports,
// heartbeats, pulls): a select per request was central's most frequent statement, and its count
// grew with the number of nodes. The rows found are kept for NODE_AUTH_TTL_MS, keyed by the key's
// digest. What may change a node's authentication or the row its handlers read is forgotten:
//   - on the central that changed it, before the mutation answers (`forget`, called by the
//     registration, rotation, update and removal code): a rotated key or a removed node is refused
//     at once there;
//   - on every central, when the event that change publishes arrives (nodeChanged,
//     nodeStatusChanged): with several centrals on one PostgreSQL, that is the NOTIFY's delay;
//   - on every central, all of them, when its event listener is back after a drop (the bus's gap):
//     the events sent meanwhile are lost;
//   - in any case after NODE_AUTH_TTL_MS: the bound of staleness if an event were lost otherwise
//     (a central dying between its commit and its NOTIFY), for another central's rotation or
//     removal.
// Misses are not kept: an unknown key costs its select each time, as before.
import type { IncomingMessage } from 'node:http';
import { and, eq } from 'drizzle-orm';
import { LRUCache } from 'lru-cache';
import { hashApiKey, NODE_KEY_HEADER, sameDigest } from '../../lib/nodeKeys.ts';
import type { CentralDatabase } from './db/open.ts';
import { activeNode, nodes, type NodeRow } from './db/schema.ts';
import type { EventBus } from './events.ts';

/** How long a node's row authenticates its key without a select. */
export const NODE_AUTH_TTL_MS = 5_000;
/** Nodes kept at most (a cluster has tens; a bound all the same). */
const MAX_NODES = 10_000;

/** Reads a node's row once per TTL; see the file's comment for what forgets it earlier. */
export class NodeAuthenticator {
  readonly #db: CentralDatabase;
  readonly #cache: LRUCache<string, NodeRow>;
  /** Bumped by every forget: a select that began before one does not store its (older) row. */
  #generation = 0;
  readonly #unsubscribe: () => void;
  readonly #unsubscribeGap: () => void;

  constructor(db: CentralDatabase, events: EventBus, ttlMs = NODE_AUTH_TTL_MS) {
    this.#db = db;
    this.#cache = new LRUCache({ max: MAX_NODES, ttl: Math.max(1, ttlMs) });
    this.#unsubscribe = events.subscribe((event) => {
      if (event.type === 'nodeChanged' || event.type === 'nodeStatusChanged')
        this.forget(event.nodeId);
    });
    this.#unsubscribeGap = events.onGap(() => this.forgetAll());
  }

  /** The node the request's key belongs to, or null. */
  async authenticate(req: Pick<IncomingMessage, 'headers'>): Promise<NodeRow | null> {
    const header = req.headers[NODE_KEY_HEADER];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key || key.length > 512) return null;
    const digest = hashApiKey(key);
    const kept = this.#cache.get(digest);
    if (kept) return kept;
    const generation = this.#generation;
    const [node] = await this.#db
      .select()
      .from(nodes)
      .where(and(eq(nodes.apiKeyHash, digest), activeNode));
    if (!node || !sameDigest(node.apiKeyHash, digest)) return null;
    if (generation === this.#generation) this.#cache.set(digest, node);
    return node;
  }

  /**
   * The node's row as this central just wrote it (a heartbeat's lastSeenAt, URL, clock, status):
   * its next requests are handled with it rather than with the row read before.
   */
  remember(node: NodeRow): void {
    // Without extending its time: the TTL still bounds what another central changed.
    if (this.#cache.has(node.apiKeyHash))
      this.#cache.set(node.apiKeyHash, node, { noUpdateTTL: true });
  }

  /** Changes with every forget: what a caller read before a change must not be stored after it. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Rows just read from the database (the heartbeats' batched write answers them), stored as a
   * select would store them, with a fresh TTL: unless something was forgotten since `generation`,
   * or the key the node authenticates with is no longer the row's (a rotation: the old key's row
   * then runs out).
   */
  refresh(rows: readonly NodeRow[], generation: number): void {
    if (generation !== this.#generation) return;
    for (const row of rows)
      if (this.#cache.has(row.apiKeyHash)) this.#cache.set(row.apiKeyHash, row);
  }

  /** The node's row is read again at its next request. */
  forget(nodeId: string): void {
    this.#generation += 1;
    // Collected first: the cache is not changed while it is walked.
    const digests = [...this.#cache.entries()]
      .filter(([, node]) => node.id === nodeId)
      .map(([digest]) => digest);
    for (const digest of digests) this.#cache.delete(digest);
  }

  /** Every row is read again at its node's next request. */
  forgetAll(): void {
    this.#generation += 1;
    this.#cache.clear();
  }

  close(): void {
    this.#unsubscribe();
    this.#unsubscribeGap();
    this.#cache.clear();
  }
}
