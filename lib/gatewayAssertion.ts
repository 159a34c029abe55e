// Gateway assertions: what the gateway presents to a chat node instead of the gateway secret and
// the user's bearer token. Each gateway signs with its own Ed25519 key (registered at central,
// served at a JWKS of its own); an assertion names one node as its audience, lives 60 s and says
// which user the request acts for, so one captured by a node is worth nothing anywhere else.
import { randomBytes } from 'node:crypto';
import type { CryptoKey, JWK, JWTVerifyGetKey } from 'jose';
import * as joseErrors from 'jose/errors';
import { exportJWK } from 'jose/key/export';
import { generateKeyPair } from 'jose/key/generate/keypair';
import { SignJWT } from 'jose/jwt/sign';
import { jwtVerify } from 'jose/jwt/verify';
import { z } from 'zod';
import { centralEndpoints, type CentralEndpoints } from './centralEndpoints.ts';
import { appError } from './errors.ts';
import { failoverKeySet, keySetUnavailable } from './remoteKeys.ts';
import type { Viewer } from './userAuth.ts';

/** HTTP header of the assertion on every request from a gateway to a node. */
export const ASSERTION_HEADER = 'x-gateway-assertion';
/** connectionParams key of the assertion on graphql-ws connections from a gateway to a node. */
export const ASSERTION_PARAM = 'gatewayAssertion';
/** JOSE `typ` of assertions: a user token never has it, so neither can pass for the other. */
export const ASSERTION_TYP = 'sb-gw+jwt';
export const ASSERTION_ISSUER = 'switchboard-gateway';
export const ASSERTION_TTL_SECONDS = 60;
/** How long the gateway reuses an assertion it minted: half its life, so none is sent nearly dead. */
export const ASSERTION_REUSE_MS = 30_000;
/** Central's JWKS of gateway keys: never the users' one, so neither key can sign for the other. */
export const GATEWAY_JWKS_PATH = '/.well-known/gateway-jwks.json';
/** Route under GATEWAY_PREFIX where a gateway registers (and renews) its public key. */
export const GATEWAY_KEYS_ROUTE = 'keys';
/** How often a gateway renews its key at central. */
export const GATEWAY_KEY_RENEW_MS = 60_000;
/** Central serves a gateway key for this long after its last renewal. */
export const GATEWAY_KEY_LIFETIME_MS = 10 * 60_000;
/** Most gateway keys central serves at once (the most recently renewed). */
export const GATEWAY_KEYS_SERVED = 100;

export const nodeAudience = (nodeId: string): string => `node:${nodeId}`;

const KID = /^gw-[A-Za-z0-9_-]{8,64}$/;
const ED25519_X = /^[A-Za-z0-9_-]{43}$/;

/**
 * A gateway's public key as central accepts it: an Ed25519 JWK with a `gw-` key id, nothing else
 * (fields it does not know are dropped; a private part refuses the key).
 */
const GatewayJwkSchema = z
  .object({
    kty: z.literal('OKP'),
    crv: z.literal('Ed25519'),
    x: z.string().regex(ED25519_X),
    kid: z.string().regex(KID),
    d: z.never().optional(),
  })
  .transform(
    ({ x, kid }) =>
      ({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }) satisfies JWK,
  );

/** The body of POST `${GATEWAY_PREFIX}${GATEWAY_KEYS_ROUTE}`: the key a gateway registers or renews. */
export const GatewayKeyRequestSchema = z.object({ jwk: GatewayJwkSchema }).readonly();

export interface GatewaySignerOptions {
  /** Assertions kept for reuse; the oldest is dropped first. @default 10000 */
  readonly maxCached?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * One gateway's key pair (in memory only: a restarted gateway registers a new one) and the
 * assertions it mints, reused per (node, user) for ASSERTION_REUSE_MS so that the hot path does
 * not sign per request.
 */
export class GatewaySigner {
  readonly kid: string;
  readonly publicJwk: JWK;
  readonly #privateKey: CryptoKey;
  readonly #maxCached: number;
  readonly #now: () => number;
  readonly #cache = new Map<string, { readonly token: Promise<string>; readonly until: number }>();

