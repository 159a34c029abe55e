// The sync coordinator: turns triggers into coalesced sessions, sends each PENDING session to its
// target node as a job over the node's job stream, records the target's reports, and recovers
// sessions that a crash of the target (or of central) cut short. It knows nothing of HTTP: the
// job stream is any `JobStream` (see ./httpApi.ts for the Server-Sent Events binding).
//
// Every state change is written to the database first and then published as `syncSessionUpdated`
// on the event bus; replicas of central react to those events (dispatch to the targets whose
// stream they hold), so the database stays the one source of truth.
import { eq } from 'drizzle-orm';
import { appError, codeOf } from '../../../lib/errors.ts';
import type { MembershipNotice, PlacementNotice } from '../../../lib/nodeNotices.ts';
import type {
  LivePeer,
  LiveReport,
  LiveReportResponse,
  LiveReportResult,
  LiveReportsResponse,
  SyncJob,
  SyncReport,
  SyncReportResponse,
  SyncTrigger,
  SyncType,
} from '../../../lib/syncProtocol.ts';
import { nodeLabel } from '../../../lib/syncProtocol.ts';
import type { CentralServices } from '../context.ts';
import { syncSessions, type NodeRow, type SyncSessionRow } from '../db/schema.ts';
import type { CentralEvent, NodeNotice } from '../events.ts';
import { writableRoomsOf } from '../nodeNotices.ts';
import { recordLiveReport, recordLiveReports } from './liveReport.ts';
import { recordReport } from './report.ts';
import type { RefusedEntry } from './reportScope.ts';
import {
  claimSession,
  completeEmpty,
  enqueueSession,
  failRunning,
  orphaned,
  pairKey,
  pendingSessionsOf,
  runningOfTarget,
  sessionsById,
  stuck,
  stuckReason,
  type Pair,
} from './sessions.ts';
import { toSnapshot } from './snapshot.ts';
import { loadTopology, TopologyCache, type Topology } from './topology.ts';
import type { TokenSigner } from '../tokens.ts';

/** One open job stream of a node (e.g. a Server-Sent Events response). */
export interface JobStream {
  send(job: SyncJob): void;
  /** The node's complete set of live peers (the `peers` event). */
  sendPeers(peers: readonly LivePeer[]): void;
  /** A notice (lib/nodeNotices.ts): the rooms the node takes writes for, or a member removed. */
  sendNotice(event: 'placement' | 'membership', notice: PlacementNotice | MembershipNotice): void;
  /** Ends the stream from central's side (a newer stream of the node replaces it, shutdown). */
  close(): void;
}

export interface SyncCoordinatorOptions {
  readonly services: Pick<CentralServices, 'db' | 'events' | 'log'>;
  /** Signs the pull token each job carries (the target shows it to the source's feed). */
  readonly tokens: Pick<TokenSigner, 'signPull'>;
  /** Versions per batch the targets are asked to pull. @default 1000 */
  readonly batchSize?: number;
  /**
   * Versions per batch in FULL sessions: a FULL sync moves every version of its rooms, and fewer,
   * larger batches cost the source, the target and central less per version. @default 5000
   */
  readonly fullBatchSize?: number;
  /** This central process's id (instanceLease.ts): the owner of the sessions it dispatches. */
  readonly instanceId: string;
  /**
   * No other central shares the database (embedded PGlite): at start every session still running
   * is a past run's, whatever its owner's lease says. @default false
   */
  readonly alone?: boolean;
  /**
   * How often sessions of dead owners and stuck sessions are looked for. A third of the lease
   * keeps a takeover within lease + a third of it after a crash. @default 5000
   */
  readonly sweepIntervalMs?: number;
  /**
   * An IN_PROGRESS session with no report for this long while its target is ONLINE is failed and
   * queued again. Longer than a target may work on one batch (a source's 30 s timeout). @default 60000
   */
  readonly stuckAfterMs?: number;
}

