// A session's reports to central: what it applied, held, quarantined and released since the last
// report central accepted, sent one report at a time, in order, each with at most
// MAX_APPLIED_PER_REPORT entries per list. Progress reports go out in the background (a slow
// central gets fewer, larger ones); a failure or central's "stop" surfaces at the session's next
// step. Applied, quarantined and released entries are the session outbox's rows
// (sessionOutbox.ts), written with their batch: a report made of rows gets the session's next
// sequence once and is sent again exactly as it was until central took it, so a report central
// recorded whose answer was lost records nothing twice.
import { Backoff } from '../../../lib/backoff.ts';
import {
  MAX_APPLIED_PER_REPORT,
  type HeldVersion,
  type SyncReport,
  type SyncReportResponse,
} from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';
import { describe } from './errorText.ts';
import { ReportRefused, SessionError, SessionStopped } from './sessionErrors.ts';
import { fittingRows, type OutboxRow, type SessionOutbox } from './sessionOutbox.ts';

/** The session's counters and cursor, as of the report being sent. */
export type ReportProgress = Pick<
  SyncReport,
  'messagesSynced' | 'messagesChecked' | 'messagesTotal' | 'cursor' | 'sourceHeadSeq'
>;

export type ReportFields = Pick<SyncReport, 'status'> &
  Partial<Pick<SyncReport, 'digestsMatch' | 'error' | 'resume'>>;

export interface ReportQueueOptions {
  readonly sessionId: string;
  readonly central: Pick<CentralClient, 'reportSync'>;
  /** Attempts per report before the session is given up. */
  readonly attempts: number;
  /** Unreported entries past which a progress report waits for the one in flight. */
  readonly maxBacklog: number;
  /** The node closing: a failed report is not tried again. */
  readonly closing: AbortSignal;
  readonly progress: () => ReportProgress;
  /** Where the session's batches recorded their entries (the rows `add` is given). */
  readonly outbox: SessionOutbox;
}

export class ReportQueue {
  readonly #options: ReportQueueOptions;
  /** Outbox rows not in a report yet, in the order written. */
  #rows: OutboxRow[] = [];
  /**
   * FULL: versions that changed nothing here, not yet accepted by central (for its index). Kept
   * in memory only: they repair central's index and write no log row, and a FULL session
   * compares and repairs everything again, so a kill losing them leaves nothing a later FULL
   * does not redo; the outbox would cost a FULL sync of a million held versions their JSON.
   */
  #held: HeldVersion[] = [];
  /** Entries of `#rows` and `#held`: the backlog a progress report may wait for. */
  #unreported = 0;
  /**
   * The report made up last and not taken by central (its send failed): whatever comes next, it
   * goes first and unchanged, since central may have recorded it.
   */
  #pending: { readonly report: SyncReport; readonly entries: number } | undefined;
  /** The tail of the queue: reports are sent one at a time, in order. */
  #tail: Promise<unknown> = Promise.resolve();
  /** The IN_PROGRESS report sent in the background, until it settles. */
  #inFlight: Promise<void> | undefined;
  /** Why the background report failed, or central's stop: thrown at the next step. */
  #failure: Error | undefined;

  constructor(options: ReportQueueOptions) {
    this.#options = options;
  }

  /** Rows the session's batches wrote to the outbox (committed), and held versions. */
  add(entries: {
    readonly rows?: readonly OutboxRow[];
    readonly held?: readonly HeldVersion[];
  }): void {
    for (const row of entries.rows ?? []) {
      this.#rows.push(row);
      this.#unreported += countOf(row);
    }
    if (entries.held) {
      this.#held.push(...entries.held);
      this.#unreported += entries.held.length;
    }
  }

