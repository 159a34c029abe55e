// lib/remoteKeys.ts: central's key sets are refetched in the background before they are a minute
// old and kept while central cannot answer (issue 15: a central slow for a few seconds on a
// saturated machine failed writes on every node at once), against a real HTTP server serving a
// JWKS. The sets' ages are judged by an injected clock; what central is asked is real.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CryptoKey, JWK } from 'jose';
import { exportJWK } from 'jose/key/export';
import { generateKeyPair } from 'jose/key/generate/keypair';
import { SignJWT } from 'jose/jwt/sign';
import { jwtVerify } from 'jose/jwt/verify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { centralEndpoints } from '../../lib/centralEndpoints.ts';
import { failoverKeySet, keySetUnavailable } from '../../lib/remoteKeys.ts';
import { verifyUserToken } from '../../lib/userAuth.ts';

const PATH = '/.well-known/jwks.json';

interface SigningKey {
  readonly kid: string;
  readonly jwk: JWK;
  readonly privateKey: CryptoKey;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519' });
  return { kid, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'EdDSA' }, privateKey };
}

const sign = (key: SigningKey) =>
  new SignJWT({ username: 'alice', role: 'MEMBER' })
    .setProtectedHeader({ alg: 'EdDSA', kid: key.kid })
    .setSubject('user-1')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key.privateKey);

/** A central's JWKS endpoint: serves `keys`, or answers 503, or holds every request. */
class JwksServer {
  mode: 'serve' | 'down' | 'hold' = 'serve';
  keys: JWK[] = [];
  requests = 0;
  readonly held: ServerResponse[] = [];
  readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req: IncomingMessage, res: ServerResponse) => {
      this.requests += 1;
      if (req.url !== PATH) res.writeHead(404).end();
      else if (this.mode === 'hold') this.held.push(res);
      else if (this.mode === 'down') res.writeHead(503).end();
      else
        res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: this.keys }));
    });
  }

  async start(): Promise<void> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Resolves at the next request central receives, or at once if `count` were already made. */
  async requested(count: number): Promise<void> {
    while (this.requests < count) await once(this.server, 'request');
  }

  release(): void {
    for (const res of this.held.splice(0))
      res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: this.keys }));
  }

  async stop(): Promise<void> {
    this.release();
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }
}

describe('failoverKeySet', () => {
  const central = new JwksServer();
  let alice: SigningKey;
  let bob: SigningKey;
  let clock = 0;
  /** `cooldownMs` 0: an unknown kid is always looked up (jose's cooldown runs on the real clock). */
  const keySet = (staleIfErrorMs = 300_000, cooldownMs = 0) =>
    failoverKeySet(centralEndpoints(central.url), PATH, {
      cooldownMs,
      // Long: a verification that waited on a held fetch would hang, not fail fast.
      timeoutMs: 60_000,
      maxAgeMs: 60_000,
      staleIfErrorMs,
      now: () => clock,
    });

  beforeAll(async () => {
    await central.start();
    alice = await signingKey('alice-key');
    bob = await signingKey('bob-key');
  });
  afterEach(() => {
    central.release();
    central.mode = 'serve';
    central.keys = [alice.jwk, bob.jwk];
    central.requests = 0;
    clock = 0;
  });
  afterAll(() => central.stop());

  it('is fetched once, then again in the background before it is a minute old, while verifications go on', async () => {
    central.keys = [alice.jwk, bob.jwk];
    const keys = keySet();
    const token = await sign(alice);
    await expect(jwtVerify(token, keys)).resolves.toMatchObject({ payload: { sub: 'user-1' } });
    clock = 40_000;
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
    expect(central.requests).toBe(1);

    // Past three quarters of the minute, central is asked again but holds the answer: the
    // verification is not kept waiting for it.
    central.mode = 'hold';
    clock = 50_000;
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
    await central.requested(2);
    expect(central.held).toHaveLength(1);
    // One fetch at a time, whatever the number of verifications meanwhile.
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
    clock = 55_000;
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
    expect(central.requests).toBe(2);
  });

  it('drops a key removed at central once the background fetch lands, while central answers', async () => {
    central.keys = [alice.jwk, bob.jwk];
    // A long cooldown: alice's unknown kid is not looked up again, so only the background fetch
    // can drop her key.
    const keys = keySet(300_000, 120_000);
    const fromAlice = await sign(alice);
    await expect(jwtVerify(fromAlice, keys)).resolves.toBeTruthy();
    central.keys = [bob.jwk];
    central.mode = 'hold';
    clock = 50_000;
    await expect(jwtVerify(fromAlice, keys)).resolves.toBeTruthy();
    await central.requested(2);
    const landed = once(central.held[0] as ServerResponse, 'finish');
    central.mode = 'serve';
    central.release();
    await landed;
    // The new set applies as soon as its body is parsed; until then the old one answers.
    await expect
      .poll(() =>
        jwtVerify(fromAlice, keys).then(
          () => 'verified',
          (e: Error) => e.name,
        ),
      )
      .toBe('JWKSNoMatchingKey');
    await expect(jwtVerify(await sign(bob), keys)).resolves.toBeTruthy();
    expect(central.requests).toBe(2);
  });

  it('keeps the last set while central cannot answer, up to staleIfErrorMs, then fails as unavailable', async () => {
    central.keys = [alice.jwk];
    const keys = keySet(300_000);
    const token = await sign(alice);
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();

    central.mode = 'down';
    clock = 120_000;
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
    await central.requested(2);
    // Retried at most once a second, not per verification.
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
    expect(central.requests).toBe(2);
    // Later, asked again (once the failed attempt has ended), and the stale set still verifies.
    clock = 299_999;
    await expect
      .poll(async () => {
        await jwtVerify(token, keys);
        return central.requests;
      })
      .toBe(3);

    // Past the bound the set must come from central, which still cannot give it.
    clock = 300_000;
    const failure = await jwtVerify(token, keys).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(keySetUnavailable(failure)).toBe(true);
    // A user token checked against it is CENTRAL_UNAVAILABLE, not refused as invalid.
    await expect(verifyUserToken(token, keys)).rejects.toMatchObject({
      extensions: { code: 'CENTRAL_UNAVAILABLE' },
    });

    // Central back: the next verification fetches the set and goes on.
    central.mode = 'serve';
    await expect(jwtVerify(token, keys)).resolves.toBeTruthy();
  });

  it('never uses a stale set for a key id it does not hold: that needs central', async () => {
    central.keys = [alice.jwk];
    const keys = keySet();
    await expect(jwtVerify(await sign(alice), keys)).resolves.toBeTruthy();
    central.mode = 'down';
    clock = 120_000;
    const failure = await jwtVerify(await sign(bob), keys).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(keySetUnavailable(failure)).toBe(true);
  });
});
