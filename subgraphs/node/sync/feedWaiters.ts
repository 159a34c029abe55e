// The long poll of the change feed: a request that found nothing new for its rooms waits here
// until this node commits a change of one of them (a local write or a version applied from a
// peer: both are published on MessageEvents after their commit), its wait ends, or the node
// closes. Woken by events, never by polling: one timer per parked request, for its deadline.
import type { MessageEvents } from '../messageEvents.ts';

export type WaitOutcome = 'changed' | 'timeout' | 'closed';

interface Waiter {
  readonly rooms: readonly string[];
  readonly settle: (outcome: WaitOutcome) => void;
}

export class FeedWaiters {
  readonly #byRoom = new Map<string, Set<Waiter>>();
  readonly #unsubscribe: () => void;
  #closed = false;

  constructor(events: MessageEvents) {
    this.#unsubscribe = events.onAny((event) => {
      const waiting = this.#byRoom.get(event.message.roomId);
      if (!waiting) return;
      for (const waiter of [...waiting]) waiter.settle('changed');
    });
  }

  /** How many requests are parked (tests, metrics). */
  get size(): number {
    const all = new Set<Waiter>();
    for (const set of this.#byRoom.values()) for (const w of set) all.add(w);
    return all.size;
  }

  /**
   * Resolves at the first committed change of one of `rooms`, after `ms`, when `signal` aborts
   * (the caller went away: 'timeout') or when the feed closes. Register it in the same tick as
   * the read that found nothing: events are published synchronously after a commit, so none can
   * slip in between.
   */
  wait(rooms: readonly string[], ms: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (this.#closed) return Promise.resolve('closed');
    if (signal?.aborted) return Promise.resolve('timeout');
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => waiter.settle('timeout'), ms);
      const onAbort = () => waiter.settle('timeout');
      const waiter: Waiter = {
        rooms,
        settle: (outcome) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          for (const room of rooms) {
            const set = this.#byRoom.get(room);
            set?.delete(waiter);
            if (set?.size === 0) this.#byRoom.delete(room);
          }
          resolve(outcome);
        },
      };
      signal?.addEventListener('abort', onAbort);
      for (const room of rooms) {
        let set = this.#byRoom.get(room);
        if (!set) this.#byRoom.set(room, (set = new Set()));
        set.add(waiter);
      }
    });
  }

  /** Ends every parked request ('closed') and refuses new waits: the node is shutting down. */
  close(): void {
    this.#closed = true;
    this.#unsubscribe();
    const all = new Set<Waiter>();
    for (const set of this.#byRoom.values()) for (const w of set) all.add(w);
    for (const waiter of all) waiter.settle('closed');
  }
}
