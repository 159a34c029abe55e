// Pull tokens: what a target node shows a source node's sync feed instead of its own API key.
// Central signs them (with the key that signs users' tokens) for one source, one target and one
// set of rooms both store, for 10 minutes; the source checks them with central's JWKS, so a
// captured token reads those rooms from that source until it expires and opens nothing else.
import { createHash } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import * as joseErrors from 'jose/errors';
import { jwtVerify } from 'jose/jwt/verify';
import { TOKEN_ISSUER } from './userAuth.ts';

/** The JWT `typ` header of a pull token: never accepted as a user's token, nor the reverse. */
export const PULL_TOKEN_TYPE = 'sb-pull+jwt';
/** The header a target sends its pull token in (never X-Node-API-Key). */
export const PULL_TOKEN_HEADER = 'x-sync-pull-token';
export const PULL_TOKEN_TTL_SECONDS = 600;
/** A target asks central for a fresh token when its token has less than this left. */
export const PULL_TOKEN_RENEW_MS = 120_000;
/** Most rooms one token covers (the feed's own bound on a request's room list). */
export const MAX_PULL_TOKEN_ROOMS = 1000;

/** The audience of tokens for `sourceNodeId`'s feed: no other node's feed accepts them. */
export function pullAudience(sourceNodeId: string): string {
  return `node:${sourceNodeId}`;
}

/**
 * The `rdg` claim: SHA-256 (hex) of the distinct room ids, sorted (code-unit order), joined with
 * commas. A request is served only for the room set its token names.
 */
export function roomSetDigest(roomIds: readonly string[]): string {
  const sorted = [...new Set(roomIds)].sort();
  return createHash('sha256').update(sorted.join(','), 'utf8').digest('hex');
}

export interface PullGrant {
  /** The target node the token was issued to: the peer the feed acknowledges for. */
  readonly peerNodeId: string;
  /** `rdg`: see roomSetDigest. */
  readonly roomDigest: string;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
}

/** Why a pull token was refused; `unavailable` when central's keys could not be fetched. */
export class PullTokenError extends Error {
  override readonly name = 'PullTokenError';
  readonly unavailable: boolean;
  constructor(message: string, unavailable = false, options?: ErrorOptions) {
    super(message, options);
    this.unavailable = unavailable;
  }
}

/** Checks a pull token presented to the feed of node `ownNodeId`; throws PullTokenError. */
export async function verifyPullToken(
  token: string,
  keys: JWTVerifyGetKey,
  ownNodeId: string,
): Promise<PullGrant> {
  try {
    const { payload } = await jwtVerify(token, keys, {
      typ: PULL_TOKEN_TYPE,
      issuer: TOKEN_ISSUER,
      audience: pullAudience(ownNodeId),
      algorithms: ['EdDSA'],
      requiredClaims: ['sub', 'exp', 'iat', 'rdg'],
    });
    const digest = payload['rdg'];
    if (typeof payload.sub !== 'string' || payload.sub === '' || typeof digest !== 'string') {
      throw new PullTokenError('pull token lacks its subject or room digest');
    }
    if (typeof payload.exp !== 'number') throw new PullTokenError('pull token lacks exp');
    return { peerNodeId: payload.sub, roomDigest: digest, expiresAt: payload.exp * 1000 };
  } catch (error) {
    if (error instanceof PullTokenError) throw error;
    if (
      error instanceof joseErrors.JWKSTimeout ||
      error instanceof joseErrors.JWKSInvalid ||
      (error instanceof TypeError && error.message === 'fetch failed')
    ) {
      throw new PullTokenError("central's signing keys could not be fetched", true, {
        cause: error,
      });
    }
    if (error instanceof joseErrors.JWTExpired) throw new PullTokenError('pull token has expired');
    if (error instanceof joseErrors.JWTClaimValidationFailed) {
      throw new PullTokenError(`invalid pull token (${error.claim}: ${error.reason})`);
    }
    if (error instanceof joseErrors.JOSEError) {
      throw new PullTokenError(`invalid pull token (${error.code})`);
    }
    throw error;
  }
}