  private constructor(
    kid: string,
    publicJwk: JWK,
    privateKey: CryptoKey,
    options: GatewaySignerOptions,
  ) {
    this.kid = kid;
    this.publicJwk = publicJwk;
    this.#privateKey = privateKey;
    this.#maxCached = options.maxCached ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  static async create(options: GatewaySignerOptions = {}): Promise<GatewaySigner> {
    const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
      crv: 'Ed25519',
      extractable: true,
    });
    const kid = `gw-${randomBytes(12).toString('base64url')}`;
    const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' };
    return new GatewaySigner(kid, publicJwk, privateKey, options);
  }

  /**
   * An assertion for one request to `nodeId`, acting for `viewer` (null: the gateway itself, as
   * for schema checks).
   */
  assertion(nodeId: string, viewer: Viewer | null): Promise<string> {
    const key = viewer
      ? `${nodeId}\n${viewer.id}\n${viewer.username}\n${viewer.role}\n${viewer.expiresAt ?? ''}`
      : `${nodeId}\n`;
    const now = this.#now();
    const cached = this.#cache.get(key);
    if (cached && cached.until > now) return cached.token;
    if (cached) this.#cache.delete(key);
    const token = this.#mint(nodeId, viewer, now);
    // Never reused past the user's token: the node would refuse it anyway.
    const until = Math.min(now + ASSERTION_REUSE_MS, viewer?.expiresAt ?? Infinity);
    if (this.#cache.size >= this.#maxCached) {
      const oldest = this.#cache.keys().next();
      if (!oldest.done) this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, { token, until });
    token.catch(() => {
      if (this.#cache.get(key)?.token === token) this.#cache.delete(key);
    });
    return token;
  }

  #mint(nodeId: string, viewer: Viewer | null, now: number): Promise<string> {
    const iat = Math.floor(now / 1000);
    const claims = viewer
      ? {
          username: viewer.username,
          role: viewer.role,
          ...(viewer.expiresAt === undefined ? {} : { uexp: Math.floor(viewer.expiresAt / 1000) }),
        }
      : {};
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'EdDSA', kid: this.kid, typ: ASSERTION_TYP })
      .setIssuer(ASSERTION_ISSUER)
      .setAudience(nodeAudience(nodeId))
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_TTL_SECONDS);
    if (viewer) jwt.setSubject(viewer.id);
    return jwt.sign(this.#privateKey);
  }
}

/** Who an assertion acts for: a user, or (no `sub`) the gateway itself. */
export type AssertedCaller = (
  | { readonly kind: 'user'; readonly viewer: Viewer }
  | { readonly kind: 'gateway' }
) & {
  /** When the assertion itself expires (ms since the epoch). */
  readonly assertionExpiresAt: number;
};

const refused = (message: string) => appError('UNAUTHENTICATED', message, { httpStatus: true });

/**
 * Checks an assertion meant for node `nodeId`: signature by a gateway key central serves, type,
 * issuer, audience, lifetime, and the user's claims when it acts for one.
 */