const MAX_REFUSED_LOGGED = 20;
export const DEFAULT_STUCK_AFTER_MS = 60_000;

export const RESTART_REASON = 'central restarted; resumed in a new session';
export const OWNER_GONE_REASON =
  'the central that sent it stopped renewing its lease; resumed in a new session';

export const RECONNECT_REASON = 'target node reconnected; resumed in a new session';
export const DISCONNECT_REASON =
  'target node disconnected; resumes in a new session when it is back';

interface Attached {
  readonly node: NodeRow;
  readonly stream: JobStream;
  /** Sessions sent on this stream: the ones to fail if it drops. */
  readonly sessions: Set<string>;
  open: boolean;
  /** Closed because a newer stream of the same node arrived: that one recovers the sessions. */
  replaced: boolean;
  /** The live peers last sent (sources, URLs, rooms): an identical set is not sent again. */
  peers: string | undefined;
  /** The writable rooms last sent, likewise. */
  placement: string | undefined;
}

export class SyncCoordinator {
  readonly #db: SyncCoordinatorOptions['services']['db'];
  readonly #events: SyncCoordinatorOptions['services']['events'];
  readonly #log: SyncCoordinatorOptions['services']['log'];
  readonly #tokens: SyncCoordinatorOptions['tokens'];
  readonly #batchSize: number;
  readonly #fullBatchSize: number;
  readonly #instanceId: string;
  readonly #alone: boolean;
  readonly #sweepIntervalMs: number;
  readonly #stuckAfterMs: number;
  #sweepTimer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> = Promise.resolve();
  readonly #streams = new Map<string, Set<Attached>>();
  /** Per target node: connect, disconnect and dispatch run one after another. */
  readonly #chains = new Map<string, Promise<void>>();
  readonly #dispatchQueued = new Set<string>();
  readonly #peersQueued = new Set<string>();
  /** One topology read shared by the peer refreshes queued since the last event (#refreshPeers). */
  #refreshTopology: Promise<Topology> | undefined;
  #unsubscribe: (() => void) | undefined;
  #closing = false;
  /** Valid while the coordinator hears events: they invalidate it (#onEvent). */
  readonly #topology: TopologyCache;

  constructor(options: SyncCoordinatorOptions) {
    this.#db = options.services.db;
    this.#events = options.services.events;
    this.#log = options.services.log;
    this.#tokens = options.tokens;
    this.#batchSize = options.batchSize ?? 1000;
    this.#fullBatchSize = options.fullBatchSize ?? 5000;
    this.#instanceId = options.instanceId;
    this.#alone = options.alone ?? false;
    this.#sweepIntervalMs = options.sweepIntervalMs ?? 5000;
    this.#stuckAfterMs = options.stuckAfterMs ?? DEFAULT_STUCK_AFTER_MS;
    this.#topology = new TopologyCache(this.#db);
  }

  /**
   * Which nodes store which rooms: the rooms' placement kept between central's events, the nodes
   * read afresh. Read whole before the coordinator hears events (start()).
   */
  topology(): Promise<Topology> {
    return this.#unsubscribe ? this.#topology.get() : loadTopology(this.#db);
  }

