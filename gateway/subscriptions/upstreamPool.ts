// Upstream subscriptions shared by every client: one topic per (subscription field, arguments),
// opened when its first client arrives and closed the moment its last one leaves.
// - a central field (nodeStatusChanged, syncSessionUpdated...): one feed to the current central
//   (lib/centralEndpoints.ts), moved to the next when it cannot be opened or everyone moved on;
//   when every central failed, its subscribers are told, and again when a feed is live once more.
// - a room's messages (messageAdded, messageChanged): one feed to EVERY routable node storing the
//   room. A message posted on one node and copied to others by sync arrives once per node: it is
//   passed on once (append-only fields: once per id; others: once per newer version, by HLC).
//   A feed that ends (the node died, restarted, was cut off) is opened again as soon as the node
//   is routable, from the last message id heard from it: the node replays what was committed in
//   between (`messageAdded(after:)`), so nothing is lost while the other storage nodes' feeds
//   carry on. New topics start from their creation time the same way, which also covers the
//   moment between asking a node to subscribe and its subscription being in place.
// - a room none of whose storage nodes can be reached (no feed open, and opening one failed or no
//   node is routable) is announced to its subscribers, and again when a feed is live once more.
import type { GraphQLError } from 'graphql';
import { describe as describeFailure, type CentralEndpoints } from '../../lib/centralEndpoints.ts';
import { Backoff } from '../../lib/backoff.ts';
import { appError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { TransitionLog } from '../../lib/transitionLog.ts';
import type { RoomPlacement, RoutingNode } from '../centralLink.ts';
import type { BridgeEvent, Scope } from './eventExecutor.ts';
import type { BridgedField } from './fieldCatalog.ts';
import { openUpstreamFeed, type UpstreamFeed } from './upstreamFeed.ts';

export interface Subscriber {
  readonly scope: Scope;
  /** Called synchronously for every subscriber of a topic, in upstream order. */
  deliver(event: BridgeEvent): void;
  /** Ends the client's subscription with this error. */
  fail(error: GraphQLError): void;
  /**
   * The room of a room topic can no longer be reached (`false`: none of its storage nodes'
   * feeds is live, and trying to open one failed or no node is routable) or is served again
   * (`true`); for a central topic, no central can be reached (every one failed) or one is live
   * again. Called on each change, in order with `deliver`; a subscriber joining a topic that
   * is unavailable is told at once.
   */
  availability(available: boolean): void;
}

/** Where an upstream feed goes: central, or one chat node. */
export type UpstreamTarget =
  | { readonly kind: 'central' }
  | { readonly kind: 'node'; readonly nodeId: string };

export interface UpstreamPoolOptions {
  /** The centrals, shared with the gateway's other parts: a move by one moves all. */
  readonly central: CentralEndpoints;
  /**
   * The connectionParams of a feed to `target` acting for `scope` (none: the gateway's own).
   * Made when the feed's socket opens, so a reopened feed gets fresh credentials.
   */
  readonly connectionParams: (
    target: UpstreamTarget,
    scope: Scope | undefined,
  ) => Promise<Record<string, unknown>>;
  /** ONLINE nodes serving the expected schema, among the given ids (RoutingTable.candidates). */
  readonly candidates: (nodeIds: readonly string[]) => Promise<RoutingNode[]>;
  /** The room's storage nodes, asked fresh (placement may just have changed). */
  readonly placement: (roomId: string) => Promise<RoomPlacement | null>;
  readonly log: Logger;
  /** Message versions remembered per topic to pass each on once. @default 10_000 */
  readonly dedupeWindow?: number;
  /** First delay before opening a missing feed again; doubles up to 8x. @default 250 */
  readonly retryMs?: number;
}

const CENTRAL = 'central';

/** A UUIDv7-shaped id below every message id made from this millisecond on. */
export function idAtTime(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7000-8000-000000000000`;
}

function stableKey(field: string, args: Readonly<Record<string, unknown>>): string {
  const sorted = Object.keys(args)
    .sort()
    .map((k) => [k, args[k]]);
  return `${field}(${JSON.stringify(sorted)})`;
}

class Topic {
  readonly subscribers = new Set<Subscriber>();
  readonly feeds = new Map<string, UpstreamFeed>();
  /** Per node: the greatest message id heard from it, where its feed resumes. */
  readonly #cursors = new Map<string, string>();
  readonly #startId = idAtTime(Date.now());
  /** Message id -> greatest version passed on; insertion order = age, for the bound. */
  readonly #seen = new Map<string, string>();
  readonly #upstreamQuery: string;
  /** What subscribers were last told; they start out assuming the room is served. */
  #available = true;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #retry: Backoff;
  #reconciling: Promise<void> | undefined;
  #again = false;
  #closed = false;

  constructor(
    readonly pool: UpstreamPool,
    readonly field: BridgedField,
    readonly args: Readonly<Record<string, unknown>>,
    readonly roomId: string | undefined,
  ) {
    this.#retry = new Backoff({ initialMs: pool.retryMs, maxMs: pool.retryMs * 8 });
    const declared = field.arguments.map((a) => `$${a.name}: ${a.type}`);
    const passed = field.arguments.map((a) => `${a.name}: $${a.name}`);
    this.#upstreamQuery =
      `subscription Upstream${declared.length ? `(${declared.join(', ')})` : ''} ` +
      `{ ${field.field}${passed.length ? `(${passed.join(', ')})` : ''} ${field.projection} }`;
  }

  /** Opens the feeds that should be open and are not; safe to call any time, from anywhere. */
  reconcile(): void {
    if (this.#closed) return;
    if (this.#reconciling) {
      this.#again = true;
      return;
    }
    this.#reconciling = this.#reconcile()
      .catch((error: unknown) => {
        this.pool.log.warn(`${this.describe()}: ${(error as Error).message}`);
        this.#scheduleRetry();
      })
      .finally(() => {
        this.#reconciling = undefined;
        if (this.#again) {
          this.#again = false;
          this.reconcile();
        }
      });
  }

  async #reconcile(): Promise<void> {
    if (this.roomId === undefined) {
      const url = this.pool.central.current;
      const open = this.feeds.get(CENTRAL);
      if (open && open.url === url) return;
      // Everyone moved to another central (a request or probe found this one failing).
      open?.close();
      this.feeds.delete(CENTRAL);
      this.#open(CENTRAL, url);
      return;
    }
    const placement = await this.pool.placement(this.roomId);
    if (this.#closed) return;
    if (!placement) {
      for (const s of [...this.subscribers])
        s.fail(appError('NOT_FOUND', `no room ${this.roomId}`));
      return;
    }
    const nodes = await this.pool.candidates(placement.storageNodeIds);
    if (this.#closed) return;
    if (nodes.length === 0 && this.feeds.size === 0) this.#announce(false);
    for (const node of nodes) {
      const open = this.feeds.get(node.id);
      if (open && open.url === node.url) continue;
      open?.close();
      this.#open(node.id, node.url, node.name);
    }
    // Nodes that are down are opened once they are routable again: look again later.
    if (nodes.length < placement.storageNodeIds.length) this.#scheduleRetry();
    else this.#retry.reset();
  }

  #scheduleRetry(): void {
    if (this.#closed || this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      this.reconcile();
    }, this.#retry.next());
    this.#retryTimer.unref();
  }

  /**
   * Whom a feed acts for: the subscriber whose token lasts longest (a node ends the feed when
   * that token expires; it is then reopened for whoever is left), the newest of equals.
   */
  #actingFor(): Scope | undefined {
    let chosen: Subscriber | undefined;
    for (const s of this.subscribers) {
      if (
        !chosen ||
        (s.scope.viewer.expiresAt ?? Infinity) >= (chosen.scope.viewer.expiresAt ?? Infinity)
      )
        chosen = s;
    }
    return chosen?.scope;
  }

  #open(instance: string, url: string, name = instance): void {
    const variables: Record<string, unknown> = { ...this.args };
    if (this.field.resumable) variables['after'] = this.#cursors.get(instance) ?? this.#startId;
    const target: UpstreamTarget =
      instance === CENTRAL ? { kind: 'central' } : { kind: 'node', nodeId: instance };
    // Read when the socket opens, not now: the subscribers may have changed by then.
    const connectionParams = () => this.pool.connectionParams(target, this.#actingFor());
    const feed = openUpstreamFeed({
      url,
      connectionParams,
      query: this.#upstreamQuery,
      variables,
      onData: (data) => {
        this.pool.feedLog.recovered(name, `feeds from ${name} deliver again`);
        this.#onData(instance, data);
      },
      onConnected: () => {
        if (this.feeds.get(instance) !== feed) return;
        if (instance === CENTRAL) this.pool.central.answered(url);
        this.#announce(true);
      },
      onEnd: (error, connected) => {
        if (this.feeds.get(instance) !== feed) return;
        this.feeds.delete(instance);
        // Per source, not per topic and retry: a dead node ends every feed of every room it
        // stores, again at each reopening (issue 17: 169 lines in a 44 s outage).
        this.pool.feedLog.failing(
          name,
          `feeds from ${name} end (${error.message}; first: ${this.describe()}); reopening them`,
        );
        if (instance === CENTRAL) {
          // Straight to the next central; only when every one failed are subscribers told.
          if (!connected) this.pool.central.failed(url, describeFailure(error));
          if (!this.pool.central.allFailing()) {
            this.#retry.reset();
            this.reconcile();
            return;
          }
          this.#announce(false);
          this.#scheduleRetry();
          return;
        }
        // A live feed that drops is opened again first (a restart, a dropped socket): only a
        // node that refuses the connection, with no other feed live or still connecting, makes
        // the room unreachable.
        if (!connected && this.feeds.size === 0) this.#announce(false);
        this.#scheduleRetry();
      },
    });
    this.feeds.set(instance, feed);
  }

  /** Tells the subscribers when the room (or, for a central topic, central) goes or comes back. */
  #announce(available: boolean): void {
    if (this.#available === available) return;
    this.#available = available;
    if (this.roomId !== undefined)
      this.pool.log.info(
        `${this.describe()}: room ${this.roomId} ${available ? 'is served again' : 'cannot be reached'}`,
      );
    else
      this.pool.log.debug(
        `${this.describe()}: ${available ? 'central delivers again' : 'no central can be reached'}`,
      );
    for (const subscriber of [...this.subscribers]) subscriber.availability(available);
  }

  /**
   * The gateway's link says whether any central answers: a central that hangs keeps its feeds
   * open but silent, so its subscribers are told by the link (central topics only). Back up, a
   * feed still live announces the return; one that ended does when it reconnects. A live feed
   * whose central still answers (`answering`: the link is down only because its own event
   * stream has not reopened yet) is no outage: telling subscribers so would contradict the
   * CENTRAL_AVAILABLE the feed just announced.
   */
  centralState(connected: boolean, answering: boolean): void {
    if (this.roomId !== undefined) return;
    // A feed that ended already tells its own story (onEnd); one still open (live but silent,
    // or stuck connecting) needs this.
    const feed = this.feeds.get(CENTRAL);
    if (!connected) {
      if (feed && !(feed.live && answering)) this.#announce(false);
    } else if (feed?.live) this.#announce(true);
    else if (!feed) this.reconcile();
  }

  /** Whether subscribers were last told the room is served. */
  get available(): boolean {
    return this.#available;
  }

  #onData(instance: string, data: Record<string, unknown>): void {
    const value = data[this.field.field] as Record<string, unknown> | null | undefined;
    const id = value?.['id'];
    if (!value || typeof id !== 'string') return;
    if (this.roomId !== undefined) {
      if (this.field.resumable) {
        const cursor = this.#cursors.get(instance);
        if (cursor === undefined || id > cursor) this.#cursors.set(instance, id);
      }
      if (!this.#firstTime(id, value['hlc'])) return;
    }
    this.pool.dispatch(this, {
      serial: this.pool.nextSerial(),
      entity: { subgraph: this.field.subgraph, lookupField: this.field.lookupField, id, value },
    });
  }

  /** Whether this version is to be passed on, remembering it if so. */
  #firstTime(id: string, hlc: unknown): boolean {
    const version = typeof hlc === 'string' ? hlc : '';
    const previous = this.#seen.get(id);
    // Append-only fields (messageAdded) pass a message on once, whatever version a node has;
    // the others once per newer version (HLC strings compare in clock order).
    if (previous !== undefined && (this.field.resumable || version <= previous)) return false;
    this.#seen.delete(id);
    this.#seen.set(id, version);
    if (this.#seen.size > this.pool.dedupeWindow) {
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    return true;
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    for (const feed of this.feeds.values()) feed.close();
    this.feeds.clear();
  }

  describe(): string {
    return stableKey(this.field.field, this.args);
  }
}

export class UpstreamPool {
  readonly central: CentralEndpoints;
  readonly connectionParams: UpstreamPoolOptions['connectionParams'];
  readonly candidates: UpstreamPoolOptions['candidates'];
  readonly placement: UpstreamPoolOptions['placement'];
  readonly log: Logger;
  readonly dedupeWindow: number;
  readonly retryMs: number;
  /** Feeds ending, one line per source going down and one coming back. */
  readonly feedLog: TransitionLog;
  readonly #topics = new Map<string, Topic>();
  readonly #unfollow: () => void;
  #serial = 0;

  constructor(options: UpstreamPoolOptions) {
    this.central = options.central;
    // Central topics follow everyone else to the new central.
    this.#unfollow = options.central.onSwitch(() => {
      for (const topic of this.#topics.values()) if (topic.roomId === undefined) topic.reconcile();
    });
    this.connectionParams = options.connectionParams;
    this.candidates = options.candidates;
    this.placement = options.placement;
    this.log = options.log;
    this.dedupeWindow = options.dedupeWindow ?? 10_000;
    this.retryMs = options.retryMs ?? 250;
    this.feedLog = new TransitionLog(options.log);
  }

  /**
   * Adds a subscriber to the topic of (field, args), opening it if needed. Returns the function
   * that removes it again (closing the topic's upstream feeds if it was the last).
   */
  join(
    field: BridgedField,
    args: Readonly<Record<string, unknown>>,
    subscriber: Subscriber,
  ): () => void {
    const key = stableKey(field.field, args);
    let topic = this.#topics.get(key);
    const roomId = typeof args['roomId'] === 'string' ? args['roomId'] : undefined;
    if (!topic) {
      topic = new Topic(this, field, args, field.roomScoped ? roomId : undefined);
      this.#topics.set(key, topic);
      topic.subscribers.add(subscriber);
      topic.reconcile();
    } else {
      topic.subscribers.add(subscriber);
      if (!topic.available) subscriber.availability(false);
    }
    const joined = topic;
    return () => {
      joined.subscribers.delete(subscriber);
      if (joined.subscribers.size === 0 && this.#topics.get(key) === joined) {
        joined.close();
        this.#topics.delete(key);
      }
    };
  }

  dispatch(topic: Topic, event: BridgeEvent): void {
    for (const subscriber of [...topic.subscribers]) subscriber.deliver(event);
  }

  nextSerial(): number {
    return ++this.#serial;
  }

  /** Open upstream subscriptions (one per topic and subgraph instance). */
  upstreamCount(): number {
    let count = 0;
    for (const topic of this.#topics.values()) count += topic.feeds.size;
    return count;
  }

  /** Clients subscribed through the pool. */
  subscriberCount(): number {
    let count = 0;
    for (const topic of this.#topics.values()) count += topic.subscribers.size;
    return count;
  }

  /** Subscribers of a room's topics, e.g. to check their membership again. */
  roomSubscribers(roomId: string): Subscriber[] {
    return [...this.#topics.values()]
      .filter((t) => t.roomId === roomId)
      .flatMap((t) => [...t.subscribers]);
  }

  /** The link to central went down or came back (centralLink.ts onStateChange). */
  centralState(connected: boolean, answering: boolean): void {
    for (const topic of this.#topics.values()) topic.centralState(connected, answering);
  }

  /** A node or room changed: open whatever feeds became possible. */
  reconcile(roomId?: string): void {
    for (const topic of this.#topics.values())
      if (roomId === undefined || topic.roomId === roomId) topic.reconcile();
  }

  close(): void {
    this.#unfollow();
    for (const topic of this.#topics.values()) topic.close();
    this.#topics.clear();
  }
}
