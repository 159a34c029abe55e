// Central's public key sets (users' tokens, gateways' assertions), fetched from whichever central
// answers: one cached set per central, asked in the order of the shared endpoints. A set that
// cannot be fetched (no connection, a timeout, not a 200) moves everyone to the next central;
// a key that is not in the set is an answer like any other and moves nothing.
import * as joseErrors from 'jose/errors';
import { createRemoteJWKSet, type RemoteJWKSet, type RemoteJWKSetOptions } from 'jose/jwks/remote';
import { describe, type CentralEndpoints } from './centralEndpoints.ts';

export type FailoverKeySet = Pick<RemoteJWKSet, 'coolingDown'> &
  ((...args: Parameters<RemoteJWKSet>) => ReturnType<RemoteJWKSet>);

/** Whether the set could not be fetched at all (rather than lacking the key). */
function unreachable(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWKSTimeout ||
    error instanceof TypeError ||
    (error instanceof joseErrors.JOSEError && error.code === 'ERR_JOSE_GENERIC')
  );
}

export function failoverKeySet(
  central: CentralEndpoints,
  path: string,
  options: RemoteJWKSetOptions,
): FailoverKeySet {
  const sets = new Map(
    central.urls.map((url) => [url, createRemoteJWKSet(new URL(path, url), options)]),
  );
  const setOf = (url: string) => sets.get(url) as RemoteJWKSet;
  const keys = async (...args: Parameters<RemoteJWKSet>) => {
    const first = central.current;
    let lastError: unknown;
    for (const url of [first, ...central.urls.filter((u) => u !== first)]) {
      try {
        return await setOf(url)(...args);
      } catch (error) {
        if (!unreachable(error)) throw error;
        central.failed(url, `${path}: ${describe(error)}`);
        lastError = error;
      }
    }
    throw lastError;
  };
  return Object.defineProperty(keys, 'coolingDown', {
    get: () => setOf(central.current).coolingDown,
  }) as FailoverKeySet;
}
