// User identity: central signs short-lived JWTs (EdDSA); every other process verifies them with
// central's public keys (JWKS), so no shared secret has to be copied to nodes or gateways.
import type { JWTVerifyGetKey } from 'jose';
import * as joseErrors from 'jose/errors';
import { jwtVerify } from 'jose/jwt/verify';
import { centralEndpoints, type CentralEndpoints } from './centralEndpoints.ts';
import { appError } from './errors.ts';
import { failoverKeySet, keySetUnavailable } from './remoteKeys.ts';

export const TOKEN_ISSUER = 'switchboard-central';
export const TOKEN_AUDIENCE = 'switchboard';
export const JWKS_PATH = '/.well-known/jwks.json';

export type Role = 'ADMIN' | 'MEMBER';

/** The authenticated user a request acts for. */
export interface Viewer {
  readonly id: string;
  readonly username: string;
  readonly role: Role;
  /** When the token this viewer came from expires (ms since the epoch), if it says. */
  readonly expiresAt?: number;
}

/**
 * The token of an `Authorization: Bearer <token>` header: undefined when there is no header,
 * and an UNAUTHENTICATED error when the header is there but is not a bearer token.
 */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header === '') return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) {
    throw appError('UNAUTHENTICATED', 'Authorization header must be "Bearer <token>"', {
      httpStatus: true,
    });
  }
  return match[1];
}

export async function verifyUserToken(token: string, keys: JWTVerifyGetKey): Promise<Viewer> {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, keys, {
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      algorithms: ['EdDSA'],
    });
    // Central signs other kinds of tokens with the same key (nodes' pull tokens, typ sb-pull+jwt),
    // and gateways sign assertions (sb-gw+jwt): a typed JWT is never a user token, whoever signed it.
    if (protectedHeader.typ !== undefined && protectedHeader.typ.toUpperCase() !== 'JWT') {
      throw appError(
        'UNAUTHENTICATED',
        `invalid token (a ${protectedHeader.typ.slice(0, 40)} is not a user token)`,
        {
          httpStatus: true,
        },
      );
    }
    const role = payload['role'];
    const username = payload['username'];
    if (
      typeof payload.sub !== 'string' ||
      typeof username !== 'string' ||
      (role !== 'ADMIN' && role !== 'MEMBER')
    ) {
      throw appError('UNAUTHENTICATED', 'token is missing its subject, username or role', {
        httpStatus: true,
      });
    }
    return {
      id: payload.sub,
      username,
      role,
      ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
    };
  } catch (error) {
    // Central's keys could not be had: the token may well be valid, so say what failed.
    if (keySetUnavailable(error)) {
      throw appError('CENTRAL_UNAVAILABLE', "central's signing keys could not be fetched", {
        httpStatus: true,
        cause: error,
      });
    }
    if (error instanceof joseErrors.JWTExpired) {
      throw appError('UNAUTHENTICATED', 'token has expired: log in again', { httpStatus: true });
    }
    if (error instanceof joseErrors.JOSEError) {
      throw appError('UNAUTHENTICATED', `invalid token (${error.code})`, { httpStatus: true });
    }
    throw error;
  }
}

/** The viewer of an Authorization header; null when there is none; throws when it is invalid. */
export async function viewerFromAuthorization(
  header: string | undefined,
  keys: JWTVerifyGetKey,
): Promise<Viewer | null> {
  const token = bearerToken(header);
  return token === undefined ? null : verifyUserToken(token, keys);
}

export interface TokenCacheOptions {
  /** Most tokens remembered; the oldest is forgotten first. @default 10000 */
  readonly maxEntries?: number;
  /**
   * How long a verified token is taken without verifying it again (never past its `exp`). As long
   * as a JWKS answer is cached (`remoteUserKeys`), so a revoked key stops working no later than it
   * did without this cache. @default 60000
   */
  readonly maxAgeMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Verifies bearer tokens, remembering the ones that verified: a client sends the same token with
 * every request, and an EdDSA verification per request was ~6% of the gateway's CPU on a
 * federated query. Failures are never remembered.
 */
export class TokenVerifier {
  readonly #keys: JWTVerifyGetKey;
  readonly #maxEntries: number;
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  readonly #verified = new Map<string, { readonly viewer: Viewer; readonly until: number }>();

  constructor(keys: JWTVerifyGetKey, options: TokenCacheOptions = {}) {
    this.#keys = keys;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#maxAgeMs = options.maxAgeMs ?? 60_000;
    this.#now = options.now ?? Date.now;
  }

  /** The viewer of an Authorization header; null when there is none; throws when it is invalid. */
  async viewerOf(header: string | undefined): Promise<Viewer | null> {
    const token = bearerToken(header);
    if (token === undefined) return null;
    const now = this.#now();
    const known = this.#verified.get(token);
    if (known && known.until > now) return known.viewer;
    if (known) this.#verified.delete(token);
    const viewer = await verifyUserToken(token, this.#keys);
    const until = Math.min(viewer.expiresAt ?? Infinity, now + this.#maxAgeMs);
    if (this.#verified.size >= this.#maxEntries) {
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
    this.#verified.set(token, { viewer, until });
    return viewer;
  }
}

/**
 * Central's public keys, fetched on first use, again in the background before they are a minute
 * old, and when a token names an unknown key id; from the next central when one cannot be
 * reached, and while none can, the last set fetched for KEYS_STALE_IF_ERROR_MS (lib/remoteKeys.ts).
 */
export function remoteUserKeys(
  central: string | readonly string[] | CentralEndpoints,
  timeoutMs = 5_000,
): JWTVerifyGetKey {
  return failoverKeySet(centralEndpoints(central), JWKS_PATH, {
    cooldownMs: 5_000,
    timeoutMs,
    // Refetched at least every minute while central answers, so a key revoked at central stops
    // verifying here soon.
    maxAgeMs: 60_000,
  });
}
