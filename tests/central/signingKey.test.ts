// Rotating central's token signing key with `switchboard central --rotate-signing-key`: tokens
// issued before keep working until they expire (the old public key stays in the JWKS), unless
// `--revoke-tokens`, after which every earlier token is refused. Central runs on PGlite in a temp
// dir, stopped while the command runs (an embedded database has one process at a time).
import { decodeProtectedHeader } from 'jose';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../../subgraphs/central/index.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ME = '{ me { username } }';

async function jwksKids(central: TestCentral): Promise<string[]> {
  const response = await fetch(`${central.url}/.well-known/jwks.json`);
  return ((await response.json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
}

describe('token signing key rotation', () => {
  it('keeps issued tokens working after a rotation, and refuses them after a revoking one', async () => {
    const dataDir = await leftovers.tempDir('switchboard-rotate-');
    const first = await startTestCentral(leftovers, { dataDir });
    const before = first.adminToken;
    const firstKid = decodeProtectedHeader(before).kid;
    expect(await jwksKids(first)).toEqual([firstKid]);
    await first.central.close();

    await main(['--rotate-signing-key', '--data-dir', dataDir], {});
    const second = await startTestCentral(leftovers, { dataDir });
    const newKid = decodeProtectedHeader(second.adminToken).kid;
    expect(newKid).not.toBe(firstKid);
    // New tokens are signed with the new key; the old one is still served for old tokens.
    expect(await jwksKids(second)).toEqual([newKid, firstKid]);
    const stillValid = await gql(second.url, ME, {}, { token: before });
    expect(stillValid.data).toEqual({ me: { username: 'admin' } });
    const afterRotation = second.adminToken;
    await second.central.close();

    await main(['--rotate-signing-key', '--revoke-tokens', '--data-dir', dataDir], {});
    const third = await startTestCentral(leftovers, { dataDir });
    expect(await jwksKids(third)).toEqual([decodeProtectedHeader(third.adminToken).kid]);
    for (const token of [before, afterRotation]) {
      const refused = await gql(third.url, ME, {}, { token });
      expect(codes(refused)).toEqual(['UNAUTHENTICATED']);
    }
    const fresh = await gql(third.url, ME, {}, { token: third.adminToken });
    expect(fresh.data).toEqual({ me: { username: 'admin' } });
  });
});
