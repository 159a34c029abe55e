// Central's public key sets (users' tokens, gateways' assertions), fetched from whichever central
// answers: one cached set per central, asked in the order of the shared endpoints. A set that
// cannot be fetched (no connection, a timeout, not a 200) moves everyone to the next central;
// a key that is not in the set is an answer like any other and moves nothing.
//
// A set is refetched in the background before it is `maxAgeMs` old, so no request waits on
// central for it; while central cannot answer, the last set it gave keeps verifying for up to
// `staleIfErrorMs` (retried every RETRY_MS). Before, every request after the minute waited on the
// refetch, and a central slow for a few seconds (a saturated machine) failed writes on every node
// at once with CENTRAL_UNAVAILABLE although the keys had not changed.
import * as joseErrors from 'jose/errors';
import { createRemoteJWKSet, type RemoteJWKSet } from 'jose/jwks/remote';
import { describe, type CentralEndpoints } from './centralEndpoints.ts';

export type FailoverKeySet = Pick<RemoteJWKSet, 'coolingDown'> &
  ((...args: Parameters<RemoteJWKSet>) => ReturnType<RemoteJWKSet>);

/**
 * How long a key set central gave is still used while no central answers: the bound on a key
 * removed at central (a revoked token key, a stopped gateway's key) still verifying on a node or
 * gateway cut off from central, the same as a member's rights (`--membership-stale-ms`).
 */
export const KEYS_STALE_IF_ERROR_MS = 5 * 60_000;

/** Least time between two background fetches of one central's set. */
const RETRY_MS = 1_000;

export interface FailoverKeySetOptions {
  /** Least time between two fetches for an unknown key id (jose's `cooldownDuration`). */
  readonly cooldownMs: number;
  /** Deadline of one fetch (jose's `timeoutDuration`). */
  readonly timeoutMs: number;
  /**
   * While central answers, a set is never used older than this: it is refetched in the
   * background from three quarters of it on.
   */
  readonly maxAgeMs: number;
  /**
   * While central cannot answer, the last set it gave is still used until it is this old; after
   * that a request must fetch it (and fails when central cannot answer).
   * @default KEYS_STALE_IF_ERROR_MS
   */
  readonly staleIfErrorMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/** Whether the set could not be fetched at all (rather than lacking the key): try the next central. */
function unreachable(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWKSTimeout ||
    (error instanceof TypeError && error.message === 'fetch failed') ||
    (error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC')
  );
}

/**
 * Whether a verification failed for want of central's key set (none could be fetched, or central
 * sent no valid one) rather than on the token: the caller says CENTRAL_UNAVAILABLE, since the
 * token may well be valid.
 */
export function keySetUnavailable(error: unknown): boolean {
  return unreachable(error) || error instanceof joseErrors.JWKSInvalid;
}

/** One central's copy of the set and when it was last fetched from it. */
interface CentralSet {
  readonly url: string;
  readonly set: RemoteJWKSet;
  fetchedAt: number;
  lastAttempt: number;
  refreshing: boolean;
}

export function failoverKeySet(
  central: CentralEndpoints,
  path: string,
  options: FailoverKeySetOptions,
): FailoverKeySet {
  const now = options.now ?? Date.now;
  const { maxAgeMs } = options;
  const refreshAfterMs = (maxAgeMs * 3) / 4;
  const staleIfErrorMs = Math.max(options.staleIfErrorMs ?? KEYS_STALE_IF_ERROR_MS, maxAgeMs);
  const sets = new Map(
    central.urls.map((url): [string, CentralSet] => [
      url,
      {
        url,
        set: createRemoteJWKSet(new URL(path, url), {
          cooldownDuration: options.cooldownMs,
          timeoutDuration: options.timeoutMs,
          // Its age is judged here (fetchedAt): jose's own set only fetches for the first use we
          // ask of it (reload) and for an unknown key id.
          cacheMaxAge: Infinity,
        }),
        fetchedAt: -Infinity,
        lastAttempt: -Infinity,
        refreshing: false,
      },
    ]),
  );
  const setOf = (url: string) => sets.get(url) as CentralSet;

  /** A failed fetch from a central that could not answer moves everyone to the next one. */
  const fetchFailed = (entry: CentralSet, error: unknown) => {
    if (unreachable(error)) central.failed(entry.url, `${path}: ${describe(error)}`);
  };

  /** Fetches the set again without anyone waiting for it; the copy in use stays until it lands. */
  const refreshInBackground = (entry: CentralSet) => {
    const started = now();
    if (entry.refreshing || started - entry.lastAttempt < RETRY_MS) return;
    entry.refreshing = true;
    entry.lastAttempt = started;
    entry.set
      .reload()
      .then(
        () => {
          entry.fetchedAt = started;
        },
        (error: unknown) => fetchFailed(entry, error),
      )
      .finally(() => {
        entry.refreshing = false;
      });
  };

  /** Verifies with `entry`'s copy, fetching it first when there is none young enough. */
  const verifyWith = async (entry: CentralSet, ...args: Parameters<RemoteJWKSet>) => {
    const age = now() - entry.fetchedAt;
    if (age >= staleIfErrorMs) {
      const started = now();
      entry.lastAttempt = started;
      await entry.set.reload();
      entry.fetchedAt = started;
    } else if (age >= refreshAfterMs) {
      refreshInBackground(entry);
    }
    return entry.set(...args);
  };

  const keys = async (...args: Parameters<RemoteJWKSet>) => {
    const first = central.current;
    let lastError: unknown;
    for (const url of [first, ...central.urls.filter((u) => u !== first)]) {
      const entry = setOf(url);
      try {
        return await verifyWith(entry, ...args);
      } catch (error) {
        if (!unreachable(error)) throw error;
        fetchFailed(entry, error);
        lastError = error;
      }
    }
    throw lastError;
  };
  return Object.defineProperty(keys, 'coolingDown', {
    get: () => setOf(central.current).set.coolingDown,
  }) as FailoverKeySet;
}
