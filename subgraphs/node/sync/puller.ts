// The target side of sync: runs the sessions central assigns to this node (pullSession.ts), one
// at a time per source (others wait in order); sessions from different sources run side by side,
// their applies serialized by SQLite's single writer. A session id already seen is not run twice.
import { LRUCache } from 'lru-cache';
import type { Logger } from '../../../lib/log.ts';
import { sourceLabel, type SyncJob } from '../../../lib/syncProtocol.ts';
import { BatchApplier } from './batchApplier.ts';
import { describe } from './errorText.ts';
import {
  emptyOutcome,
  PullSession,
  type PullerOptions,
  type SessionOutcome,
} from './pullSession.ts';
import { LeftoverReporter } from './leftoverReporter.ts';
import { Quarantine } from './quarantine.ts';
import { SessionOutbox } from './sessionOutbox.ts';
import { ReportRefused, SessionError, SessionStopped } from './sessionErrors.ts';
import { SourceError, SourceRequestAborted } from './sourceClient.ts';
import { WriterRights } from './writerRights.ts';

export type { PullerOptions, SessionOutcome } from './pullSession.ts';

/** How many finished session ids are remembered, so a job re-sent by central is not run twice. */
const REMEMBERED_SESSIONS = 1000;

export class Puller {
  readonly #options: PullerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #tails = new Map<string, Promise<unknown>>();
  readonly #known = new LRUCache<string, true>({ max: REMEMBERED_SESSIONS });
  readonly #running = new Set<Promise<unknown>>();
  readonly #closing = new AbortController();
  readonly #quarantine: Quarantine;
  readonly #writers: WriterRights;
  readonly #applier: BatchApplier;
  readonly #outbox: SessionOutbox;
  /** Sessions queued, running or handing back: their outbox rows are theirs to report. */
  readonly #active = new Set<string>();
  readonly #leftovers: LeftoverReporter;

  constructor(options: PullerOptions) {
    this.#options = options;
    this.#quarantine = new Quarantine(options.db);
    this.#writers =
      options.writers ??
      new WriterRights(options.db, (query) => options.central.syncAuthority(query));
    this.#log = options.log;
    this.#now = options.now ?? Date.now;
    this.#applier = new BatchApplier(options.db, options.store, this.#now);
    this.#outbox = new SessionOutbox(options.db);
    // A job central sends again for a session left over here is not run (its cursors moved on).
    for (const sessionId of this.#outbox.sessions(this.#active)) this.#remember(sessionId);
    this.#leftovers = new LeftoverReporter({
      outbox: this.#outbox,
      central: options.central,
      active: () => this.#active,
      log: options.log,
    });
  }

  /**
   * Queues the session behind the ones already queued for the same source, and resolves when it
   * ended. A session id already queued, running or recently finished is not run again (SKIPPED).
   */
  enqueue(job: SyncJob): Promise<SessionOutcome> {
    if (this.#closing.signal.aborted || this.#known.has(job.sessionId)) {
      return Promise.resolve(emptyOutcome(job.sessionId, 'SKIPPED'));
    }
    this.#remember(job.sessionId);
    this.#active.add(job.sessionId);
    const previous = this.#tails.get(job.sourceNodeId) ?? Promise.resolve();
    const run = previous.then(() => this.#run(job));
    const tail = run.catch(() => {});
    this.#tails.set(job.sourceNodeId, tail);
    this.#running.add(tail);
    void tail.finally(() => {
      this.#running.delete(tail);
      if (this.#tails.get(job.sourceNodeId) === tail) this.#tails.delete(job.sourceNodeId);
    });
    return run;
  }

  /**
   * Stops taking sessions, cancels requests in flight to sources, and waits until every running
   * session stopped: a batch already received either commits whole before that, or never starts.
   */
  async close(): Promise<void> {
    this.#closing.abort();
    this.#leftovers.close();
    while (this.#running.size > 0) await Promise.allSettled([...this.#running]);
  }

  #remember(sessionId: string): void {
    this.#known.set(sessionId, true);
  }

  /** The session and its hand-back are over: what it left goes with the leftovers. */
  #ended(sessionId: string): void {
    this.#active.delete(sessionId);
    try {
      if (!this.#outbox.finish(sessionId) && !this.#closing.signal.aborted) this.#leftovers.kick();
    } catch (error) {
      // Its rows and state stay: the next start reports them.
      this.#log.error(`sync ${sessionId}: could not look for what the session left`, error);
    }
  }

  async #run(job: SyncJob): Promise<SessionOutcome> {
    let handingBack = false;
    try {
      return await this.#runSession(job, () => (handingBack = true));
    } finally {
      if (!handingBack) this.#ended(job.sessionId);
    }
  }

  async #runSession(job: SyncJob, handsBack: () => void): Promise<SessionOutcome> {
    const session = new PullSession(
      job,
      this.#options,
      this.#applier,
      this.#quarantine,
      this.#writers,
      this.#outbox,
      this.#closing.signal,
    );
    if (this.#closing.signal.aborted) return emptyOutcome(job.sessionId, 'STOPPED');
    this.#log.info(
      `sync ${job.sessionId}: ${job.syncType} from ${sourceLabel(job)} (${job.roomIds.length} rooms)`,
    );
    try {
      const outcome = await session.run();
      this.#log.info(
        `sync ${job.sessionId}: COMPLETED, ${outcome.messagesChecked} checked, ${outcome.applied} applied` +
          (outcome.quarantined > 0 ? `, ${outcome.quarantined} quarantined` : '') +
          (outcome.digestsMatch === false ? ', digests differ' : ''),
      );
      return outcome;
    } catch (caught) {
      // The source client's errors are the session's: a clear reason, or the node closing.
      const error =
        caught instanceof SourceError
          ? new SessionError(caught.message)
          : caught instanceof SourceRequestAborted
            ? new SessionStopped('the node is shutting down')
            : caught;
      if (error instanceof SessionStopped) {
        if (this.#closing.signal.aborted) {
          await session.reportFinal('FAILED', 'the target node shut down during the session', true);
        }
        this.#log.info(`sync ${job.sessionId}: stopped (${error.message})`);
        if (error instanceof ReportRefused && !this.#closing.signal.aborted) {
          // Off the source's queue: the next session of this pair (once central queues it) need
          // not wait for central to answer this one. close() still waits for it.
          handsBack();
          // Ended before close() returns: the outbox is still open then.
          const handBack = session
            .handBack(error.message)
            .finally(() => this.#ended(job.sessionId));
          this.#running.add(handBack);
          void handBack.finally(() => this.#running.delete(handBack));
        }
        return session.outcome('STOPPED', error.message);
      }
      const reason =
        error instanceof SessionError ? error.message : `unexpected: ${describe(error)}`;
      if (!(error instanceof SessionError)) this.#log.error(`sync ${job.sessionId} failed`, error);
      else this.#log.warn(`sync ${job.sessionId}: FAILED: ${reason}`);
      await session.reportFinal('FAILED', reason, false);
      return session.outcome('FAILED', reason);
    }
  }
}
