// One sync session on the target: pulls the source's change log since the pair's cursor, batch by
// batch; each batch is validated (a faulty batch is refused whole; a faulty version, or one its
// writer had no right to write, is quarantined while the rest applies), then applied with the
// cursor, the quarantine rows and the batch's row of the session outbox (sessionOutbox.ts) in the
// same SQLite transaction, then reported to central (reportQueue.ts); a FULL session then
// compares digests. The queue of sessions per source is
// puller.ts; requests to the source are sourceClient.ts.
import { Backoff } from '../../../lib/backoff.ts';
import type { Logger } from '../../../lib/log.ts';
import { parseWire, WireShapeError } from '../../../lib/wire.ts';
import {
  MAX_REFUSED_PER_REQUEST,
  SYNC_CHANGES_PATH,
  SYNC_DIGESTS_PATH,
  type HeldVersion,
  type ChangeBatch,
  RoomDigestsSchema,
  type RoomDigests,
  sourceLabel,
  type SyncJob,
} from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';
import type { NodeDb } from '../db/open.ts';
import type { HybridLogicalClock } from '../hlc.ts';
import type { MessageStore } from '../messageStore.ts';
import type { BatchApplier } from './batchApplier.ts';
import { sentAtOf, type AppliedBatch } from './batchApplier.ts';
import { readCursor } from './cursors.ts';
import { describe } from './errorText.ts';
import { ReportQueue } from './reportQueue.ts';
import { SessionError, SessionStopped } from './sessionErrors.ts';
import { CursorAheadAtSource, PullTokens, SourceClient } from './sourceClient.ts';
import { differingRooms, roomDigests } from './digest.ts';
import { dueBatch } from './deferredVersions.ts';
import type { Quarantine } from './quarantine.ts';
import type { OutboxRow, SessionOutbox } from './sessionOutbox.ts';
import {
  DEFERRED_SUFFIX,
  examineChangeBatch,
  type BatchExpectations,
  type RefusedVersion,
} from './validateBatch.ts';
import type { WriterRights } from './writerRights.ts';
import { type SendersWord } from './writerRights.ts';

export interface PullerOptions {
  readonly db: NodeDb;
  readonly store: MessageStore;
  /** Bounds how far ahead a version's HLC may be (its `maxDriftMs`, against its wall clock). */
  readonly clock: HybridLogicalClock;
  /**
   * Takes the reports, renews a session's pull token (the job brings the first one; the API key
   * stays with central), and says who may write what (`syncAuthority`, once per batch at most).
   */
  readonly central: Pick<CentralClient, 'reportSync' | 'pullToken' | 'syncAuthority'>;
  /**
   * The node's writer checks, shared by every session so that what central said of a room's
   * writers serves the batches that follow. @default one of its own, asking `central`
   */
  readonly writers?: WriterRights;
  /** Versions asked per batch when a job does not say (a job's `batchSize` wins). @default 1000 */
  readonly batchSize?: number;
  /** Timeout of each request to a source node. @default 30000 */
  readonly requestTimeoutMs?: number;
  /** Attempts per report to central before the session is given up. @default 3 */
  readonly reportAttempts?: number;
  /**
   * Attempts per request to the source while it answers 503 (it cannot fetch central's keys to
   * check our pull token for a moment); reads are safe to repeat. @default 4
   */
  readonly sourceAttempts?: number;
  /** @default Date.now */
  readonly now?: () => number;
  readonly log: Logger;
}

export interface SessionOutcome {
  readonly sessionId: string;
  /** `STOPPED`: this node is shutting down, or central said the session is no longer running. */
  readonly status: 'COMPLETED' | 'FAILED' | 'STOPPED' | 'SKIPPED';
  /** Versions that changed this node (applied), as central's `messagesSynced`. */
  readonly messagesSynced: number;
  /** Versions received and examined: applied, already held here, or quarantined. */
  readonly messagesChecked: number;
  /** Versions that changed this node. */
  readonly applied: number;
  /** Versions refused and kept aside (quarantined) in this session. */
  readonly quarantined: number;
  /** The pair's cursor at the end. */
  readonly cursor: number;
  readonly digestsMatch?: boolean;
  readonly error?: string;
}

/** FULL: further pull rounds when digests differ because the source changed during the session. */
const DIGEST_ROUNDS = 3;
/**
 * Unreported versions (applied plus held) at which the puller waits for the report in flight
 * before applying more: bounds memory when central is slower than the source and this node.
 */
