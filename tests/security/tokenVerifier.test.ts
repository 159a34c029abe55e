// The verified-token cache of gateways and nodes: a token verified once is taken again without a
// signature check until its exp or maxAgeMs, whichever is first; failures are never remembered.
import { generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_AUDIENCE, TOKEN_ISSUER, TokenVerifier } from '../../lib/userAuth.ts';

let privateKey: CryptoKey;
let publicKey: CryptoKey;

beforeAll(async () => {
  ({ privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' }));
});

/** Keys that count how often a signature was checked. */
function countingKeys(): { keys: JWTVerifyGetKey; checks: () => number } {
  let checks = 0;
  return {
    keys: () => {
      checks += 1;
      return Promise.resolve(publicKey);
    },
    checks: () => checks,
  };
}

function token(subject: string, expSeconds: number, key: CryptoKey = privateKey): Promise<string> {
  return new SignJWT({ username: subject, role: 'MEMBER' })
    .setProtectedHeader({ alg: 'EdDSA' })
    .setSubject(subject)
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setExpirationTime(expSeconds)
    .sign(key);
}

const bearer = (t: string) => `Bearer ${t}`;
const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;

describe('TokenVerifier', () => {
  it('checks a token once, then takes it until maxAgeMs passes', async () => {
    const { keys, checks } = countingKeys();
    let now = Date.now();
    const verifier = new TokenVerifier(keys, { maxAgeMs: 60_000, now: () => now });
    const alice = await token('alice', inAnHour());
    expect(await verifier.viewerOf(bearer(alice))).toMatchObject({ id: 'alice', role: 'MEMBER' });
    expect(await verifier.viewerOf(bearer(alice))).toMatchObject({ id: 'alice' });
    expect(checks()).toBe(1);
    now += 60_001;
    expect(await verifier.viewerOf(bearer(alice))).toMatchObject({ id: 'alice' });
    expect(checks()).toBe(2);
    expect(await verifier.viewerOf(undefined)).toBeNull();
  });

  it('never takes a token past its exp without checking it again', async () => {
    const { keys, checks } = countingKeys();
    const exp = Math.floor(Date.now() / 1000) + 30;
    let now = Date.now();
    const verifier = new TokenVerifier(keys, { maxAgeMs: 3_600_000, now: () => now });
    const short = await token('bob', exp);
    expect(await verifier.viewerOf(bearer(short))).toMatchObject({ id: 'bob' });
    now = exp * 1000 - 1;
    await verifier.viewerOf(bearer(short));
    expect(checks()).toBe(1);
    // Past exp on the cache's clock the entry is gone: the signature and exp are checked again
    // (jose's own clock is the real one, where the token is still valid).
    now = exp * 1000 + 1;
    await verifier.viewerOf(bearer(short));
    expect(checks()).toBe(2);
  });

  it('does not remember a token that failed, and forgets the oldest when full', async () => {
    const { keys, checks } = countingKeys();
    const verifier = new TokenVerifier(keys, { maxEntries: 2 });
    const { privateKey: other } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
    const forged = await token('mallory', inAnHour(), other);
    for (let i = 0; i < 2; i += 1) {
      await expect(verifier.viewerOf(bearer(forged))).rejects.toMatchObject({
        extensions: { code: 'UNAUTHENTICATED' },
      });
    }
    expect(checks()).toBe(2);

    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((s) => token(s, inAnHour())));
    for (const t of [a, b, c]) await verifier.viewerOf(bearer(t!));
    expect(checks()).toBe(5);
    await verifier.viewerOf(bearer(c!)); // remembered
    await verifier.viewerOf(bearer(a!)); // forgotten when c came: checked again
    expect(checks()).toBe(6);
  });
});
