// Login throttling. Every password evaluation first takes a reservation: a `login_attempts` row
// written before any hashing, which counts as a failure until the password proves right (then
// the row goes). Three rules decide whether a reservation is granted:
//
// - per (username, address): `maxFailuresPerUsernameAndAddress` in the sliding window, then
//   RATE_LIMITED: one address gets that many guesses at one account;
// - per address: `maxFailuresPerAddress`, whatever the usernames: one address spraying accounts;
// - per username, from every address: past `maxFailuresPerUsername`, each attempt from an address
//   that already failed for this username waits `backoffBaseMs * 2^(failures - threshold)`
//   (capped at `backoffMaxMs`) after the username's latest attempt. An address with no failure
//   for the username is not slowed, so an attacker cannot lock the owner out: the owner, from
//   their own address, is refused only by what their own address did.
//
// Refusals are decided before any hashing and write nothing, so a throttled login costs central
// one short transaction. Rows live in central's database, so every central replica counts the
// same attempts and a restart forgets none.
import { createHash } from 'node:crypto';
import { and, eq, gt, lt, or, sql } from 'drizzle-orm';
import { appError } from '../../lib/errors.ts';
import type { CentralDatabase } from './db/open.ts';
import { loginAttempts } from './db/schema.ts';

export interface LoginThrottleOptions {
  /** Failed logins one username may have from one address per window. @default 10 */
  readonly maxFailuresPerUsernameAndAddress?: number;
  /** Failed logins one client address may have per window (any usernames). @default 50 */
  readonly maxFailuresPerAddress?: number;
  /**
   * Failed logins one username may have per window (from all addresses) before its further
   * attempts from addresses that failed for it are slowed down. @default 10
   */
  readonly maxFailuresPerUsername?: number;
  /** The first slowed attempt's delay; each further failure doubles it. @default 1000 */
  readonly backoffBaseMs?: number;
  /** The longest delay of the per-username backoff. @default 60000 */
  readonly backoffMaxMs?: number;
  /** Length of the sliding window. @default 900000 (15 minutes) */
  readonly windowMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** A granted password evaluation; unless `succeeded()` is called it stays counted as a failure. */
export interface LoginReservation {
  succeeded(): Promise<void>;
}

/** Old rows are swept at most this often (they no longer count, they only take space). */
const SWEEP_EVERY_MS = 60_000;

/**
 * The advisory lock id of a throttle key: 64 bits of its SHA-256. Computed here rather than with
 * hashtext() so that every reservation can take its locks in ascending id order: two reservations
 * never wait on each other crosswise (no deadlock), even when two keys share an id.
 */
function lockId(key: string): bigint {
  return createHash('sha256').update(key).digest().readBigInt64BE(0);
}

interface Counts {
  readonly pair: number;
  readonly address: number;
  readonly username: number;
  readonly usernameLastAt: number | undefined;
}

export class LoginThrottle {
  readonly #db: CentralDatabase;
  readonly #perPair: number;
  readonly #perAddress: number;
  readonly #backoffAfter: number;
  readonly #backoffBaseMs: number;
  readonly #backoffMaxMs: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  #lastSweep = 0;

  constructor(db: CentralDatabase, options: LoginThrottleOptions = {}) {
    this.#db = db;
    this.#perPair = options.maxFailuresPerUsernameAndAddress ?? 10;
    this.#perAddress = options.maxFailuresPerAddress ?? 50;
    this.#backoffAfter = options.maxFailuresPerUsername ?? 10;
    this.#backoffBaseMs = options.backoffBaseMs ?? 1000;
    this.#backoffMaxMs = options.backoffMaxMs ?? 60_000;
    this.#windowMs = options.windowMs ?? 900_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Grants one password evaluation for (username, address), or throws RATE_LIMITED with
   * `retryAfterSeconds`. Call it before any hashing.
   */
  async reserve(username: string, clientAddress: string | undefined): Promise<LoginReservation> {
    const address = clientAddress ?? '';
    const now = this.#now();
    const since = new Date(now - this.#windowMs);
    // Counting and inserting must be one step for concurrent attempts, across every central
    // replica on the database: counting, hashing, then recording let 24 of 30 concurrent guesses
    // be evaluated, and even one INSERT ... SELECT under READ COMMITTED counts without the
    // uncommitted rows of concurrent statements. Transaction-scoped advisory locks on the
    // username and the address serialise the reservations that share either; each statement after
    // the locks sees every reservation committed before them. The locks are held for these few
    // statements only, never while hashing, and released by the commit (or rollback, or a lost
    // connection).
    const waitMs = await this.#db.transaction(async (tx) => {
      const ids = [...new Set([lockId(`u:${username}`), lockId(`a:${address}`)])].sort((a, b) =>
        a < b ? -1 : a > b ? 1 : 0,
      );
      for (const id of ids)
        await tx.execute(sql`select pg_advisory_xact_lock(${id.toString()}::bigint)`);
      const counts = await this.#counts(tx, username, address, since);
      const wait = await this.#waitMs(tx, counts, username, address, since, now);
      if (wait === 0) {
        await tx.insert(loginAttempts).values({ username, address, at: new Date(now) });
      }
      return wait;
    });
    if (waitMs > 0) {
      const retryAfterSeconds = Math.ceil(waitMs / 1000);
      throw appError(
        'RATE_LIMITED',
        `too many failed logins: try again in ${retryAfterSeconds} s`,
        {
          extensions: { retryAfterSeconds },
        },
      );
    }
    await this.#sweep(now);
    return {
      // A right password clears what this address failed for this username (it was the owner, or
      // someone who knows the password anyway), not the username's failures from elsewhere: the
      // owner logging in must not reset an attacker's backoff.
      succeeded: async () => {
        await this.#db
          .delete(loginAttempts)
          .where(and(eq(loginAttempts.username, username), eq(loginAttempts.address, address)));
      },
    };
  }

