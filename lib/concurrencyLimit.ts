// At most `limit` tasks at once, the rest waiting in arrival order. Used where the work runs on a
// shared pool that other requests also need (scrypt on libuv's 4 threads, which file I/O, DNS and
// WebCrypto use too): bounding our share keeps threads free for everyone else.
export class ConcurrencyLimit {
  #limit: number;
  #running = 0;
  readonly #queue: Array<() => void> = [];

  constructor(limit: number) {
    this.#limit = ConcurrencyLimit.#valid(limit);
  }

  get running(): number {
    return this.#running;
  }

  get waiting(): number {
    return this.#queue.length;
  }

  /** Takes effect as tasks start and finish; running tasks are never interrupted. */
  setLimit(limit: number): void {
    this.#limit = ConcurrencyLimit.#valid(limit);
    this.#startWaiting();
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit || this.#queue.length > 0) {
      await new Promise<void>((resolve) => this.#queue.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      this.#running--;
      this.#startWaiting();
    }
  }

  #startWaiting(): void {
    while (this.#running < this.#limit) {
      const next = this.#queue.shift();
      if (!next) return;
      // The slot is taken here, not when the waiter resumes, so no newcomer can slip in between.
      this.#running++;
      next();
    }
  }

  static #valid(limit: number): number {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
    return limit;
  }
}
