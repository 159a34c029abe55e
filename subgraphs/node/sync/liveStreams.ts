// The node's live streams, one per source central names in its `peers` event (LivePeers): started,
// stopped and restarted to match every new set. A stream whose source URL or rooms changed is
// restarted (its token covers exactly its rooms); one whose token alone is new keeps running. Owns
// the outbox and its reporter, which carry what the streams applied to central.
import type { Logger } from '../../../lib/log.ts';
import type { LivePeer } from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';
import type { NodeDb } from '../db/open.ts';
import type { HybridLogicalClock } from '../hlc.ts';
import type { WriterRights } from './writerRights.ts';
import type { MessageStore } from '../messageStore.ts';
import { BatchApplier } from './batchApplier.ts';
import { LiveOutbox } from './liveOutbox.ts';
import { LiveReplicator } from './liveReplicator.ts';
import { LiveReporter } from './liveReporter.ts';
import { liveReportSender } from './liveReportSender.ts';

export interface LiveStreamsOptions {
  readonly db: NodeDb;
  readonly store: MessageStore;
  readonly clock: HybridLogicalClock;
  readonly central: Pick<
    CentralClient,
    'pullToken' | 'syncAuthority' | 'liveReport' | 'liveReports'
  >;
  /** The node's one judge of writers, shared with the scheduled sessions. */
  readonly writers?: WriterRights;
  /** Versions asked per request. @default 1000 */
  readonly batchSize?: number;
  /** How long a source may park a request (the feed's `wait`). @default 25000 */
  readonly waitMs?: number;
  /** Pause between the reporter's rounds. @default 250 */
  readonly reportIntervalMs?: number;
  /** A window closes after this long without a change. @default WINDOW_IDLE_MS (liveOutbox.ts) */
  readonly windowIdleMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  readonly log: Logger;
}

export class LiveStreams {
  readonly #options: LiveStreamsOptions;
  readonly #applier: BatchApplier;
  readonly #outbox: LiveOutbox;
  readonly #reporter: LiveReporter;
  readonly #streams = new Map<string, LiveReplicator>();
  /** Per source: the stop of its previous stream, which a new one waits for. */
  readonly #stopping = new Map<string, Promise<void>>();
  #closed = false;

  constructor(options: LiveStreamsOptions) {
    this.#options = options;
    this.#applier = new BatchApplier(options.db, options.store, options.now);
    this.#outbox = new LiveOutbox(options.db, options.now);
    this.#reporter = new LiveReporter({
      outbox: this.#outbox,
      send: liveReportSender(options.central, options.log),
      log: options.log,
      ...(options.reportIntervalMs === undefined ? {} : { intervalMs: options.reportIntervalMs }),
      ...(options.windowIdleMs === undefined ? {} : { windowIdleMs: options.windowIdleMs }),
    });
  }

  /** The sources streamed from now. */
  get sources(): string[] {
    return [...this.#streams.keys()];
  }

  /** Matches the streams to central's latest set of live peers. */
  update(peers: readonly LivePeer[]): void {
    if (this.#closed) return;
    const wanted = new Map(peers.map((peer) => [peer.sourceNodeId, peer]));
    for (const [source, stream] of this.#streams) {
      const peer = wanted.get(source);
      if (peer && sameStream(peer, stream.peer)) {
        stream.refresh(peer);
        wanted.delete(source);
        continue;
      }
      this.#stop(source, stream);
    }
    for (const peer of wanted.values()) this.#start(peer);
  }

  /** Stops every stream (a batch received commits first) and the reporter. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const [source, stream] of this.#streams) this.#stop(source, stream);
    await Promise.allSettled([...this.#stopping.values()]);
    await this.#reporter.close();
  }

  #start(peer: LivePeer): void {
    const source = peer.sourceNodeId;
    const options = this.#options;
    const stream = new LiveReplicator(peer, {
      db: options.db,
      applier: this.#applier,
      outbox: this.#outbox,
      onRecorded: () => this.#reporter.notify(),
      clock: options.clock,
      central: options.central,
      ...(options.writers === undefined ? {} : { writers: options.writers }),
      log: options.log,
      // Two streams of one source at once would only apply the same versions twice (no-ops).
      ...(this.#stopping.has(source) ? { startAfter: this.#stopping.get(source) } : {}),
      ...(options.batchSize === undefined ? {} : { batchSize: options.batchSize }),
      ...(options.waitMs === undefined ? {} : { waitMs: options.waitMs }),
      ...(options.now === undefined ? {} : { now: options.now }),
    });
    this.#streams.set(source, stream);
    options.log.info(
      `live stream from ${source} at ${peer.sourceUrl} (${peer.roomIds.length} rooms)`,
    );
  }

  #stop(source: string, stream: LiveReplicator): void {
    this.#streams.delete(source);
    const stopped = stream.close().then(() => {
      // The stream's window ends with it: the next change of the source opens a new one.
      this.#outbox.closeOf(source);
      this.#reporter.notify();
    });
    this.#stopping.set(source, stopped);
    void stopped.finally(() => {
      if (this.#stopping.get(source) === stopped) this.#stopping.delete(source);
    });
  }
}

function sameStream(a: LivePeer, b: LivePeer): boolean {
  return (
    a.sourceUrl === b.sourceUrl &&
    a.roomIds.length === b.roomIds.length &&
    a.roomIds.every((room, i) => room === b.roomIds[i])
  );
}
