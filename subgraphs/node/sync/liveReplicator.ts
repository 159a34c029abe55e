// One live stream: this node (the target) pulling one source's change feed continuously, with
// no central round trip on the way. It long-polls the feed from its committed cursor (`wait`),
// examines each batch as a session does, asks central's word on writers (writerRights.ts), and
// applies the batch with its cursors, quarantine rows and outbox records in ONE transaction; the
// next request acknowledges that cursor. Any failure (source down, refused batch, central unable
// to say who may write) waits a backoff with jitter, capped at about 2 s, and resumes from the
// cursor stored on disk: nothing is applied twice or skipped.
import { Backoff } from '../../../lib/backoff.ts';
import type { Logger } from '../../../lib/log.ts';
import {
  MAX_FEED_WAIT_MS,
  MAX_REFUSED_PER_REQUEST,
  SYNC_CHANGES_PATH,
  type LivePeer,
} from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';
import type { NodeDb } from '../db/open.ts';
import type { HybridLogicalClock } from '../hlc.ts';
import { sentAtOf, type BatchApplier } from './batchApplier.ts';
import { readCursor } from './cursors.ts';
import { describe } from './errorText.ts';
import { CursorAheadAtSource, PullTokens, SourceClient, TokenRefused } from './sourceClient.ts';
import type { LiveOutbox } from './liveOutbox.ts';
import { examineChangeBatch } from './validateBatch.ts';
import { WriterRights } from './writerRights.ts';

export interface LiveReplicatorOptions {
  readonly db: NodeDb;
  readonly applier: BatchApplier;
  readonly outbox: LiveOutbox;
  /** Called after a batch recorded something in the outbox (wakes the reporter). */
  readonly onRecorded: () => void;
  readonly clock: HybridLogicalClock;
  readonly central: Pick<CentralClient, 'pullToken' | 'syncAuthority'>;
  /** The node's one judge of writers (its cache of central's word); made here if not given. */
  readonly writers?: WriterRights;
  /** Versions asked per request. @default 1000 */
  readonly batchSize?: number;
  /** How long the source may park a request that finds nothing new. @default 25000 */
  readonly waitMs?: number;
  /** Added to `waitMs` as the request's timeout. @default 10000 */
  readonly requestTimeoutMs?: number;
  /** Longest pause before reconnecting. @default 2000 */
  readonly maxBackoffMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  readonly log: Logger;
  /** The stream starts once this settles (the previous stream of the source has stopped). */
  readonly startAfter?: Promise<unknown> | undefined;
}

/** Pause after an empty answer that came long before the wait ended. */
const EARLY_EMPTY_PAUSE_MS = 1000;

export class LiveReplicator {
  readonly #options: LiveReplicatorOptions;
  readonly #stop = new AbortController();
  readonly #writers: WriterRights;
  readonly #done: Promise<void>;
  #peer: LivePeer;
  readonly #tokens: PullTokens;
  readonly #source: SourceClient;
  /**
   * Seqs of versions refused in committed batches that the source has not been told of yet: sent
   * with the next request's acknowledgement, so the source marks them FAILED, not SYNCED.
   */
  #refusedUntold: number[] = [];

