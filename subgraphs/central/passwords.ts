// Password hashing with scrypt (memory-hard, in node:crypto). The parameters are stored with each
// hash, so raising them later only affects new hashes and old ones keep verifying.
import {
  randomBytes,
  scrypt as scryptCallback,
  timingSafeEqual,
  type ScryptOptions,
} from 'node:crypto';
import { ConcurrencyLimit } from '../../lib/concurrencyLimit.ts';

// N=2^15, r=8: 32 MiB and ~150 ms per hash on a 2-core machine; slow enough to hurt a brute
// force, fast enough for interactive logins (which are also throttled).
export const DEFAULT_PASSWORD_HASH_COST = 15;
/** The cost (log2 of scrypt's N) a deployment may choose: below 10 a hash is too cheap to guess. */
export const PASSWORD_HASH_COST_RANGE = { min: 10, max: 20 } as const;
const R = 8;
const P = 1;
const KEY_LENGTH = 32;

/**
 * The cost of new hashes, for the whole process (like the hash slots below): set from central's
 * `--password-hash-cost`. Hashes keep their own parameters, so a change only affects new ones.
 * Test suites lower it: a suite creates and logs in hundreds of users, and at the default those
 * hashes were a large share of its CPU.
 */
let cost = DEFAULT_PASSWORD_HASH_COST;

export function setPasswordHashCost(next: number): void {
  if (
    !Number.isSafeInteger(next) ||
    next < PASSWORD_HASH_COST_RANGE.min ||
    next > PASSWORD_HASH_COST_RANGE.max
  )
    throw new RangeError(
      `the password hash cost must be an integer ${PASSWORD_HASH_COST_RANGE.min}-${PASSWORD_HASH_COST_RANGE.max}, got ${next}`,
    );
  cost = next;
}

function currentParams(): { N: number; r: number; p: number } {
  return { N: 2 ** cost, r: R, p: P };
}

/**
 * scrypt runs on libuv's thread pool (4 threads), which file I/O, DNS and WebCrypto (token
 * verification) share: unbounded, 15 parallel logins queued every other request behind 15 hashes.
 * Two at a time leaves half the pool to everyone else; further hashes wait here, in the event loop,
 * where waiting costs nothing. Process-wide, because the pool is. Set from central's
 * `--password-hash-concurrency`.
 */
export const passwordHashSlots = new ConcurrencyLimit(2);

function scrypt(
  password: string,
  salt: Buffer,
  params: { N: number; r: number; p: number },
): Promise<Buffer> {
  const options: ScryptOptions = { ...params, maxmem: 256 * params.N * params.r };
  return passwordHashSlots.run(
    () =>
      new Promise((resolve, reject) =>
        scryptCallback(password.normalize('NFKC'), salt, KEY_LENGTH, options, (error, key) =>
          error ? reject(error) : resolve(key),
        ),
      ),
  );
}

export async function hashPassword(password: string): Promise<string> {
  const params = currentParams();
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, params);
  return `scrypt$${params.N}$${params.r}$${params.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !n || !r || !p || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64url');
  const actual = await scrypt(password, Buffer.from(salt, 'base64url'), {
    N: Number(n),
    r: Number(r),
    p: Number(p),
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

const dummies = new Map<number, Promise<string>>();

/**
 * A hash of a random password at the current cost, verified against when a username does not
 * exist so that the answer takes as long as for a real user (no user enumeration by timing).
 */
export function dummyPasswordHash(): Promise<string> {
  let dummy = dummies.get(cost);
  if (dummy === undefined) {
    dummy = hashPassword(randomBytes(16).toString('hex'));
    dummies.set(cost, dummy);
  }
  return dummy;
}