const REPORT_BACKLOG = 10_000;
/** How long a last report waits for central when the node is shutting down. */
const SHUTDOWN_REPORT_MS = 1000;
/**
 * How long a session central did not take reports of is offered back to it (Session.handBack):
 * past that, central's own sweep fails it (a session silent for a minute while its target is
 * ONLINE), so the pair is never left waiting behind it.
 */
const HAND_BACK_MS = 120_000;
/** The hand-back's backoff (lib/backoff.ts, with jitter): from 500 ms, at most this. */
const HAND_BACK_MAX_DELAY_MS = 5000;

export class PullSession {
  readonly #job: SyncJob;
  readonly #options: PullerOptions;
  readonly #closing: AbortSignal;
  readonly #batchSize: number;
  readonly #source: SourceClient;
  readonly #applier: BatchApplier;
  readonly #quarantine: Quarantine;
  readonly #writers: WriterRights;
  readonly #outbox: SessionOutbox;
  #cursor = 0;
  #checked = 0;
  /**
   * Seqs of versions refused in committed batches that the source has not been told of yet: sent
   * with the next requests' acknowledgement, so the source marks them FAILED, not SYNCED.
   */
  #refusedUntold: number[] = [];
  /** Pulling the source's new log from 0 after it was reset: the cursors may move back once. */
  #resetCursor = false;
  #appliedCount = 0;
  #quarantinedCount = 0;
  #total: number | undefined;
  #headSeq: number | undefined;
  readonly #reports: ReportQueue;

