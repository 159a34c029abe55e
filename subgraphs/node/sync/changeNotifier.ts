// Change detection: after local writes (users' posts, edits, deletes; not versions applied from
// peers, which would echo every sync back) tells central which rooms changed, so it can schedule
// INCREMENTAL sessions to the rooms' other nodes within milliseconds. Writes within `debounceMs`
// share one call. A failed call never touches the user's write (this runs after the commit, off
// its path): its rooms are kept and sent with the next write or after `retryMs`.
import type { Logger } from '../../../lib/log.ts';
import type { CentralClient } from '../centralClient.ts';
import type { MessageEvents } from '../messageEvents.ts';

export interface ChangeNotifierOptions {
  readonly events: MessageEvents;
  readonly central: Pick<CentralClient, 'roomsChanged'>;
  readonly log: Logger;
  /** How long after a write the rooms are sent, gathering the writes in between. @default 25 */
  readonly debounceMs?: number;
  /** Delay before a failed call is retried when no write comes first. @default 5000 */
  readonly retryMs?: number;
}

export interface ChangeNotifier {
  /** Stops listening and waits for a call in flight; rooms not sent yet are dropped (the schedule covers them). */
  close(): Promise<void>;
}

export function startChangeNotifier(options: ChangeNotifierOptions): ChangeNotifier {
  const debounceMs = options.debounceMs ?? 25;
  const retryMs = options.retryMs ?? 5000;
  const rooms = new Set<string>();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> | undefined;
  let failing = false;
  let closed = false;

  const schedule = (ms: number) => {
    if (closed || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      // One call at a time: a write during a call is sent right after it.
      if (inFlight) return;
      inFlight = flush().finally(() => {
        inFlight = undefined;
        if (rooms.size > 0) schedule(failing ? retryMs : debounceMs);
      });
    }, ms);
  };

  const flush = async () => {
    const roomIds = [...rooms];
    rooms.clear();
    try {
      await options.central.roomsChanged(roomIds);
      if (failing) options.log.info('change notifications reach central again');
      failing = false;
    } catch (error) {
      for (const roomId of roomIds) rooms.add(roomId);
      if (!failing) {
        options.log.warn(
          `could not tell central about changed rooms (${error instanceof Error ? error.message : String(error)}); will retry`,
        );
      }
      failing = true;
    }
  };

  const unsubscribe = options.events.onAny((event) => {
    if (event.source !== 'local') return;
    rooms.add(event.message.roomId);
    // A write after a failure retries at once (debounced), not only after `retryMs`.
    if (failing && timer !== undefined && !inFlight) {
      clearTimeout(timer);
      timer = undefined;
    }
    schedule(debounceMs);
  });

  return {
    async close() {
      closed = true;
      unsubscribe();
      clearTimeout(timer);
      timer = undefined;
      await inFlight;
    },
  };
}