  constructor(peer: LivePeer, options: LiveReplicatorOptions) {
    this.#peer = peer;
    this.#options = options;
    this.#tokens = new PullTokens({
      central: options.central,
      sourceNodeId: peer.sourceNodeId,
      roomIds: peer.roomIds,
      initial: { token: peer.pullToken, expiresAt: peer.pullTokenExpiresAt },
      sourceLabel: peer.sourceNodeId,
    });
    this.#source = new SourceClient({
      sourceUrl: peer.sourceUrl,
      sourceLabel: peer.sourceNodeId,
      tokens: this.#tokens,
      signal: this.#stop.signal,
      timeoutMs: options.requestTimeoutMs ?? 10_000,
    });
    this.#writers =
      options.writers ??
      new WriterRights(options.db, (query) => options.central.syncAuthority(query));
    this.#done = this.#loop();
  }

  get peer(): LivePeer {
    return this.#peer;
  }

  /** Central sent the same stream again, with a fresh token: no restart. */
  refresh(peer: LivePeer): void {
    this.#peer = peer;
    this.#tokens.offer({ token: peer.pullToken, expiresAt: peer.pullTokenExpiresAt });
  }

  /** Cancels the request in flight and waits: a batch received either committed or never starts. */
  async close(): Promise<void> {
    this.#stop.abort();
    await this.#done;
  }

  async #loop(): Promise<void> {
    await this.#options.startAfter?.catch(() => undefined);
    const { db, log } = this.#options;
    const source = this.#peer.sourceNodeId;
    const rooms = this.#peer.roomIds;
    let cursor = readCursor(db.db, source, rooms);
    let reset = false;
    let failures = 0;
    const backoff = new Backoff({
      initialMs: 50,
      maxMs: Math.max(50, this.#options.maxBackoffMs ?? 2000),
      jitter: 'full',
    });
    let renewedAfterRefusal = false;
    while (!this.#stop.signal.aborted) {
      try {
        const started = Date.now();
        const step = await this.#step(cursor, reset);
        cursor = step.cursor;
        reset = false;
        // An honest source answers a long poll empty only when its wait ran out: one that answers
        // empty at once does not honour `wait`, and asking it again at once would spin.
        if (step.empty && Date.now() - started < this.#waitMs() / 2) {
          await sleep(EARLY_EMPTY_PAUSE_MS * (0.5 + Math.random() * 0.5), this.#stop.signal);
        }
        renewedAfterRefusal = false;
        if (failures > 0) log.info(`live stream from ${source} flows again`);
        failures = 0;
        backoff.reset();
      } catch (error) {
        if (this.#stop.signal.aborted) break;
        if (error instanceof CursorAheadAtSource && !reset) {
          log.warn(`live stream from ${source}: ${error.message}; pulling from 0`);
          cursor = 0;
          reset = true;
          continue;
        }
        if (error instanceof TokenRefused && !renewedAfterRefusal) {
          renewedAfterRefusal = true;
          await this.#tokens.token(true).catch(() => undefined);
          continue;
        }
        // One line per outage and then one per 30 attempts: a source down for a minute is not
        // a hundred lines.
        if (failures % 30 === 0)
          log.warn(`live stream from ${source}: ${describe(error)}; retrying`);
        failures += 1;
        await sleep(backoff.next(), this.#stop.signal);
        // Always from what is committed: a session may have moved the cursors meanwhile.
        if (!reset) cursor = readCursor(db.db, source, rooms);
      }
    }
  }

  #waitMs(): number {
    return Math.min(this.#options.waitMs ?? MAX_FEED_WAIT_MS, MAX_FEED_WAIT_MS);
  }

  /** One request, examined and applied; returns the cursor after it and whether it was empty. */
  async #step(cursor: number, reset: boolean): Promise<{ cursor: number; empty: boolean }> {
    const options = this.#options;
    const peer = this.#peer;
    const limit = options.batchSize ?? 1000;
    const body = await this.#fetch(cursor, limit);
    const examined = examineChangeBatch(body, {
      sourceNodeId: peer.sourceNodeId,
      after: cursor,
      limit,
      roomIds: peer.roomIds,
      maxDriftMs: options.clock.maxDriftMs,
      // Peers' clocks are held to central's time as this node measured it (docs/sync.md, "Clocks").
      now: options.clock.referenceTime(),
    });
    const { batch, refused } = examined;
    // Nothing of these rooms (the wait ended, or only other rooms changed): no write. The cursor
    // on disk stays behind, and the next request acknowledges up to `nextAfter` all the same,
    // which is true: no version of these rooms lies in between.
    if (batch.versions.length === 0 && refused.length === 0) {
      return { cursor: batch.nextAfter, empty: true };
    }
    const senders = await this.#writers.learn(batch.versions);
    if (this.#stop.signal.aborted) return { cursor, empty: false };
    const sentAt = sentAtOf(body, options.clock.referenceTime() + options.clock.maxDriftMs);
    let recorded = false;
    const outcome = options.applier.apply({
      sourceNodeId: peer.sourceNodeId,
      roomIds: peer.roomIds,
      batch,
      refused,
      senders,
      writers: this.#writers,
      resetCursor: reset,
      ...(sentAt === undefined ? {} : { sentAt }),
      inTransaction: (_tx, outcome) => {
        recorded = options.outbox.record(
          peer.sourceNodeId,
          outcome,
          cursor,
          batch.nextAfter,
          batch.headSeq,
        );
      },
    });
    this.#refusedUntold.push(...outcome.refusedSeqs);
    if (recorded) options.onRecorded();
    return { cursor: batch.nextAfter, empty: false };
  }

  async #fetch(after: number, limit: number): Promise<unknown> {
    const peer = this.#peer;
    const waitMs = this.#waitMs();
    const query = new URLSearchParams({
      after: String(after),
      limit: String(limit),
      rooms: peer.roomIds.join(','),
      wait: String(waitMs),
      // What this node sent the source is here already (or newer): not sent back.
      echoes: '0',
    });
    // Only seqs at or below what this request acknowledges (its `after`) may be told.
    const told = this.#refusedUntold
      .filter((seq) => seq <= after)
      .slice(0, MAX_REFUSED_PER_REQUEST);
    if (told.length > 0) query.set('refused', told.join(','));
    const body = await this.#source.getOnce(
      `${SYNC_CHANGES_PATH}?${query.toString()}`,
      waitMs + (this.#options.requestTimeoutMs ?? 10_000),
    );
    if (told.length > 0) {
      const sent = new Set(told);
      this.#refusedUntold = this.#refusedUntold.filter((seq) => !sent.has(seq));
    }
    return body;
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
