// A push-to-pull queue for subscriptions, written by hand rather than as an async generator so
// that `return()` releases its source at once: an async generator suspended in `await` would only
// notice the client left at the next event, holding listeners (and upstream subscriptions) open.
export interface EventQueue<T> extends AsyncIterableIterator<T> {
  push(value: T): void;
  /** Ends the stream with an error delivered after what is already queued. */
  fail(error: unknown): void;
}

export function createEventQueue<T>(onClose: () => void, limit = 10_000): EventQueue<T> {
  const buffered: T[] = [];
  const waiting: Array<{ resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void }> =
    [];
  let done = false;
  let failure: { error: unknown } | undefined;

  const close = () => {
    if (done) return;
    done = true;
    onClose();
    for (const w of waiting.splice(0)) w.resolve({ value: undefined, done: true });
  };

  const queue: EventQueue<T> = {
    push(value) {
      if (done) return;
      const next = waiting.shift();
      if (next) next.resolve({ value, done: false });
      else if (buffered.length >= limit) {
        // A subscriber that cannot keep up is cut off rather than buffering without bound.
        queue.fail(new Error(`subscriber fell more than ${limit} events behind`));
      } else buffered.push(value);
    },
    fail(error) {
      if (done) return;
      failure = { error };
      const next = waiting.shift();
      if (next && buffered.length === 0) {
        next.reject(error instanceof Error ? error : new Error(String(error)));
        close();
      }
    },
    next() {
      if (buffered.length > 0)
        return Promise.resolve({ value: buffered.shift() as T, done: false });
      if (failure) {
        const { error } = failure;
        close();
        return Promise.reject(error instanceof Error ? error : new Error(String(error)));
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
    },
    return() {
      buffered.length = 0;
      close();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(error?: unknown) {
      buffered.length = 0;
      close();
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    },
    [Symbol.asyncIterator]() {
      return queue;
    },
  };
  return queue;
}
