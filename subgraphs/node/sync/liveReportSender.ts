// How the live reporter's reports reach central: all the windows' next reports in one request
// (SYNC_LIVE_REPORTS_PATH), so central's cost per round does not grow with the node's sources.
// A central of the previous release has no such endpoint (404): during a rolling upgrade the
// reports then go one request each (SYNC_LIVE_REPORT_PATH), and the batch is tried again after a
// while, when that central may have been upgraded.
import type { Logger } from '../../../lib/log.ts';
import type { LiveReport, LiveReportResult } from '../../../lib/syncProtocol.ts';
import { CentralRefusedError, type CentralClient } from '../centralClient.ts';

export type SendLiveReports = (
  reports: readonly LiveReport[],
) => Promise<readonly LiveReportResult[]>;

/** How long reports go one by one after a central said it has no batch endpoint. */
export const SINGLE_REPORTS_FOR_MS = 60_000;

export function liveReportSender(
  central: Pick<CentralClient, 'liveReport' | 'liveReports'>,
  log: Logger,
  now: () => number = Date.now,
): SendLiveReports {
  let singleUntil = 0;
  return async (reports) => {
    if (now() >= singleUntil) {
      try {
        return await central.liveReports(reports);
      } catch (error) {
        if (!(error instanceof CentralRefusedError) || error.status !== 404) throw error;
        if (singleUntil === 0)
          log.info('central has no batch endpoint for live reports: sending them one by one');
        singleUntil = now() + SINGLE_REPORTS_FOR_MS;
      }
    }
    const results: LiveReportResult[] = [];
    for (const report of reports) {
      const { windowId, sequence } = report;
      try {
        const { recorded } = await central.liveReport(report);
        results.push({ windowId, sequence, recorded });
      } catch (error) {
        // Central will never take this report as it is; the reports sent before it are taken.
        // A failure of another kind leaves them all for the next round (central records each
        // sequence once, so those it took already are answered `recorded: false` then).
        if (!(error instanceof CentralRefusedError)) throw error;
        results.push({
          windowId,
          sequence,
          error: { code: `HTTP ${error.status}`, message: error.message },
        });
      }
    }
    return results;
  };
}
