// A session's reports to central: what it applied, held, quarantined and released since the last
// report central accepted, sent one report at a time, in order, each with at most
// MAX_APPLIED_PER_REPORT entries per list. Progress reports go out in the background (a slow
// central gets fewer, larger ones); a failure or central's "stop" surfaces at the session's next
// step.
import { Backoff } from '../../../lib/backoff.ts';
import {
  MAX_APPLIED_PER_REPORT,
  type AppliedChange,
  type HeldVersion,
  type QuarantinedVersion,
  type SyncReport,
  type SyncReportResponse,
} from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';
import { describe } from './errorText.ts';
import { ReportRefused, SessionError, SessionStopped } from './sessionErrors.ts';

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
}

export class ReportQueue {
  readonly #options: ReportQueueOptions;
  /** Applied but not yet accepted by central (a report failed): sent with the next one. */
  #applied: AppliedChange[] = [];
  /** FULL: versions that changed nothing here, not yet accepted by central (for its index). */
  #held: HeldVersion[] = [];
  /** Quarantined, and released from quarantine, not yet accepted by central. */
  #quarantined: QuarantinedVersion[] = [];
  #released: string[] = [];
  /** The tail of the queue: reports are sent one at a time, in order. */
  #tail: Promise<unknown> = Promise.resolve();
  /** The IN_PROGRESS report sent in the background, until it settles. */
  #inFlight: Promise<void> | undefined;
  /** Why the background report failed, or central's stop: thrown at the next step. */
  #failure: Error | undefined;

  constructor(options: ReportQueueOptions) {
    this.#options = options;
  }

  add(entries: {
    readonly applied?: readonly AppliedChange[];
    readonly held?: readonly HeldVersion[];
    readonly quarantined?: readonly QuarantinedVersion[];
    readonly released?: readonly string[];
  }): void {
    if (entries.applied) this.#applied.push(...entries.applied);
    if (entries.held) this.#held.push(...entries.held);
    if (entries.quarantined) this.#quarantined.push(...entries.quarantined);
    if (entries.released) this.#released.push(...entries.released);
  }

  /**
   * Sends an IN_PROGRESS report unless one is on its way (the next one then carries this batch
   * too). Waits only when the unreported backlog is large, which bounds the memory it holds.
   */
  async inBackground(): Promise<void> {
    if (this.#inFlight) {
      const backlog =
        this.#applied.length + this.#held.length + this.#quarantined.length + this.#released.length;
      if (backlog < this.#options.maxBacklog) return;
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
    // A final report follows as many progress reports as the backlog needs.
    while (
      fields.status !== 'IN_PROGRESS' &&
      (this.#applied.length > MAX_APPLIED_PER_REPORT ||
        this.#held.length > MAX_APPLIED_PER_REPORT ||
        this.#quarantined.length > MAX_APPLIED_PER_REPORT ||
        this.#released.length > MAX_APPLIED_PER_REPORT)
    ) {
      const response = await this.#send({ status: 'IN_PROGRESS' }, attempts);
      if (!response.continue) return response;
    }
    const applied = this.#applied.slice(0, MAX_APPLIED_PER_REPORT);
    const held = this.#held.slice(0, MAX_APPLIED_PER_REPORT);
    const quarantined = this.#quarantined.slice(0, MAX_APPLIED_PER_REPORT);
    const released = this.#released.slice(0, MAX_APPLIED_PER_REPORT);
    const progress = this.#options.progress();
    const report: SyncReport = {
      sessionId: this.#options.sessionId,
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
    const backoff = new Backoff({ initialMs: 400, maxMs: 5000 });
    for (let attempt = 1; ; attempt += 1) {
      try {
        const response = await this.#options.central.reportSync(report);
        this.#applied = this.#applied.slice(applied.length);
        this.#held = this.#held.slice(held.length);
        this.#quarantined = this.#quarantined.slice(quarantined.length);
        this.#released = this.#released.slice(released.length);
        return response;
      } catch (error) {
        if (attempt >= attempts || this.#options.closing.aborted) {
          // Without central the session cannot be tracked: stop pulling. What was applied is
          // safe (cursor committed with it); central fails the session when the node reconnects.
          throw new ReportRefused(`central did not take the report: ${describe(error)}`);
        }
        await new Promise((resolve) => setTimeout(resolve, backoff.next()));
      }
    }
  }
}