export async function verifyGatewayAssertion(
  token: unknown,
  keys: JWTVerifyGetKey,
  nodeId: string,
  now: () => number = Date.now,
): Promise<AssertedCaller> {
  if (typeof token !== 'string' || token === '' || token.length > 4096) {
    throw refused('this node serves GraphQL only through a Switchboard gateway');
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(token, keys, {
      issuer: ASSERTION_ISSUER,
      audience: nodeAudience(nodeId),
      algorithms: ['EdDSA'],
      typ: ASSERTION_TYP,
      requiredClaims: ['iat', 'exp'],
      currentDate: new Date(now()),
    }));
  } catch (error) {
    if (keySetUnavailable(error)) {
      throw appError('CENTRAL_UNAVAILABLE', "central's gateway keys could not be fetched", {
        httpStatus: true,
        cause: error,
      });
    }
    if (error instanceof joseErrors.JOSEError) {
      throw refused(`invalid gateway assertion (${error.code})`);
    }
    throw error;
  }
  const { exp, iat } = payload;
  // An assertion is short-lived by construction: a longer one was not made by a gateway.
  if (typeof exp !== 'number' || typeof iat !== 'number' || exp - iat > ASSERTION_TTL_SECONDS) {
    throw refused('invalid gateway assertion (lifetime)');
  }
  const assertionExpiresAt = exp * 1000;
  if (payload.sub === undefined) return { kind: 'gateway', assertionExpiresAt };
  const { username, role, uexp } = payload;
  if (
    typeof payload.sub !== 'string' ||
    typeof username !== 'string' ||
    (role !== 'ADMIN' && role !== 'MEMBER') ||
    (uexp !== undefined && typeof uexp !== 'number')
  ) {
    throw refused('gateway assertion is missing its username or role');
  }
  if (typeof uexp === 'number' && uexp * 1000 <= now()) {
    throw refused('token has expired: log in again');
  }
  return {
    kind: 'user',
    assertionExpiresAt,
    viewer: {
      id: payload.sub,
      username,
      role,
      ...(typeof uexp === 'number' ? { expiresAt: uexp * 1000 } : {}),
    },
  };
}

export interface AssertionVerifierOptions {
  /** Most assertions remembered. @default 10000 */
  readonly maxEntries?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

/**
 * Verifies assertions for one node, remembering those that verified until their `exp`: the
 * gateway reuses each for 30 s, so most requests skip the EdDSA check. Failures are never
 * remembered.
 */
export class AssertionVerifier {
  readonly #keys: JWTVerifyGetKey;
  readonly #nodeId: string;
  readonly #maxEntries: number;
  readonly #now: () => number;
  readonly #verified = new Map<
    string,
    { readonly caller: AssertedCaller; readonly until: number }
  >();

  constructor(keys: JWTVerifyGetKey, nodeId: string, options: AssertionVerifierOptions = {}) {
    this.#keys = keys;
    this.#nodeId = nodeId;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#now = options.now ?? Date.now;
  }

  async verify(token: unknown): Promise<AssertedCaller> {
    const now = this.#now();
    if (typeof token === 'string') {
      const known = this.#verified.get(token);
      if (known && known.until > now) return known.caller;
      if (known) this.#verified.delete(token);
    }
    const caller = await verifyGatewayAssertion(token, this.#keys, this.#nodeId, this.#now);
    const until = Math.min(
      caller.assertionExpiresAt,
      caller.kind === 'user' ? (caller.viewer.expiresAt ?? Infinity) : Infinity,
    );
    if (this.#verified.size >= this.#maxEntries) {
      const oldest = this.#verified.keys().next();
      if (!oldest.done) this.#verified.delete(oldest.value);
    }
    this.#verified.set(String(token), { caller, until });
    return caller;
  }
}

/**
 * Central's gateway keys, fetched on first use, again in the background before they are a minute
 * old, and when an assertion names an unknown kid. While central cannot answer, the last set it
 * gave keeps verifying for KEYS_STALE_IF_ERROR_MS (lib/remoteKeys.ts). A gateway that registered its
 * key less than a cooldown after this node last fetched the set would otherwise be refused until
 * the cooldown ends: an unknown kid then waits for it (at most `cooldownMs`) and looks once more,
 * so a freshly started gateway is never refused for it.
 */
export function remoteGatewayKeys(
  central: string | readonly string[] | CentralEndpoints,
  timeoutMs = 5_000,
  cooldownMs = 1_000,
): JWTVerifyGetKey {
  const jwks = failoverKeySet(centralEndpoints(central), GATEWAY_JWKS_PATH, {
    // Short, as an unknown kid can only come from the internal network.
    cooldownMs,
    timeoutMs,
    // Keys of gateways that stopped renewing leave central's set after 10 min; a node's copy
    // follows within a minute while central answers.
    maxAgeMs: 60_000,
  });
  return async (header, token) => {
    try {
      return await jwks(header, token);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey) || !jwks.coolingDown) throw error;
      await new Promise((resolve) => setTimeout(resolve, cooldownMs));
      return jwks(header, token);
    }
  };
}