  /**
   * Fails the sessions that dead centrals left IN_PROGRESS (their targets keep what they applied:
   * the cursor is stored with it) and queues their continuation, then starts reacting to events
   * and sweeping. Sessions of centrals whose lease runs are theirs: a central that starts leaves
   * them alone.
   */
  async start(): Promise<void> {
    const cut = await failRunning(
      this.#db,
      orphaned(this.#instanceId, this.#alone),
      this.#alone ? RESTART_REASON : OWNER_GONE_REASON,
    );
    await this.#resume(cut);
    const unsubscribe = this.#events.subscribe((event) => this.#onEvent(event));
    const unsubscribeGap = this.#events.onGap(() => this.#onGap());
    this.#unsubscribe = () => {
      unsubscribe();
      unsubscribeGap();
    };
    this.#armSweep();
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearTimeout(this.#sweepTimer);
    await this.#sweeping;
    this.#unsubscribe?.();
    for (const set of this.#streams.values()) for (const a of set) a.stream.close();
    this.#streams.clear();
    await Promise.allSettled([...this.#chains.values()]);
  }

  /** Queues a pull of `pair` (coalesced) and publishes what changed. */
  async enqueue(pair: Pair, syncType: SyncType, trigger: SyncTrigger): Promise<SyncSessionRow> {
    const result = await enqueueSession(this.#db, pair, syncType, trigger);
    if (result.created || result.upgraded) await this.#publish(result.session);
    return result.session;
  }

  /**
   * For a node N: N pulls from every ONLINE node it shares a room with, and each of them pulls from
   * N. Without a node: every ONLINE node pulls from every ONLINE node it shares a room with.
   */
  async trigger(
    nodeId: string | undefined,
    syncType: SyncType,
    trigger: SyncTrigger,
  ): Promise<SyncSessionRow[]> {
    const topology = await this.topology();
    const online = (n: NodeRow | undefined) => n !== undefined && n.status === 'ONLINE';
    const pairs: Pair[] = [];
    const targets =
      nodeId === undefined
        ? [...topology.nodes.values()].filter(online).map((n) => n.id)
        : [nodeId];
    for (const target of targets) {
      for (const peer of topology.peersOf(target).filter(online)) {
        pairs.push({ sourceNodeId: peer.id, targetNodeId: target });
        if (nodeId !== undefined) pairs.push({ sourceNodeId: target, targetNodeId: peer.id });
      }
    }
    return this.#enqueueAll(pairs, syncType, trigger);
  }

  /** A scheduled pull: `nodeId` pulls INCREMENTAL from every ONLINE peer. */
  async schedule(nodeId: string): Promise<SyncSessionRow[]> {
    const topology = await this.topology();
    const node = topology.nodes.get(nodeId);
    if (!node || node.status !== 'ONLINE' || !node.syncEnabled) return [];
    const pairs = topology
      .peersOf(nodeId)
      .filter((peer) => peer.status === 'ONLINE')
      .map((peer) => ({ sourceNodeId: peer.id, targetNodeId: nodeId }));
    return this.#enqueueAll(pairs, 'INCREMENTAL', 'SCHEDULE');
  }

  /** Local writes on `node` changed these rooms: their other ONLINE storage nodes pull from it. */
  async roomsChanged(node: NodeRow, roomIds: readonly string[]): Promise<SyncSessionRow[]> {
    const topology = await this.topology();
    const targets = new Set<string>();
    for (const roomId of roomIds) {
      const holders = topology.storage.get(roomId);
      if (!holders?.includes(node.id)) continue;
      for (const id of holders) {
        if (id !== node.id && topology.nodes.get(id)?.status === 'ONLINE') targets.add(id);
      }
    }
    const pairs = [...targets].map((target) => ({ sourceNodeId: node.id, targetNodeId: target }));
    return this.#enqueueAll(pairs, 'INCREMENTAL', 'CHANGE');
  }

  /** `target` asks to pull from `sourceNodeId` (deferred versions came due): one session, if they share a room. */
  async pullRequested(target: NodeRow, sourceNodeId: string): Promise<SyncSessionRow[]> {
    const topology = await this.topology();
    const source = topology
      .peersOf(target.id)
      .find((peer) => peer.id === sourceNodeId && peer.status === 'ONLINE');
    if (!source) return [];
    return this.#enqueueAll(
      [{ sourceNodeId: source.id, targetNodeId: target.id }],
      'INCREMENTAL',
      'CHANGE',
    );
  }

  async #enqueueAll(
    pairs: readonly Pair[],
    syncType: SyncType,
    trigger: SyncTrigger,
  ): Promise<SyncSessionRow[]> {
    const seen = new Set<string>();
    const sessions: SyncSessionRow[] = [];
    for (const pair of pairs) {
      if (seen.has(pairKey(pair))) continue;
      seen.add(pairKey(pair));
      sessions.push(await this.enqueue(pair, syncType, trigger));
    }
    return sessions;
  }

  /**
   * A node opened its job stream. Its older streams are closed and every session it had IN_PROGRESS
   * is failed and continued in a new one: the node restarted or lost the stream, and its stored
   * cursor makes the new session a resume. It also catches up with its ONLINE peers. Returns the
   * function to call when the stream ends.
   */
  attach(node: NodeRow, stream: JobStream): () => void {
    const attached: Attached = {
      node,
      stream,
      sessions: new Set(),
      open: true,
      replaced: false,
      peers: undefined,
      placement: undefined,
    };
    const set = this.#streams.get(node.id) ?? new Set<Attached>();
    const older = [...set];
    set.add(attached);
    this.#streams.set(node.id, set);
    void this.#serial(node.id, async () => {
      for (const old of older) {
        old.replaced = true;
        old.open = false;
        set.delete(old);
        old.stream.close();
      }
      const live = [...set].flatMap((a) => [...a.sessions]);
      await this.#resume(
        await failRunning(this.#db, runningOfTarget(node.id, live), RECONNECT_REASON),
      );
      await this.#sendPeers(node.id);
      await this.#sendPlacement(node.id);
      await this.#catchUp(node.id);
      await this.#dispatch(node.id);
    });
    return () => this.#detach(attached);
  }

  /**
   * Sends the node its live peers: every ONLINE node it shares rooms with, each with a pull token
   * for exactly those rooms. Only when the set changed since the last one sent on that stream.
   */
  async #sendPeers(nodeId: string, shared?: Promise<Topology>): Promise<void> {
    const attached = [...(this.#streams.get(nodeId) ?? [])].at(-1);
    if (!attached?.open) return;
    const topology = await (shared ?? this.topology());
    const sources = topology
      .peersOf(nodeId)
      .filter((peer) => peer.status === 'ONLINE' && peer.id !== nodeId)
      .map((peer) => ({ peer, roomIds: topology.sharedRooms(peer.id, nodeId) }));
    const fingerprint = JSON.stringify(
      sources.map(({ peer, roomIds }) => [peer.id, peer.url, roomIds]),
    );
    if (fingerprint === attached.peers) return;
    const peers: LivePeer[] = [];
    for (const { peer, roomIds } of sources) {
      const grant = await this.#tokens.signPull({
        sourceNodeId: peer.id,
        targetNodeId: nodeId,
        roomIds,
      });
      peers.push({
        sourceNodeId: peer.id,
        sourceUrl: peer.url,
        roomIds,
        pullToken: grant.token,
        pullTokenExpiresAt: grant.expiresAt,
      });
    }
    if (!attached.open) return;
    attached.peers = fingerprint;
    attached.stream.sendPeers(peers);
  }

