// Drains the live outbox to central, off the replication path: every round it closes idle windows
// and sends the next report of every window that has one, all in one request (per
// MAX_LIVE_REPORTS_PER_REQUEST windows; in order per window: at most one report of a window per
// round), deleting the entries only once central took them. While central is away the entries
// wait on disk and replication goes on; they are sent when it is back, each report once
// (central ignores a sequence it already recorded).
import { Backoff } from '../../../lib/backoff.ts';
import type { Logger } from '../../../lib/log.ts';
import {
  MAX_APPLIED_PER_REPORT,
  MAX_LIVE_REPORTS_PER_REQUEST,
  type LiveReport,
} from '../../../lib/syncProtocol.ts';
import type { LiveOutbox } from './liveOutbox.ts';
import type { SendLiveReports } from './liveReportSender.ts';

export interface LiveReporterOptions {
  readonly outbox: LiveOutbox;
  /** Sends reports of distinct windows in one request; answers each one's result, in order. */
  readonly send: SendLiveReports;
  readonly log: Logger;
  /** Pause between rounds while windows are open. @default 250 */
  readonly intervalMs?: number;
  /** Longest pause after central failed. @default 5000 */
  readonly maxBackoffMs?: number;
  /** A window closes after this long without a change. @default WINDOW_IDLE_MS */
  readonly windowIdleMs?: number;
}

export class LiveReporter {
  readonly #options: LiveReporterOptions;
  readonly #stop = new AbortController();
  #wake: (() => void) | undefined;
  readonly #done: Promise<void>;

  constructor(options: LiveReporterOptions) {
    this.#options = options;
    this.#done = this.#loop();
  }

  /** A window has something new: start a round soon if the reporter sleeps. */
  notify(): void {
    this.#wake?.();
  }

  /** Stops after the report in flight; what is not sent stays in the outbox for the next start. */
  async close(): Promise<void> {
    this.#stop.abort();
    this.#wake?.();
    await this.#done;
  }

  async #loop(): Promise<void> {
    const { outbox, log } = this.#options;
    const interval = this.#options.intervalMs ?? 250;
    const backoff = new Backoff({
      initialMs: interval,
      maxMs: Math.max(interval, this.#options.maxBackoffMs ?? 5000),
    });
    let failing = false;
    while (!this.#stop.signal.aborted) {
      let more = false;
      try {
        outbox.closeIdle(this.#options.windowIdleMs);
        for (const batch of batches(outbox.reports())) {
          if (this.#stop.signal.aborted) break;
          await this.#send(batch);
          if (batch.some((report) => report.applied.length >= MAX_APPLIED_PER_REPORT)) more = true;
        }
        if (failing) log.info('live reports reach central again');
        failing = false;
        backoff.reset();
      } catch (error) {
        if (!failing) log.warn(`live reports wait for central: ${describe(error)}`);
        failing = true;
        await this.#sleep(backoff.next(), false);
        continue;
      }
      if (more) continue;
      // Idle (nothing open, nothing unsent): sleep until a stream records something.
      await this.#sleep(interval, !outbox.pending);
    }
  }

  async #send(batch: readonly LiveReport[]): Promise<void> {
    const results = await this.#options.send(batch);
    for (const [i, report] of batch.entries()) {
      const result = results[i];
      if (result && 'error' in result) {
        // Central will never take this report as it is (e.g. the window's session belongs to
        // another pair): keeping it would stop every later one.
        this.#options.log.error(
          `central refused live report ${report.sequence} of window ${report.windowId} from ${report.sourceNodeId}; dropped: ${result.error.code}: ${result.error.message}`,
        );
      }
      this.#options.outbox.taken(report);
    }
  }

  #sleep(ms: number, untilWoken: boolean): Promise<void> {
    return new Promise((resolve) => {
      const timer = untilWoken ? undefined : setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = () => {
        this.#wake = undefined;
        if (this.#stop.signal.aborted) return done();
        // Woken from idle by a first change: one interval gathers what follows it into the
        // window's first report. On a timer the round comes anyway.
        if (untilWoken) setTimeout(done, ms);
      };
      if (this.#stop.signal.aborted) done();
    });
  }
}

/** Reports per request: at most MAX_LIVE_REPORTS_PER_REQUEST, and a few full reports' entries. */
function* batches(reports: readonly LiveReport[]): Generator<LiveReport[]> {
  let batch: LiveReport[] = [];
  let entries = 0;
  for (const report of reports) {
    const size =
      report.applied.length + (report.quarantined?.length ?? 0) + (report.released?.length ?? 0);
    if (
      batch.length > 0 &&
      (batch.length >= MAX_LIVE_REPORTS_PER_REQUEST || entries + size > MAX_APPLIED_PER_REPORT)
    ) {
      yield batch;
      batch = [];
      entries = 0;
    }
    batch.push(report);
    entries += size;
  }
  if (batch.length > 0) yield batch;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
