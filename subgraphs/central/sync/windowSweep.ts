// Closes the live windows their target stopped reporting. A window (liveReport.ts) completes with
// its target's last report, which comes from the target's outbox; a target restored from nothing
// (a wiped data dir, a new disk) has no outbox left, so that report never comes and the window
// would stay IN_PROGRESS for ever. A window without a report for `staleMs` (far beyond the
// target's idle bound of one second and its reporter's pauses, and beyond a restart) is FAILED
// with the reason. It is not lost for good: should its target still hold it (it was only away
// longer), its next report records as usual and its last one completes it (liveReport.ts).
import { and, eq, isNotNull, lt } from 'drizzle-orm';
import type { CentralServices } from '../context.ts';
import { syncSessions } from '../db/schema.ts';
import { toSnapshot } from './snapshot.ts';

/** A window without a report for this long is closed. @default 5 minutes */
export const LIVE_WINDOW_STALE_MS = 300_000;

export const STALE_WINDOW_REASON =
  'no report from the target for too long: its record of the window is gone (e.g. its data was wiped); what it reported is recorded';

/** Fails the stale windows and publishes each; returns how many. */
export async function sweepStaleWindows(
  services: Pick<CentralServices, 'db' | 'events'>,
  staleMs: number,
  now = new Date(),
): Promise<number> {
  const closed = await services.db
    .update(syncSessions)
    .set({ status: 'FAILED', error: STALE_WINDOW_REASON, completedAt: now, updatedAt: now })
    .where(
      and(
        eq(syncSessions.status, 'IN_PROGRESS'),
        isNotNull(syncSessions.liveReportSeq),
        lt(syncSessions.updatedAt, new Date(now.getTime() - staleMs)),
      ),
    )
    .returning();
  for (const session of closed) {
    await services.events.publish({ type: 'syncSessionUpdated', session: toSnapshot(session) });
  }
  return closed.length;
}

/** Sweeps every `staleMs / 4` (at least once a second, at most once a minute); returns the stop. */
export function startWindowSweep(
  services: Pick<CentralServices, 'db' | 'events' | 'log'>,
  staleMs = LIVE_WINDOW_STALE_MS,
): () => Promise<void> {
  const periodMs = Math.min(60_000, Math.max(1000, Math.floor(staleMs / 4)));
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = sweepStaleWindows(services, staleMs)
        .then((count) => {
          if (count > 0) services.log.warn(`closed ${count} live windows: ${STALE_WINDOW_REASON}`);
        })
        .catch((error: unknown) => services.log.error('live window sweep failed', error))
        .finally(schedule);
    }, periodMs);
    timer.unref();
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
