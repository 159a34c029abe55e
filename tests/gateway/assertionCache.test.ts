// The gateway signs an assertion per (node, user) at most every 30 s: the hot path reuses it.
import { createLocalJWKSet } from 'jose';
import { describe, expect, it } from 'vitest';
import {
  ASSERTION_REUSE_MS,
  GatewaySigner,
  verifyGatewayAssertion,
} from '../../lib/gatewayAssertion.ts';

const alice = { id: 'u-alice', username: 'alice', role: 'MEMBER' as const };

describe('GatewaySigner', () => {
  it('reuses an assertion per node and user for 30 s, and mints a new one after', async () => {
    let now = Date.now();
    const signer = await GatewaySigner.create({ now: () => now });
    const first = await signer.assertion('node-1', alice);
    expect(await signer.assertion('node-1', alice)).toBe(first);
    expect(await signer.assertion('node-2', alice)).not.toBe(first);
    expect(await signer.assertion('node-1', { ...alice, role: 'ADMIN' })).not.toBe(first);
    expect(await signer.assertion('node-1', null)).not.toBe(first);
    now += ASSERTION_REUSE_MS + 1000;
    const renewed = await signer.assertion('node-1', alice);
    expect(renewed).not.toBe(first);
    const keys = createLocalJWKSet({ keys: [signer.publicJwk] });
    await expect(verifyGatewayAssertion(renewed, keys, 'node-1', () => now)).resolves.toMatchObject(
      { kind: 'user', viewer: { id: 'u-alice', role: 'MEMBER' } },
    );
    await expect(verifyGatewayAssertion(renewed, keys, 'node-2', () => now)).rejects.toMatchObject({
      extensions: { code: 'UNAUTHENTICATED' },
    });
  });

  it("never reuses an assertion past the user's token", async () => {
    let now = Date.now();
    const signer = await GatewaySigner.create({ now: () => now });
    const shortLived = { ...alice, expiresAt: now + 5_000 };
    const first = await signer.assertion('node-1', shortLived);
    now += 6_000;
    expect(await signer.assertion('node-1', shortLived)).not.toBe(first);
  });
});