  /**
   * Sends an IN_PROGRESS report unless one is on its way (the next one then carries this batch
   * too). Waits only when the unreported backlog is large, which bounds the memory it holds.
   */
  async inBackground(): Promise<void> {
    if (this.#inFlight) {
      if (this.#unreported < this.#options.maxBacklog) return;
      await this.#inFlight;
      this.throwIfFailed();
    }
    const sent = this.report({ status: 'IN_PROGRESS' }).then(
      (response) => {
        if (!response.continue) {
          this.#failure ??= new SessionStopped('central no longer runs this session');
        }
      },
      (error: unknown) => {
        this.#failure ??= error instanceof Error ? error : new SessionError(String(error));
      },
    );
    this.#inFlight = sent;
    void sent.finally(() => {
      if (this.#inFlight === sent) this.#inFlight = undefined;
    });
  }

  /** A report sent in the background failed, or central said stop: the session ends here. */
  throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /** Waits for the report in the background, then throws what it failed with, if anything. */
  async settle(): Promise<void> {
    await this.#inFlight;
    this.throwIfFailed();
  }

  /** Queues a report; it takes what is unreported when it starts (the rest goes in the next). */
  report(fields: ReportFields, attempts = this.#options.attempts): Promise<SyncReportResponse> {
    const sent = this.#tail.then(() => this.#send(fields, attempts));
    this.#tail = sent.catch(() => {});
    return sent;
  }

  async #send(fields: ReportFields, attempts: number): Promise<SyncReportResponse> {
    const pending = this.#pending;
    if (pending) {
      const response = await this.#deliver(attempts);
      const left = this.#rows.length > 0 || this.#held.length > 0;
      // Its own status said what this one would (a hand-back tried again), or progress only.
      if (!left && (fields.status === 'IN_PROGRESS' || pending.report.status === fields.status))
        return response;
      if (fields.status === 'IN_PROGRESS' && !response.continue) return response;
    }
    // A final report follows as many progress reports as the backlog needs.
    while (fields.status !== 'IN_PROGRESS' && this.#moreThanOneReport()) {
      this.#makeReport({ status: 'IN_PROGRESS' });
      const response = await this.#deliver(attempts);
      if (!response.continue) return response;
    }
    this.#makeReport(fields);
    return this.#deliver(attempts);
  }

  #moreThanOneReport(): boolean {
    return (
      this.#held.length > MAX_APPLIED_PER_REPORT ||
      fittingRows(this.#rows, rowCounts).length < this.#rows.length
    );
  }

  /** The next report of what is unreported: its rows get the session's next sequence, once. */
  #makeReport(fields: ReportFields): void {
    const rows = fittingRows(this.#rows, rowCounts);
    const held = this.#held.slice(0, MAX_APPLIED_PER_REPORT);
    const sequence =
      rows.length === 0
        ? undefined
        : this.#options.outbox.assign(
            this.#options.sessionId,
            rows.map((row) => row.seq),
          );
    this.#rows = this.#rows.slice(rows.length);
    this.#held = this.#held.slice(held.length);
    const applied = rows.flatMap((row) => row.applied);
    const quarantined = rows.flatMap((row) => row.quarantined);
    const released = rows.flatMap((row) => row.released);
    const progress = this.#options.progress();
    const report: SyncReport = {
      sessionId: this.#options.sessionId,
      ...(sequence === undefined ? {} : { sequence }),
      messagesSynced: progress.messagesSynced,
      ...(progress.messagesChecked === undefined
        ? {}
        : { messagesChecked: progress.messagesChecked }),
      ...(progress.messagesTotal === undefined ? {} : { messagesTotal: progress.messagesTotal }),
      applied,
      ...(held.length === 0 ? {} : { held }),
      ...(quarantined.length === 0 ? {} : { quarantined }),
      ...(released.length === 0 ? {} : { released }),
      cursor: progress.cursor,
      ...(progress.sourceHeadSeq === undefined ? {} : { sourceHeadSeq: progress.sourceHeadSeq }),
      ...fields,
    };
    this.#pending = {
      report,
      entries: applied.length + quarantined.length + released.length + held.length,
    };
  }

  /** Sends the pending report until central takes it; its rows go from the outbox then. */
  async #deliver(attempts: number): Promise<SyncReportResponse> {
    const pending = this.#pending;
    if (!pending) throw new Error('unreachable: no report to deliver');
    const backoff = new Backoff({ initialMs: 400, maxMs: 5000 });
    for (let attempt = 1; ; attempt += 1) {
      try {
        const response = await this.#options.central.reportSync(pending.report);
        if (pending.report.sequence !== undefined)
          this.#options.outbox.taken(this.#options.sessionId, pending.report.sequence);
        this.#pending = undefined;
        this.#unreported -= pending.entries;
        return response;
      } catch (error) {
        if (attempt >= attempts || this.#options.closing.aborted) {
          // Without central the session cannot be tracked: stop pulling. What was applied is
          // safe (cursor committed with it, entries in the outbox): the report goes first when
          // the session reports again, or with the node's leftovers (leftoverReporter.ts).
          throw new ReportRefused(`central did not take the report: ${describe(error)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      }
    }
  }
}

function rowCounts(row: OutboxRow): readonly [number, number, number] {
  return [row.applied.length, row.quarantined.length, row.released.length];
}

function countOf(row: OutboxRow): number {
  return row.applied.length + row.quarantined.length + row.released.length;
}