  /**
   * Sends the node the rooms it takes writes for, when they changed since the last set sent on
   * that stream, or always with a `fenceId` (someone waits for the node to act on it). A fenced
   * send reads the tables: its waiter may have written the placement so recently that the
   * `roomChanged` invalidating the cached topology has not come back yet.
   */
  async #sendPlacement(
    nodeId: string,
    fenceId?: string,
    shared?: Promise<Topology>,
  ): Promise<void> {
    const attached = [...(this.#streams.get(nodeId) ?? [])].at(-1);
    if (!attached?.open) return;
    const rooms =
      fenceId === undefined
        ? (await (shared ?? this.topology())).writableRoomsOf(nodeId)
        : await writableRoomsOf(this.#db, nodeId);
    const fingerprint = JSON.stringify(rooms);
    if (fenceId === undefined && fingerprint === attached.placement) return;
    if (!attached.open) return;
    attached.placement = fingerprint;
    attached.stream.sendNotice('placement', { rooms, ...(fenceId ? { fenceId } : {}) });
  }

  /** A notice someone waits on (nodeNotices.ts), for the nodes whose stream is held here. */
  #notice(nodeIds: readonly string[], fenceId: string, notice: NodeNotice): void {
    for (const nodeId of nodeIds) {
      if (!this.#streams.get(nodeId)?.size) continue;
      void this.#serial(nodeId, async () => {
        if (notice.kind === 'placement') return this.#sendPlacement(nodeId, fenceId);
        const attached = [...(this.#streams.get(nodeId) ?? [])].at(-1);
        if (attached?.open)
          attached.stream.sendNotice('membership', {
            roomId: notice.roomId,
            userId: notice.userId,
            fenceId,
          });
      });
    }
  }

  /**
   * Topology may have changed: every attached node gets its peers and writable rooms again (if
   * they changed). The nodes' refreshes share one topology read (#refreshTopology), not one each:
   * with N nodes attached, a status change would otherwise read the nodes 2N times and cost
   * central O(N) per event, O(N^2) as every node comes and goes.
   */
  #refreshPeers(): void {
    for (const nodeId of this.#streams.keys()) {
      if (this.#peersQueued.has(nodeId)) continue;
      this.#peersQueued.add(nodeId);
      void this.#serial(nodeId, async () => {
        this.#peersQueued.delete(nodeId);
        const topology = this.#sharedTopology();
        await this.#sendPeers(nodeId, topology);
        await this.#sendPlacement(nodeId, undefined, topology);
      });
    }
  }

  /**
   * The topology read once for the refreshes queued since the last event. Every event that
   * queues refreshes drops it first (#onEvent), and a refresh takes it when it runs, so none uses
   * a read older than the event that queued it. A failed read is not kept.
   */
  #sharedTopology(): Promise<Topology> {
    if (this.#refreshTopology) return this.#refreshTopology;
    const read = this.topology();
    this.#refreshTopology = read;
    read.catch(() => {
      if (this.#refreshTopology === read) this.#refreshTopology = undefined;
    });
    return read;
  }

  /**
   * A node that (re)connects pulls what its peers changed while it was away: their change
   * notifications skipped it while it was offline, and its schedule may be minutes off. Its peers
   * pull from it too: the notifications of its own last writes may never have reached central (it
   * was cut off, or killed before it sent them), and they hold nothing that would ask again.
   */
  async #catchUp(nodeId: string): Promise<void> {
    const topology = await this.topology();
    const node = topology.nodes.get(nodeId);
    if (!node) return;
    for (const peer of topology.peersOf(nodeId)) {
      if (peer.status !== 'ONLINE') continue;
      if (node.syncEnabled)
        await this.enqueue(
          { sourceNodeId: peer.id, targetNodeId: nodeId },
          'INCREMENTAL',
          'CHANGE',
        );
      if (peer.syncEnabled)
        await this.enqueue(
          { sourceNodeId: nodeId, targetNodeId: peer.id },
          'INCREMENTAL',
          'CHANGE',
        );
    }
  }

  /**
   * A node's heartbeat returned after it was OFFLINE (frozen, partitioned, overloaded) without its
   * job stream dropping, so `attach` never ran. While it was away its peers' change notifications
   * skipped it, and sessions pulling from it failed or were never sent; nothing else would ask
   * again before the schedule. Called once per transition, by the central whose UPDATE made it.
   */
  async nodeBack(nodeId: string): Promise<void> {
    await this.#catchUp(nodeId);
  }

  /** A removed node: its job streams end (its key no longer opens a new one). */
  forgetNode(nodeId: string): void {
    for (const attached of this.#streams.get(nodeId) ?? []) {
      attached.replaced = true;
      attached.open = false;
      attached.stream.close();
    }
    this.#streams.delete(nodeId);
  }

  #detach(attached: Attached): void {
    attached.open = false;
    this.#streams.get(attached.node.id)?.delete(attached);
    if (this.#closing || attached.replaced || attached.sessions.size === 0) return;
    void this.#serial(attached.node.id, async () => {
      if (this.#closing) return;
      const cut = await failRunning(
        this.#db,
        sessionsById([...attached.sessions]),
        DISCONNECT_REASON,
      );
      await this.#resume(cut);
    });
  }

  /**
   * Records a report of `node`, which must be the session's target. Answers whether the target
   * should go on (false once central no longer runs the session).
   */
  async report(node: NodeRow, report: SyncReport): Promise<SyncReportResponse> {
    const [session] = await this.#db
      .select()
      .from(syncSessions)
      .where(eq(syncSessions.id, report.sessionId));
    if (!session) throw appError('NOT_FOUND', `no sync session ${report.sessionId}`);
    if (session.targetNodeId !== node.id)
      throw appError(
        'FORBIDDEN',
        `session ${session.id} is pulled by another node; only its target may report on it`,
      );
    if (session.liveReportSeq !== null)
      throw appError('CONFLICT', `session ${session.id} is a live window: report it as one`);
    const { updated, refused, recounted, repeatOf } = await recordReport(
      this.#db,
      session,
      report,
      this.#onConflict(node, session.id),
    );
    // Recorded before: the same answer as then (as far as the session's state says it).
    if (repeatOf !== undefined) return { continue: repeatOf === 'IN_PROGRESS', repeated: true };
    if (refused.length > 0) this.#logRefused(node, session, refused);
    if (recounted) await this.#publish(recounted);
    if (!updated) return { continue: false };
    if (updated.status !== 'IN_PROGRESS') {
      for (const a of this.#streams.get(node.id) ?? []) a.sessions.delete(updated.id);
    }
    if (updated.status === 'FAILED' && report.resume === true) {
      // The target gave the session up for want of central, not for anything of the source's:
      // its continuation is queued as for any session central cut short.
      await this.#resume([updated]);
      return { continue: false };
    }
    await this.#publish(updated);
    return { continue: updated.status === 'IN_PROGRESS' };
  }

  /**
   * Records a report of a live window of `node` (the target) and publishes the window. A report
   * recorded before (a retry) changes nothing and is answered `recorded: false`.
   */
  async liveReport(node: NodeRow, report: LiveReport): Promise<LiveReportResponse> {
    const { session, refused } = await recordLiveReport(
      this.#db,
      node,
      report,
      this.#onConflict(node, report.windowId),
    );
    if (!session) return { recorded: false };
    if (refused.length > 0) this.#logRefused(node, session, refused);
    await this.#publish(session);
    return { recorded: true };
  }

  /**
   * Records the reports of `node`'s live windows sent in one request (one transaction) and
   * publishes each window recorded; each report's outcome in request order. `invalid` are the
   * positions of reports that failed validation, answered as they are.
   */
  async liveReports(
    node: NodeRow,
    reports: ReadonlyArray<LiveReport | LiveReportResult>,
  ): Promise<LiveReportsResponse> {
    const valid = reports.filter((r): r is LiveReport => !('error' in r));
    const outcomes = await recordLiveReports(
      this.#db,
      node,
      valid,
      this.#onConflict(
        node,
        valid.length === 1 ? (valid[0]?.windowId ?? '') : `${valid.length} windows`,
      ),
    );
    const results: LiveReportResult[] = [];
    let next = 0;
    for (const entry of reports) {
      if ('error' in entry) {
        results.push(entry);
        continue;
      }
      const outcome = outcomes[next];
      next += 1;
      const { windowId, sequence } = entry;
      if (!outcome) throw new Error(`no outcome for live report ${sequence} of ${windowId}`);
      if (outcome.error) {
        const code = codeOf(outcome.error) ?? 'INTERNAL_SERVER_ERROR';
        results.push({ windowId, sequence, error: { code, message: outcome.error.message } });
        continue;
      }
      const { session, refused } = outcome;
      if (session && refused.length > 0) this.#logRefused(node, session, refused);
      if (session) await this.#publish(session);
      results.push({ windowId, sequence, recorded: session !== null });
    }
    return { results };
  }

  /** A report's transaction rolled back by PostgreSQL (deadlock, serialization) runs again: said once per retry. */
  #onConflict(node: NodeRow, sessionId: string): (error: unknown) => void {
    return (error) => {
      // drizzle's message quotes the whole statement; the driver's (its cause) says what happened.
      const cause = (error as { cause?: unknown }).cause;
      const why = cause instanceof Error ? cause.message : (error as Error).message;
      this.#log.warn(
        `sync report of node ${node.name} on session ${sessionId}: ${why}; recording it again`,
      );
    };
  }

  /**
   * One warning per refused entry, up to a few per report: a target that claims thousands is
   * one line more, not thousands (the session's entriesRefused counts them all).
   */
  #logRefused(node: NodeRow, session: SyncSessionRow, refused: readonly RefusedEntry[]): void {
    for (const entry of refused.slice(0, MAX_REFUSED_LOGGED))
      this.#log.warn(
        `sync report of node ${nodeLabel(node)} on session ${session.id}: refused ${entry.list} entry for message ${entry.messageId}: ${entry.why}`,
      );
    if (refused.length > MAX_REFUSED_LOGGED)
      this.#log.warn(
        `sync report of node ${nodeLabel(node)} on session ${session.id}: ${refused.length - MAX_REFUSED_LOGGED} more entries refused`,
      );
  }

  /**
   * Every sweepIntervalMs: takes over the sessions of centrals whose lease expired, and fails the
   * stuck ones (no report for stuckAfterMs from an ONLINE target), queuing their continuation.
   * Each row is failed by one conditional UPDATE (rows another central is failing are skipped),
   * so with several centrals each session is taken over once.
   */
  #armSweep(): void {
    if (this.#closing) return;
    this.#sweepTimer = setTimeout(() => {
      this.#sweeping = this.#sweep()
        .catch((error: unknown) => {
          if (!this.#closing) this.#log.error('sync session sweep failed', error);
        })
        .finally(() => this.#armSweep());
    }, this.#sweepIntervalMs);
    this.#sweepTimer.unref();
  }

  async #sweep(): Promise<void> {
    const gone = await failRunning(
      this.#db,
      orphaned(this.#instanceId, this.#alone),
      OWNER_GONE_REASON,
    );
    await this.#resume(gone);
    if (this.#closing) return;
    const silent = await failRunning(
      this.#db,
      stuck(this.#stuckAfterMs),
      stuckReason(this.#stuckAfterMs),
    );
    await this.#resume(silent);
  }

  /** Queues the continuation of sessions that were cut short. */
  async #resume(cut: readonly SyncSessionRow[]): Promise<void> {
    for (const session of cut) {
      this.#log.info(
        `sync session ${session.id} (${this.#label(session.sourceNodeId)} -> ${this.#label(session.targetNodeId)}) FAILED: ${session.error ?? ''}`,
      );
      await this.#publish(session);
      await this.enqueue(session, session.syncType, session.trigger);
    }
  }

  #onEvent(event: CentralEvent): void {
    if (this.#closing) return;
    if (event.type === 'nodeChanged' || event.type === 'roomChanged') this.#topology.invalidate();
    if (
      event.type === 'nodeChanged' ||
      event.type === 'roomChanged' ||
      event.type === 'nodeStatusChanged'
    )
      this.#refreshTopology = undefined;
    if (event.type === 'syncSessionUpdated') {
      // A new PENDING session, or the end of one that may have a successor queued behind it.
      // A live window's progress asks nothing of the dispatcher.
      if (event.session.status !== 'IN_PROGRESS' && event.session.liveReportSeq === null)
        this.#kick(event.session.targetNodeId);
    } else if (event.type === 'nodeStatusChanged') {
      // Sessions wait while their source is offline.
      if (event.status === 'ONLINE') for (const target of this.#streams.keys()) this.#kick(target);
      this.#refreshPeers();
    } else if (event.type === 'nodeChanged' || event.type === 'roomChanged') {
      // A node registered or moved, a room created or placed: who streams from whom may change.
      this.#refreshPeers();
    } else if (event.type === 'nodeNotice') {
      this.#notice(event.nodeIds, event.fenceId, event.notice);
    }
  }

  /**
   * Events may have been missed (the bus's listener reconnected): whatever they would have said,
   * as if they all came. The placement is read again, every attached node is sent its peers and
   * placement if they changed, and its PENDING sessions are looked for.
   */
  #onGap(): void {
    if (this.#closing) return;
    this.#topology.invalidate();
    this.#refreshTopology = undefined;
    for (const target of this.#streams.keys()) this.#kick(target);
    this.#refreshPeers();
  }

  #kick(targetNodeId: string): void {
    if (!this.#streams.get(targetNodeId)?.size || this.#dispatchQueued.has(targetNodeId)) return;
    this.#dispatchQueued.add(targetNodeId);
    void this.#serial(targetNodeId, () => {
      this.#dispatchQueued.delete(targetNodeId);
      return this.#dispatch(targetNodeId);
    });
  }

  /** A node's name (id) when a stream of it is attached here, else its id. */
  #label(nodeId: string): string {
    const attached = [...(this.#streams.get(nodeId) ?? [])].at(-1);
    return attached ? nodeLabel(attached.node) : nodeId;
  }

  #serial(targetNodeId: string, task: () => Promise<void>): Promise<void> {
    const previous = this.#chains.get(targetNodeId) ?? Promise.resolve();
    const next = previous.then(task).catch((error: unknown) => {
      if (!this.#closing)
        this.#log.error(`sync coordination for node ${this.#label(targetNodeId)} failed`, error);
    });
    this.#chains.set(targetNodeId, next);
    void next.then(() => {
      if (this.#chains.get(targetNodeId) === next) this.#chains.delete(targetNodeId);
    });
    return next;
  }

  /** Sends the target's PENDING sessions whose source is ONLINE and whose pair is not running. */
  async #dispatch(targetNodeId: string): Promise<void> {
    if (this.#closing) return;
    const newest = () => [...(this.#streams.get(targetNodeId) ?? [])].at(-1);
    if (!newest()) return;
    const pending = await pendingSessionsOf(this.#db, targetNodeId);
    if (pending.length === 0) return;
    const topology = await this.topology();
    for (const session of pending) {
      const source = topology.nodes.get(session.sourceNodeId);
      if (!source || source.status !== 'ONLINE') continue;
      const roomIds = topology.sharedRooms(session.sourceNodeId, targetNodeId);
      if (roomIds.length === 0) {
        const done = await completeEmpty(this.#db, session);
        if (done) await this.#publish(done);
        continue;
      }
      const claimed = await claimSession(this.#db, session, roomIds, this.#instanceId);
      if (!claimed) continue;
      const attached = newest();
      if (!attached?.open) {
        await this.#resume(
          await failRunning(this.#db, sessionsById([claimed.id]), DISCONNECT_REASON),
        );
        return;
      }
      attached.sessions.add(claimed.id);
      // roomIds are the rooms both store now, as the token endpoint would check them.
      const grant = await this.#tokens.signPull({
        sourceNodeId: source.id,
        targetNodeId,
        roomIds,
      });
      // Published before the job leaves: the target's first progress report must come after it.
      await this.#publish(claimed);
      attached.stream.send({
        sessionId: claimed.id,
        syncType: claimed.syncType,
        sourceNodeId: source.id,
        sourceNodeName: source.name,
        sourceUrl: source.url,
        roomIds,
        batchSize: claimed.syncType === 'FULL' ? this.#fullBatchSize : this.#batchSize,
        pullToken: grant.token,
        pullTokenExpiresAt: grant.expiresAt,
      });
    }
  }

  async #publish(session: SyncSessionRow): Promise<void> {
    await this.#events.publish({ type: 'syncSessionUpdated', session: toSnapshot(session) });
  }
}
