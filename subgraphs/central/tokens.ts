// Signing users' tokens and nodes' pull tokens (lib/pullToken.ts). The Ed25519 key pair lives in the settings table so that every central
// replica signs with the same key and restarts keep issued tokens valid; other processes verify
// with the public half served at /.well-known/jwks.json.
import { randomUUID } from 'node:crypto';
import type { CryptoKey, JSONWebKeySet, JWK, JWTVerifyGetKey } from 'jose';
import { createLocalJWKSet } from 'jose/jwks/local';
import { exportJWK } from 'jose/key/export';
import { generateKeyPair } from 'jose/key/generate/keypair';
import { importJWK } from 'jose/key/import';
import { SignJWT } from 'jose/jwt/sign';
import { eq } from 'drizzle-orm';
import {
  PULL_TOKEN_TTL_SECONDS,
  PULL_TOKEN_TYPE,
  pullAudience,
  roomSetDigest,
} from '../../lib/pullToken.ts';
import type { PullTokenResponse } from '../../lib/syncProtocol.ts';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, type Viewer } from '../../lib/userAuth.ts';
import type { CentralDatabase } from './db/open.ts';
import { settings } from './db/schema.ts';

const KEY_SETTING = 'token_signing_key';

interface StoredKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
  /**
   * Public halves of keys replaced by a rotation, served until `until` (ISO time: the rotation
   * plus the token lifetime), so tokens signed before it keep verifying until they expire.
   */
  readonly retired?: ReadonlyArray<{ readonly publicJwk: JWK; readonly until: string }>;
}

/** Who may pull which rooms from whom; the caller has checked that both nodes store them. */
export interface PullGrantRequest {
  readonly sourceNodeId: string;
  readonly targetNodeId: string;
  readonly roomIds: readonly string[];
}

export interface TokenSigner {
  sign(viewer: Viewer): Promise<string>;
  /** A pull token; `lifetimeSeconds` other than the default is for tests (e.g. expired ones). */
  signPull(grant: PullGrantRequest, lifetimeSeconds?: number): Promise<PullTokenResponse>;
  readonly jwks: JSONWebKeySet;
  /** Verifies with the local public key (no HTTP round trip to ourselves). */
  readonly keys: JWTVerifyGetKey;
}

async function generateKey(): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  const kid = randomUUID();
  return {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' },
  };
}

async function loadOrCreateKey(db: CentralDatabase): Promise<StoredKey> {
  const existing = await db.select().from(settings).where(eq(settings.key, KEY_SETTING));
  if (existing[0]) return existing[0].value as StoredKey;
  // Two replicas starting together: the first insert wins and both read it back.
  await db
    .insert(settings)
    .values({ key: KEY_SETTING, value: await generateKey() })
    .onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY_SETTING));
  return row?.value as StoredKey;
}

export interface RotationResult {
  readonly kid: string;
  readonly previousKid: string | undefined;
  /** True when tokens signed with earlier keys stopped verifying at once. */
  readonly revoked: boolean;
}

/**
 * Replaces the signing key. The old public key stays in the JWKS for `ttlSeconds` (tokens it
 * signed keep working until they expire) unless `revokeIssuedTokens`, which drops every earlier
 * key: all issued tokens stop verifying and users log in again. Running centrals load the key at
 * start, so restart them afterwards (docs/SECURITY.md).
 */
export async function rotateSigningKey(
  db: CentralDatabase,
  options: { readonly ttlSeconds: number; readonly revokeIssuedTokens: boolean },
): Promise<RotationResult> {
  const now = Date.now();
  const fresh = await generateKey();
  return db.transaction(async (tx) => {
    const [row] = await tx
      .select()
      .from(settings)
      .where(eq(settings.key, KEY_SETTING))
      .for('update');
    const old = row?.value as StoredKey | undefined;
    const retired = options.revokeIssuedTokens
      ? []
      : [
          ...(old
            ? [
                {
                  publicJwk: old.publicJwk,
                  until: new Date(now + options.ttlSeconds * 1000).toISOString(),
                },
              ]
            : []),
          ...(old?.retired ?? []).filter((r) => Date.parse(r.until) > now),
        ];
    const value: StoredKey = { ...fresh, retired };
    await tx
      .insert(settings)
      .values({ key: KEY_SETTING, value })
      .onConflictDoUpdate({ target: settings.key, set: { value } });
    return { kid: fresh.kid, previousKid: old?.kid, revoked: options.revokeIssuedTokens };
  });
}

export async function createTokenSigner(
  db: CentralDatabase,
  ttlSeconds: number,
): Promise<TokenSigner> {
  const stored = await loadOrCreateKey(db);
  const privateKey = (await importJWK(stored.privateJwk, 'EdDSA')) as CryptoKey;
  const now = Date.now();
  const jwks: JSONWebKeySet = {
    keys: [
      stored.publicJwk,
      ...(stored.retired ?? []).filter((r) => Date.parse(r.until) > now).map((r) => r.publicJwk),
    ],
  };
  return {
    jwks,
    keys: createLocalJWKSet(jwks),
    sign: (viewer) =>
      new SignJWT({ username: viewer.username, role: viewer.role })
        .setProtectedHeader({ alg: 'EdDSA', kid: stored.kid })
        .setSubject(viewer.id)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(TOKEN_AUDIENCE)
        .setIssuedAt()
        .setExpirationTime(`${ttlSeconds}s`)
        .sign(privateKey),
    async signPull(grant, lifetimeSeconds = PULL_TOKEN_TTL_SECONDS) {
      const issuedAt = Math.floor(Date.now() / 1000);
      const expiresAt = issuedAt + lifetimeSeconds;
      const token = await new SignJWT({ rdg: roomSetDigest(grant.roomIds) })
        .setProtectedHeader({ alg: 'EdDSA', kid: stored.kid, typ: PULL_TOKEN_TYPE })
        .setSubject(grant.targetNodeId)
        .setIssuer(TOKEN_ISSUER)
        .setAudience(pullAudience(grant.sourceNodeId))
        .setIssuedAt(issuedAt)
        .setExpirationTime(expiresAt)
        .sign(privateKey);
      return { token, expiresAt: expiresAt * 1000 };
    },
  };
}