  async #counts(
    tx: CentralDatabase,
    username: string,
    address: string,
    since: Date,
  ): Promise<Counts> {
    const [row] = await tx
      .select({
        pair: sql<number>`count(*) filter (where ${loginAttempts.username} = ${username} and ${loginAttempts.address} = ${address})`.mapWith(
          Number,
        ),
        address: sql<number>`count(*) filter (where ${loginAttempts.address} = ${address})`.mapWith(
          Number,
        ),
        username:
          sql<number>`count(*) filter (where ${loginAttempts.username} = ${username})`.mapWith(
            Number,
          ),
        usernameLastAt: sql<
          string | null
        >`max(${loginAttempts.at}) filter (where ${loginAttempts.username} = ${username})`,
      })
      .from(loginAttempts)
      .where(
        and(
          gt(loginAttempts.at, since),
          or(eq(loginAttempts.username, username), eq(loginAttempts.address, address)),
        ),
      );
    const last = row?.usernameLastAt;
    return {
      pair: row?.pair ?? 0,
      address: row?.address ?? 0,
      username: row?.username ?? 0,
      usernameLastAt: last === null || last === undefined ? undefined : new Date(last).getTime(),
    };
  }

  /** 0 when the attempt may go ahead, else how long until it may. */
  async #waitMs(
    tx: CentralDatabase,
    counts: Counts,
    username: string,
    address: string,
    since: Date,
    now: number,
  ): Promise<number> {
    let wait = 0;
    if (counts.pair >= this.#perPair) {
      wait = Math.max(
        wait,
        await this.#untilUnder(
          tx,
          and(eq(loginAttempts.username, username), eq(loginAttempts.address, address)),
          this.#perPair,
          since,
          now,
        ),
      );
    }
    if (counts.address >= this.#perAddress) {
      wait = Math.max(
        wait,
        await this.#untilUnder(
          tx,
          eq(loginAttempts.address, address),
          this.#perAddress,
          since,
          now,
        ),
      );
    }
    if (counts.pair > 0 && counts.username >= this.#backoffAfter && counts.usernameLastAt) {
      const delay = Math.min(
        this.#backoffMaxMs,
        this.#backoffBaseMs * 2 ** Math.min(counts.username - this.#backoffAfter, 40),
      );
      wait = Math.max(wait, counts.usernameLastAt + delay - now);
    }
    return Math.max(0, wait);
  }

  /** When the rows matching `where` are under `limit` again: their limit-th newest leaves the window. */
  async #untilUnder(
    tx: CentralDatabase,
    where: ReturnType<typeof and>,
    limit: number,
    since: Date,
    now: number,
  ): Promise<number> {
    const [row] = await tx
      .select({ at: loginAttempts.at })
      .from(loginAttempts)
      .where(and(where, gt(loginAttempts.at, since)))
      .orderBy(sql`${loginAttempts.at} desc`)
      .limit(1)
      .offset(limit - 1);
    return row ? Math.max(1, row.at.getTime() + this.#windowMs - now) : 1;
  }

  async #sweep(now: number): Promise<void> {
    if (now - this.#lastSweep <= SWEEP_EVERY_MS) return;
    this.#lastSweep = now;
    await this.#db
      .delete(loginAttempts)
      .where(lt(loginAttempts.at, new Date(now - this.#windowMs)));
  }
}
