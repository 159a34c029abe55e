// Reports what scheduled sessions no longer running left in the session outbox: a previous
// process killed before central took their reports, or a session that ended while central could
// not be reached (its hand-back gave up). Each report goes as the session's FAILED hand-back
// (`resume`) with the sequence its rows were given: central records the entries in the session's
// log and index whatever the session's state there (a repeat of a recorded sequence records
// nothing), fails it if it still ran and queues the pair's continuation, which resumes from the
// cursors committed here. Tried with backoff until central takes them, or refuses them for good
// (dropped, as the live reporter drops a refused report), or the node closes.
import { Backoff } from '../../../lib/backoff.ts';
import type { Logger } from '../../../lib/log.ts';
import { CentralRefusedError, type CentralClient } from '../centralClient.ts';
import { describe } from './errorText.ts';
import type { SessionOutbox } from './sessionOutbox.ts';

export const LEFTOVER_ERROR =
  'the target node stopped during the session; resumed in a new session';

export interface LeftoverReporterOptions {
  readonly outbox: SessionOutbox;
  readonly central: Pick<CentralClient, 'reportSync'>;
  /** Sessions queued, running or handing back: their reports are theirs to send. */
  readonly active: () => ReadonlySet<string>;
  readonly log: Logger;
  /** @default 500 */
  readonly initialDelayMs?: number;
  /** @default 10000 */
  readonly maxDelayMs?: number;
}

export class LeftoverReporter {
  readonly #options: LeftoverReporterOptions;
  readonly #closing = new AbortController();
  readonly #backoff: Backoff;
  /** Set when there may be more to send than the round in progress saw. */
  #kicked = true;
  #wake: (() => void) | undefined;
  readonly #loop: Promise<void>;

  constructor(options: LeftoverReporterOptions) {
    this.#options = options;
    this.#backoff = new Backoff({
      initialMs: options.initialDelayMs ?? 500,
      maxMs: options.maxDelayMs ?? 10_000,
    });
    this.#loop = this.#run().catch((error: unknown) =>
      options.log.error('sync: reporting sessions left over failed', error),
    );
  }

  /** Settles once the reporter stopped looking (tests). */
  get stopped(): Promise<void> {
    return this.#loop;
  }

  /** A session ended with rows left: look again. */
  kick(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  /**
   * Stops without waiting for a report in flight: its answer is not acted on, so its rows stay
   * and the next process sends them again (a repeat, if central recorded it: nothing twice).
   */
  close(): void {
    this.#closing.abort();
    this.#wake?.();
  }

  async #run(): Promise<void> {
    const closing = this.#closing.signal;
    while (!closing.aborted) {
      if (!this.#kicked) {
        await this.#sleep(undefined);
        continue;
      }
      this.#kicked = false;
      let failed = false;
      for (const sessionId of this.#options.outbox.sessions(this.#options.active())) {
        if (closing.aborted || !(await this.#report(sessionId))) {
          failed = true;
          break;
        }
      }
      if (failed && !closing.aborted) {
        this.#kicked = true;
        await this.#sleep(this.#backoff.next());
      } else this.#backoff.reset();
    }
  }

  /** Sends the session's leftovers; false when central could not be reached (tried again later). */
  async #report(sessionId: string): Promise<boolean> {
    const { outbox, central, log } = this.#options;
    let sent = 0;
    for (;;) {
      if (this.#closing.signal.aborted) return false;
      const next = outbox.nextLeftover(sessionId);
      if (!next) break;
      const { report, progress } = next;
      try {
        await central.reportSync({
          sessionId,
          sequence: report.sequence,
          status: 'FAILED',
          error: LEFTOVER_ERROR,
          resume: true,
          messagesSynced: progress.messagesSynced,
          messagesChecked: progress.messagesChecked,
          cursor: progress.cursor,
          applied: report.applied,
          ...(report.quarantined.length === 0 ? {} : { quarantined: report.quarantined }),
          ...(report.released.length === 0 ? {} : { released: report.released }),
        });
        // The database may be closing: the rows stay, sent again (a repeat) next time.
        if (this.#closing.signal.aborted) return false;
      } catch (error) {
        if (this.#closing.signal.aborted) return false;
        if (!(error instanceof CentralRefusedError)) {
          log.warn(
            `sync ${sessionId}: changes applied before the session ended wait for central: ${describe(error)}`,
          );
          return false;
        }
        // Sending the same again will not help (central no longer knows the session, say):
        // kept, it would be sent at every start forever.
        log.error(
          `sync ${sessionId}: central refused report ${report.sequence} of changes applied before the session ended; dropped: ${describe(error)}`,
        );
      }
      outbox.taken(sessionId, report.sequence);
      sent += report.applied.length;
    }
    if (sent > 0)
      log.info(`sync ${sessionId}: reported ${sent} changes applied before the session ended`);
    return true;
  }

  /** Until kicked, closed, or `ms` passed. */
  #sleep(ms: number | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      if (ms !== undefined) timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }
}