  constructor(
    job: SyncJob,
    options: PullerOptions,
    applier: BatchApplier,
    quarantine: Quarantine,
    writers: WriterRights,
    outbox: SessionOutbox,
    closing: AbortSignal,
  ) {
    this.#job = job;
    this.#outbox = outbox;
    this.#options = options;
    this.#applier = applier;
    this.#quarantine = quarantine;
    this.#writers = writers;
    this.#closing = closing;
    this.#batchSize =
      Number.isSafeInteger(job.batchSize) && job.batchSize > 0
        ? job.batchSize
        : (options.batchSize ?? 1000);
    // The pull token comes with the job and is renewed through central before it runs out.
    const tokens = new PullTokens({
      central: options.central,
      sourceNodeId: job.sourceNodeId,
      roomIds: job.roomIds,
      initial: { token: job.pullToken, expiresAt: job.pullTokenExpiresAt },
      sourceLabel: sourceLabel(job),
      onStaleUse: (error) =>
        options.log.warn(
          `sync ${job.sessionId}: could not renew the pull token yet: ${describe(error)}`,
        ),
    });
    this.#reports = new ReportQueue({
      sessionId: job.sessionId,
      central: options.central,
      attempts: options.reportAttempts ?? 3,
      maxBacklog: REPORT_BACKLOG,
      closing,
      outbox,
      progress: () => ({
        messagesSynced: this.#appliedCount,
        messagesChecked: this.#checked,
        ...(this.#total === undefined ? {} : { messagesTotal: this.#total }),
        cursor: this.#cursor,
        ...(this.#headSeq === undefined ? {} : { sourceHeadSeq: this.#headSeq }),
      }),
    });
    this.#source = new SourceClient({
      sourceUrl: job.sourceUrl,
      sourceLabel: sourceLabel(job),
      tokens,
      signal: closing,
      timeoutMs: options.requestTimeoutMs ?? 30_000,
    });
  }

  async run(): Promise<SessionOutcome> {
    const { db } = this.#options;
    const full = this.#job.syncType === 'FULL';
    this.#cursor = full ? 0 : readCursor(db.db, this.#job.sourceNodeId, this.#job.roomIds);
    try {
      await this.#pullUntilEmpty(true);
    } catch (error) {
      if (!(error instanceof CursorAheadAtSource) || full) throw error;
      // The source's log restarted (a wiped data dir keeps its node id): what we hold from it
      // stays, and pulling its new log from 0 is exactly a FULL sync, idempotent on our side.
      this.#options.log.warn(`sync ${this.#job.sessionId}: ${error.message}; pulling from 0`);
      this.#cursor = 0;
      this.#resetCursor = true;
      await this.#pullUntilEmpty(true);
    }

    await this.#reports.settle();
    let digestsMatch: boolean | undefined;
    if (full) {
      for (let round = 1; ; round += 1) {
        const differing = await this.#compareDigests();
        digestsMatch = differing.length === 0;
        // The source may have changed since the last batch: pull that and compare again. If no
        // new change came, the difference is ours (changes the source has not pulled yet).
        if (digestsMatch || round >= DIGEST_ROUNDS || (await this.#pullUntilEmpty(false)) === 0) {
          break;
        }
      }
    }
    await this.#reports.settle();
    // Nothing is left to stop if central answers `continue: false` to the last report.
    await this.#reports.report({
      status: 'COMPLETED',
      ...(digestsMatch === undefined ? {} : { digestsMatch }),
    });
    return {
      ...this.outcome('COMPLETED'),
      ...(digestsMatch === undefined ? {} : { digestsMatch }),
    };
  }

  outcome(status: SessionOutcome['status'], error?: string): SessionOutcome {
    return {
      sessionId: this.#job.sessionId,
      status,
      messagesSynced: this.#appliedCount,
      messagesChecked: this.#checked,
      applied: this.#appliedCount,
      quarantined: this.#quarantinedCount,
      cursor: this.#cursor,
      ...(error === undefined ? {} : { error }),
    };
  }

  /** Best effort: central fails sessions it never hears the end of when the node reconnects. */
  async reportFinal(status: 'FAILED', error: string, shuttingDown: boolean): Promise<void> {
    const report = this.#reports.report({ status, error }, shuttingDown ? 1 : undefined);
    const bounded = shuttingDown
      ? Promise.race([
          report,
          new Promise((resolve) => setTimeout(resolve, SHUTDOWN_REPORT_MS).unref()),
        ])
      : report;
    await bounded.catch((failure: unknown) =>
      this.#options.log.warn(
        `sync ${this.#job.sessionId}: could not report ${status}: ${describe(failure)}`,
      ),
    );
  }

  /**
   * Central did not take this session's reports (down, or answering 5xx), so it would stay
   * IN_PROGRESS there with the pair's next session waiting behind it. Offers it back with a FAILED
   * report marked `resume` until central takes it (or HAND_BACK_MS passed, or the node closes):
   * central then queues the continuation, which resumes from the cursors committed here. The
   * report carries the versions applied but not reported yet, so central's log and index get them.
   */
  async handBack(reason: string): Promise<void> {
    const deadline = Date.now() + HAND_BACK_MS;
    // Shutdown does not wait for central: the node's next connection fails the session anyway.
    let onAbort = () => {};
    const closed = new Promise<'closed'>((resolve) => {
      onAbort = () => resolve('closed');
      this.#closing.addEventListener('abort', onAbort, { once: true });
    });
    try {
      await this.#offerBack(reason, deadline, closed);
    } finally {
      this.#closing.removeEventListener('abort', onAbort);
    }
  }

  async #offerBack(reason: string, deadline: number, closed: Promise<'closed'>): Promise<void> {
    const backoff = new Backoff({ initialMs: 500, maxMs: HAND_BACK_MAX_DELAY_MS });
    while (!this.#closing.aborted) {
      try {
        const sent = this.#reports.report({ status: 'FAILED', error: reason, resume: true }, 1);
        sent.catch(() => {});
        if ((await Promise.race([sent, closed])) === 'closed') return;
        this.#options.log.info(`sync ${this.#job.sessionId}: handed back to central`);
        return;
      } catch (error) {
        if (Date.now() >= deadline) {
          this.#options.log.warn(
            `sync ${this.#job.sessionId}: could not hand the session back: ${describe(error)}`,
          );
          return;
        }
      }
      const delay = backoff.next();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([new Promise((resolve) => (timer = setTimeout(resolve, delay))), closed]);
      clearTimeout(timer);
    }
  }

  /**
   * Pulls batches until one comes back empty; returns how many versions came. While a batch is
   * applied, the next one is already asked for (the source reads it in its own process) and the
   * previous report is on its way to central: the three no longer wait for each other, which is
   * what bounds a FULL sync's speed. A request sent ahead acknowledges only the committed cursor.
   */
  async #pullUntilEmpty(first: boolean): Promise<number> {
    let received = 0;
    let next = this.#fetchBatch(this.#cursor, first);
    for (;;) {
      const { batch, refused, senders, acknowledged, sentAt } = await next;
      if (first && batch.remaining !== undefined) this.#total = this.#checked + batch.remaining;
      first = false;
      this.#reports.throwIfFailed();
      const empty = batch.versions.length === 0 && refused.length === 0;
      // A batch that did not reach the source's head has more behind it: ask now. One that did
      // is followed by a request sent after the apply, which acknowledges it (an incremental
      // session's common case: one batch, then the empty one).
      const ahead = !empty && batch.nextAfter < batch.headSeq;
      if (ahead) {
        next = this.#fetchBatch(batch.nextAfter, false, this.#cursor);
        // Handled here so a failed apply leaves no unhandled rejection; awaited as usual above.
        next.catch(() => {});
      }
      this.#apply(batch, refused, senders, sentAt);
      await this.#applyDue();
      received += batch.versions.length + refused.length;
      if (empty) {
        // The last request acknowledges the whole session (and tells every refusal); one sent
        // ahead of an apply did not.
        if (acknowledged >= this.#cursor && this.#refusedUntold.length === 0) return received;
        next = this.#fetchBatch(this.#cursor, false);
        continue;
      }
      await this.#reports.inBackground();
      if (!ahead) next = this.#fetchBatch(this.#cursor, false);
    }
  }

  /** `acknowledged` (default `after`) is what the request tells the source this node holds. */
  async #fetchBatch(
    after: number,
    count: boolean,
    acknowledged = after,
  ): Promise<{
    batch: ChangeBatch;
    refused: readonly RefusedVersion[];
    senders: SendersWord;
    acknowledged: number;
    sentAt: number | undefined;
  }> {
    const told = this.#refusedUntold
      .filter((seq) => seq <= acknowledged)
      .slice(0, MAX_REFUSED_PER_REQUEST);
    const query = new URLSearchParams({
      after: String(after),
      limit: String(this.#batchSize),
      rooms: this.#job.roomIds.join(','),
      ...(acknowledged < after ? { ack: String(acknowledged) } : {}),
      ...(told.length > 0 ? { refused: told.join(',') } : {}),
      ...(count ? { count: '1' } : {}),
    });
    const body = await this.#get(`${SYNC_CHANGES_PATH}?${query.toString()}`);
    if (told.length > 0) {
      const sent = new Set(told);
      this.#refusedUntold = this.#refusedUntold.filter((seq) => !sent.has(seq));
    }
    const expected: BatchExpectations = {
      sourceNodeId: this.#job.sourceNodeId,
      after,
      limit: this.#batchSize,
      roomIds: this.#job.roomIds,
      maxDriftMs: this.#options.clock.maxDriftMs,
      now: this.#options.clock.referenceTime(),
    };
    let examined: ReturnType<typeof examineChangeBatch>;
    try {
      examined = examineChangeBatch(body, expected);
    } catch (error) {
      throw new SessionError(
        `batch after seq ${after} from ${sourceLabel(this.#job)} refused, nothing of it applied: ${describe(error)}`,
      );
    }
    let senders: SendersWord;
    try {
      senders = await this.#writers.learn(examined.batch.versions);
    } catch (error) {
      // Not the batch's fault: it is not applied, and the session fails as without central.
      throw new SessionError(
        `batch after seq ${after} from ${sourceLabel(this.#job)} not applied: central could not say who may write it: ${describe(error)}`,
      );
    }
    return {
      ...examined,
      senders,
      acknowledged,
      sentAt: sentAtOf(body, expected.now + expected.maxDriftMs),
    };
  }

  #apply(
    batch: ChangeBatch,
    refused: readonly RefusedVersion[],
    senders: SendersWord,
    sentAt: number | undefined,
  ): void {
    // Close was asked while the batch was on its way: it never starts.
    if (this.#closing.aborted) throw new SessionStopped('the node is shutting down');
    const source = this.#job.sourceNodeId;
    let outcome: AppliedBatch;
    let rows: OutboxRow[] = [];
    const checked = this.#checked + batch.versions.length + refused.length;
    try {
      outcome = this.#applier.apply({
        sourceNodeId: source,
        roomIds: this.#job.roomIds,
        batch,
        refused,
        senders,
        writers: this.#writers,
        resetCursor: this.#resetCursor,
        ...(sentAt === undefined ? {} : { sentAt }),
        // Until central took them: a kill before its answer loses nothing of its log and index.
        inTransaction: (_tx, applied) => {
          rows = this.#outbox.record(this.#job.sessionId, applied, {
            cursor: batch.nextAfter,
            messagesSynced: this.#appliedCount + applied.applied.length,
            messagesChecked: checked,
          });
        },
      });
    } catch (error) {
      throw new SessionError(
        `batch after seq ${this.#cursor} from ${sourceLabel(this.#job)} could not be applied, nothing of it was: ${rootMessage(error)}`,
      );
    }
    const { applied, quarantined } = outcome;
    this.#cursor = batch.nextAfter;
    this.#headSeq = batch.headSeq;
    this.#checked = checked;
    this.#refusedUntold.push(...outcome.refusedSeqs);
    this.#appliedCount += applied.length;
    this.#quarantinedCount += quarantined.length;
    this.#reports.add({ rows });
    for (const q of quarantined) {
      this.#options.log.warn(
        `sync ${this.#job.sessionId}: ${q.reason.endsWith(DEFERRED_SUFFIX) ? 'deferred' : 'quarantined'} message ${q.messageId || '(no id)'} (seq ${q.seq}) from ${sourceLabel(this.#job)}: ${q.reason}`,
      );
    }
    if (this.#job.syncType === 'FULL') {
      // Refused versions are no one's to index: only what this node holds is reported as held.
      const skip = new Set([...applied.map((change) => change.messageId), ...outcome.refusedIds]);
      const held: HeldVersion[] = [];
      for (const v of batch.versions) {
        if (skip.has(v.id)) continue;
        held.push({
          messageId: v.id,
          roomId: v.roomId,
          senderId: v.senderId,
          contentHash: v.contentHash,
          originNode: v.originNode,
          createdAt: v.createdAt,
          updatedAt: v.updatedAt,
          deleted: v.deletedAt !== null,
          hlc: v.hlc,
        });
      }
      this.#reports.add({ held });
    }
    if (this.#total !== undefined && this.#total < this.#checked) this.#total = this.#checked;
  }

  /**
   * Versions of this source deferred for their clock whose time has come go through the same
   * checks and apply as a batch (sync/deferredVersions.ts); their deferral then ends, whatever
   * came of them (applied, older than what is held, or refused and quarantined).
   */
  async #applyDue(): Promise<void> {
    const source = this.#job.sourceNodeId;
    const now = this.#options.clock.referenceTime();
    const due = this.#quarantine.due(source, this.#job.roomIds, now);
    if (due.length === 0) return;
    const pseudo = dueBatch(source, due, this.#cursor, this.#headSeq ?? this.#cursor);
    if (pseudo.seqs.length === 0) return;
    let examined: ReturnType<typeof examineChangeBatch>;
    let senders: SendersWord;
    try {
      examined = examineChangeBatch(pseudo.value, {
        sourceNodeId: source,
        after: pseudo.after,
        limit: due.length,
        roomIds: this.#job.roomIds,
        maxDriftMs: this.#options.clock.maxDriftMs,
        now,
      });
      senders = await this.#writers.learn(examined.batch.versions);
    } catch (error) {
      throw new SessionError(
        `deferred versions from ${sourceLabel(this.#job)} not applied: ${describe(error)}`,
      );
    }
    this.#apply(examined.batch, examined.refused, senders, undefined);
    // One still too far ahead (the clock went back) stays deferred.
    const still = new Set(
      examined.refused.filter((r) => r.deferUntil !== undefined).map((r) => r.seq),
    );
    const { rows } = this.#outbox.recordWith(
      this.#job.sessionId,
      () =>
        this.#quarantine.settle(
          source,
          pseudo.seqs.filter((seq) => !still.has(seq)),
        ),
      (settled) => ({ applied: [], quarantined: [], released: settled }),
      {
        cursor: this.#cursor,
        messagesSynced: this.#appliedCount,
        messagesChecked: this.#checked,
      },
    );
    this.#reports.add({ rows });
  }

  async #compareDigests(): Promise<string[]> {
    const query = new URLSearchParams({ rooms: this.#job.roomIds.join(',') });
    const body = await this.#get(`${SYNC_DIGESTS_PATH}?${query.toString()}`);
    const theirs = parseDigests(body);
    const ours = roomDigests(this.#options.db, this.#job.roomIds);
    return differingRooms(ours, theirs, this.#job.roomIds);
  }

  async #get(pathAndQuery: string): Promise<unknown> {
    return this.#source.get(pathAndQuery, this.#options.sourceAttempts ?? 4);
  }
}

export function emptyOutcome(sessionId: string, status: SessionOutcome['status']): SessionOutcome {
  return {
    sessionId,
    status,
    messagesSynced: 0,
    messagesChecked: 0,
    applied: 0,
    quarantined: 0,
    cursor: 0,
  };
}

function parseDigests(body: unknown): RoomDigests {
  try {
    return parseWire(RoomDigestsSchema, body);
  } catch (error) {
    if (!(error instanceof WireShapeError)) throw error;
    throw new SessionError(`the source answered malformed digests: ${error.message}`);
  }
}

/** The innermost cause's message: drizzle wraps SQLite's error in one that quotes the query. */
function rootMessage(error: unknown): string {
  let inner = error;
  while (inner instanceof Error && inner.cause instanceof Error) inner = inner.cause;
  return inner instanceof Error ? inner.message : String(inner);
}
