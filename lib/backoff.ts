// Delays between retries, with jitter: many clients that lost the same server at the same moment
// (central restarting, a node failing over) must not all come back on the same tick.
//
// Two jitters, after "Exponential Backoff And Jitter" (AWS Architecture Blog, 2015):
// - full: uniform in [0, min(max, initial * 2^attempt)]. Spreads best; a delay may be near 0.
// - decorrelated: uniform in [initial, previous * 3], capped at max. Never shorter than
//   `initialMs`, which suits loops whose first delay is also a floor against spinning.

export type Jitter = 'full' | 'decorrelated';

export interface BackoffOptions {
  /** First delay; with decorrelated jitter also the shortest. */
  readonly initialMs: number;
  /** Longest delay. */
  readonly maxMs: number;
  /** @default 'decorrelated' */
  readonly jitter?: Jitter;
  /** A number in [0, 1); tests pass a fixed one. @default Math.random */
  readonly random?: () => number;
}

/** Exponent past which `initialMs * 2^attempt` is above any sensible cap (and still finite). */
const MAX_EXPONENT = 30;

/** The full-jitter delay before retry number `attempt` (0 for the first), for stateless loops. */
export function fullJitterDelay(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(
    options.maxMs,
    options.initialMs * 2 ** Math.min(Math.max(attempt, 0), MAX_EXPONENT),
  );
  return Math.round(random() * ceiling);
}

/** A retry loop's delays: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  readonly #options: BackoffOptions;
  #attempt = 0;
  #previous: number;

  constructor(options: BackoffOptions) {
    if (!(options.initialMs > 0) || !(options.maxMs >= options.initialMs)) {
      throw new RangeError(
        `backoff needs 0 < initialMs <= maxMs (got ${options.initialMs}, ${options.maxMs})`,
      );
    }
    this.#options = options;
    this.#previous = options.initialMs;
  }

  /** Failures since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The delay to wait before the next try. */
  next(): number {
    const { initialMs, maxMs } = this.#options;
    const attempt = this.#attempt;
    this.#attempt += 1;
    if ((this.#options.jitter ?? 'decorrelated') === 'full') {
      return fullJitterDelay(attempt, this.#options);
    }
    const random = this.#options.random ?? Math.random;
    const upper = Math.min(maxMs, this.#previous * 3);
    const delay = Math.min(maxMs, Math.round(initialMs + random() * (upper - initialMs)));
    this.#previous = Math.max(delay, initialMs);
    return delay;
  }

  /** Back to the first delay: the thing retried worked. */
  reset(): void {
    this.#attempt = 0;
    this.#previous = this.#options.initialMs;
  }
}
