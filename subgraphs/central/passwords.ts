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
const DEFAULTS = { N: 32_768, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

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
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, DEFAULTS);
  return `scrypt$${DEFAULTS.N}$${DEFAULTS.r}$${DEFAULTS.p}$${salt.toString('base64url')}$${key.toString('base64url')}`;
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

/**
 * A hash of a random password, verified against when a username does not exist so that the
 * answer takes as long as for a real user (no user enumeration by timing).
 */
export const dummyPasswordHash: Promise<string> = hashPassword(randomBytes(16).toString('hex'));
