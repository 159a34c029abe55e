// Login throttling: failed logins are counted per username and per client address in a sliding
// window; past the limit, login answers RATE_LIMITED without even hashing the password, so a
// brute force gets a handful of guesses per window instead of thousands. Failures are rows in
// central's database, so every central replica sees the same counts and a restart forgets none.
import { and, desc, eq, gt, lt } from 'drizzle-orm';
import { appError } from '../../lib/errors.ts';
import type { CentralDatabase } from './db/open.ts';
import { loginFailures } from './db/schema.ts';

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

/** Old rows are swept at most this often (they no longer count, they only take space). */
const SWEEP_EVERY_MS = 60_000;

export class LoginThrottle {
  readonly #db: CentralDatabase;
  readonly #perUsername: number;
  readonly #perAddress: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(db: CentralDatabase, options: LoginThrottleOptions = {}) {
    this.#db = db;
    this.#perUsername = options.maxFailuresPerUsername ?? 10;
    this.#perAddress = options.maxFailuresPerAddress ?? 50;
    this.#windowMs = options.windowMs ?? 900_000;
    this.#now = options.now ?? Date.now;
  }

  /** Throws RATE_LIMITED when either the username or the address is over its limit. */
  async check(username: string, address: string | undefined): Promise<void> {
    const [byUser, byAddress] = await Promise.all([
      this.#waitMs(`u:${username}`, this.#perUsername),
      address === undefined ? 0 : this.#waitMs(`a:${address}`, this.#perAddress),
    ]);
    const wait = Math.max(byUser, byAddress);
    if (wait > 0) {
      const retryAfterSeconds = Math.ceil(wait / 1000);
      throw appError(
        'RATE_LIMITED',
        `too many failed logins: try again in ${retryAfterSeconds} s`,
        { extensions: { retryAfterSeconds } },
      );
    }
  }

  async recordFailure(username: string, address: string | undefined): Promise<void> {
    const at = new Date(this.#now());
    await this.#db
      .insert(loginFailures)
      .values([
        { key: `u:${username}`, at },
        ...(address === undefined ? [] : [{ key: `a:${address}`, at }]),
      ]);
    if (at.getTime() - this.#lastSweep > SWEEP_EVERY_MS) {
      this.#lastSweep = at.getTime();
      await this.#db
        .delete(loginFailures)
        .where(lt(loginFailures.at, new Date(at.getTime() - this.#windowMs)));
    }
  }

  /** A right password clears its username's failures (not the address's: one address, many users). */
  async recordSuccess(username: string): Promise<void> {
    await this.#db.delete(loginFailures).where(eq(loginFailures.key, `u:${username}`));
  }

  /** How long until `key` is under `limit` again: when its limit-th newest failure leaves the window. */
  async #waitMs(key: string, limit: number): Promise<number> {
    const now = this.#now();
    const [row] = await this.#db
      .select({ at: loginFailures.at })
      .from(loginFailures)
      .where(and(eq(loginFailures.key, key), gt(loginFailures.at, new Date(now - this.#windowMs))))
      .orderBy(desc(loginFailures.at))
      .limit(1)
      .offset(limit - 1);
    return row ? Math.max(0, row.at.getTime() + this.#windowMs - now) : 0;
  }
}
