// Signing users' tokens. The Ed25519 key pair lives in the settings table so that every central
// replica signs with the same key and restarts keep issued tokens valid; other processes verify
// with the public half served at /.well-known/jwks.json.
import { randomUUID } from 'node:crypto';
import {
  createLocalJWKSet,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type JSONWebKeySet,
  type JWK,
  type JWTVerifyGetKey,
  type CryptoKey,
} from 'jose';
import { eq } from 'drizzle-orm';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, type Viewer } from '../../lib/userAuth.ts';
import type { CentralDatabase } from './db/open.ts';
import { settings } from './db/schema.ts';

const KEY_SETTING = 'token_signing_key';

interface StoredKey {
  readonly kid: string;
  readonly privateJwk: JWK;
  readonly publicJwk: JWK;
}

export interface TokenSigner {
  sign(viewer: Viewer): Promise<string>;
  readonly jwks: JSONWebKeySet;
  /** Verifies with the local public key (no HTTP round trip to ourselves). */
  readonly keys: JWTVerifyGetKey;
}

async function loadOrCreateKey(db: CentralDatabase): Promise<StoredKey> {
  const existing = await db.select().from(settings).where(eq(settings.key, KEY_SETTING));
  if (existing[0]) return existing[0].value as StoredKey;
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', {
    crv: 'Ed25519',
    extractable: true,
  });
  const kid = randomUUID();
  const fresh: StoredKey = {
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'EdDSA' },
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA', use: 'sig' },
  };
  // Two replicas starting together: the first insert wins and both read it back.
  await db.insert(settings).values({ key: KEY_SETTING, value: fresh }).onConflictDoNothing();
  const [row] = await db.select().from(settings).where(eq(settings.key, KEY_SETTING));
  return row?.value as StoredKey;
}

export async function createTokenSigner(
  db: CentralDatabase,
  ttlSeconds: number,
): Promise<TokenSigner> {
  const stored = await loadOrCreateKey(db);
  const privateKey = (await importJWK(stored.privateJwk, 'EdDSA')) as CryptoKey;
  const jwks: JSONWebKeySet = { keys: [stored.publicJwk] };
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
  };
}
