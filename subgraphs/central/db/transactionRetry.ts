// Runs a transaction again when PostgreSQL rolled it back for a deadlock or a serialization
// conflict: nothing of it was kept, so running it again is safe, and the caller (a node's report)
// should not see a 500 for what is a scheduling accident between two centrals.
import { fullJitterDelay } from '../../../lib/backoff.ts';
import { isRetryableConflict } from './errors.ts';

export interface RetryOptions {
  /** Runs of the transaction in all. @default 5 */
  readonly attempts?: number;
  /** Base of the backoff: attempt n waits up to base * 2^n, with full jitter. @default 20 */
  readonly baseDelayMs?: number;
  /** Told of each retry (for the log). */
  readonly onRetry?: (error: unknown, attempt: number) => void;
}

export async function retryOnConflict<T>(
  run: () => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 5;
  const base = options.baseDelayMs ?? 20;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await run();
    } catch (error) {
      if (attempt >= attempts || !isRetryableConflict(error)) throw error;
      options.onRetry?.(error, attempt);
      // Full jitter: two transactions that collided do not collide again in lockstep.
      const delay = fullJitterDelay(attempt, { initialMs: base, maxMs: base * 2 ** attempts });
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
