// Login throttling: failed logins are counted per username and per client address in a sliding
// window; past the limit, login answers RATE_LIMITED without even hashing the password, so a
// brute force gets a handful of guesses per window instead of thousands. Counters live in memory:
// a restart forgets them, and each central process counts its own (see docs/SECURITY.md).
import { appError } from '../../lib/errors.ts';

export interface LoginThrottleOptions {
  /** Failed logins one username may have per window. @default 10 */
  readonly maxFailuresPerUsername?: number;
  /** Failed logins one client address may have per window (any usernames). @default 50 */
  readonly maxFailuresPerAddress?: number;
  /** Length of the sliding window. @default 900000 (15 minutes) */
  readonly windowMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Keys kept at most, so that a flood of random usernames cannot grow memory without bound. */
const MAX_KEYS = 100_000;

export class LoginThrottle {
  readonly #perUsername: number;
  readonly #perAddress: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #failures = new Map<string, number[]>();

  constructor(options: LoginThrottleOptions = {}) {
    this.#perUsername = options.maxFailuresPerUsername ?? 10;
    this.#perAddress = options.maxFailuresPerAddress ?? 50;
    this.#windowMs = options.windowMs ?? 900_000;
    this.#now = options.now ?? Date.now;
  }

  /** Throws RATE_LIMITED when either the username or the address is over its limit. */
  check(username: string, address: string | undefined): void {
    const wait = Math.max(
      this.#waitMs(`u:${username}`, this.#perUsername),
      address === undefined ? 0 : this.#waitMs(`a:${address}`, this.#perAddress),
    );
    if (wait > 0) {
      const retryAfterSeconds = Math.ceil(wait / 1000);
      throw appError(
        'RATE_LIMITED',
        `too many failed logins: try again in ${retryAfterSeconds} s`,
        { extensions: { retryAfterSeconds } },
      );
    }
  }

  recordFailure(username: string, address: string | undefined): void {
    this.#push(`u:${username}`);
    if (address !== undefined) this.#push(`a:${address}`);
  }

  /** A right password clears its username's failures (not the address's: one address, many users). */
  recordSuccess(username: string): void {
    this.#failures.delete(`u:${username}`);
  }

  #recent(key: string): number[] {
    const since = this.#now() - this.#windowMs;
    const list = (this.#failures.get(key) ?? []).filter((t) => t > since);
    if (list.length === 0) this.#failures.delete(key);
    else this.#failures.set(key, list);
    return list;
  }

  #waitMs(key: string, limit: number): number {
    const list = this.#recent(key);
    if (list.length < limit) return 0;
    const oldest = list[list.length - limit] ?? this.#now();
    return oldest + this.#windowMs - this.#now();
  }

  #push(key: string): void {
    const list = this.#recent(key);
    list.push(this.#now());
    this.#failures.set(key, list);
    if (this.#failures.size > MAX_KEYS) {
      // Map order is insertion order: the first keys are the longest untouched.
      const first = this.#failures.keys().next();
      if (!first.done) this.#failures.delete(first.value);
    }
  }
}
