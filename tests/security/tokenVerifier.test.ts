// The verified-token cache of gateways and nodes: a token verified once is taken again without a
// signature check until its exp or maxAgeMs, whichever is first; failures are never remembered.
// And the two kinds of tokens central signs with one key: users' and nodes' pull tokens.
import { generateKeyPair, SignJWT, type CryptoKey, type JWTVerifyGetKey } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  PULL_TOKEN_TYPE,
  PullTokenError,
  pullAudience,
  roomSetDigest,
  verifyPullToken,
} from '../../lib/pullToken.ts';
import {
  TOKEN_AUDIENCE,
  TOKEN_ISSUER,
  TokenVerifier,
  verifyUserToken,
} from '../../lib/userAuth.ts';

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

describe('user tokens and pull tokens never pass for each other', () => {
  const keys: JWTVerifyGetKey = () => Promise.resolve(publicKey);
  const userClaims = () =>
    new SignJWT({ username: 'u', role: 'ADMIN' })
      .setSubject('u')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(TOKEN_AUDIENCE)
      .setExpirationTime(inAnHour());
  const pullClaims = () =>
    new SignJWT({ rdg: roomSetDigest(['r1']) })
      .setSubject('node-target')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(pullAudience('node-source'))
      .setIssuedAt()
      .setExpirationTime(inAnHour());

  it('a user token refuses the pull token type, even with a user audience', async () => {
    const plain = await userClaims().setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    expect((await verifyUserToken(plain, keys)).id).toBe('u');
    const typed = await userClaims()
      .setProtectedHeader({ alg: 'EdDSA', typ: PULL_TOKEN_TYPE })
      .sign(privateKey);
    await expect(verifyUserToken(typed, keys)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
    const pull = await pullClaims()
      .setProtectedHeader({ alg: 'EdDSA', typ: PULL_TOKEN_TYPE })
      .sign(privateKey);
    await expect(verifyUserToken(pull, keys)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it('a pull token needs its type, audience and claims: a user token is none', async () => {
    const pull = await pullClaims()
      .setProtectedHeader({ alg: 'EdDSA', typ: PULL_TOKEN_TYPE })
      .sign(privateKey);
    expect(await verifyPullToken(pull, keys, 'node-source')).toMatchObject({
      peerNodeId: 'node-target',
      roomDigest: roomSetDigest(['r1']),
    });
    await expect(verifyPullToken(pull, keys, 'node-other')).rejects.toThrow(PullTokenError);
    const untyped = await pullClaims().setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    await expect(verifyPullToken(untyped, keys, 'node-source')).rejects.toThrow(/typ/);
    const user = await userClaims().setProtectedHeader({ alg: 'EdDSA' }).sign(privateKey);
    await expect(verifyPullToken(user, keys, 'node-source')).rejects.toThrow(PullTokenError);
    // Even a user token dressed in the pull type and audience lacks the room digest.
    const dressed = await new SignJWT({ username: 'u', role: 'ADMIN' })
      .setProtectedHeader({ alg: 'EdDSA', typ: PULL_TOKEN_TYPE })
      .setSubject('u')
      .setIssuer(TOKEN_ISSUER)
      .setAudience(pullAudience('node-source'))
      .setIssuedAt()
      .setExpirationTime(inAnHour())
      .sign(privateKey);
    await expect(verifyPullToken(dressed, keys, 'node-source')).rejects.toThrow(/rdg/);
  });

  it('the room digest is of the distinct room ids, whatever their order', () => {
    expect(roomSetDigest(['b', 'a', 'b'])).toBe(roomSetDigest(['a', 'b']));
    expect(roomSetDigest(['a', 'b'])).not.toBe(roomSetDigest(['a']));
  });
});
