// Login throttling is kept in central's database: two central replicas on one PostgreSQL database
// count the same failures (an attacker cannot spread guesses over replicas), and a restart does
// not wipe them.
import { afterAll, describe, expect, it } from 'vitest';
import { startTestCentral } from '../helpers/central.ts';
import { codes, gql } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }';
const limits = { maxFailuresPerUsername: 3, maxFailuresPerAddress: 100, windowMs: 600_000 };

describe('login throttling across central replicas', () => {
  it('counts failures made on one replica at the other, and after a restart', async () => {
    const postgres = leftovers.add(await startPostgres(), (c) => c.stop());
    const databaseUrl = await postgres.createDatabase('throttle_shared');
    const a = await startTestCentral(leftovers, { databaseUrl, loginThrottle: limits });
    const b = await startTestCentral(leftovers, { databaseUrl, loginThrottle: limits });
    await a.createUser('carol');

    for (let i = 0; i < 3; i++) {
      const wrong = await gql(a.url, LOGIN, { u: 'carol', p: `guess-${i}` });
      expect(codes(wrong)).toEqual(['UNAUTHENTICATED']);
    }
    // The right password, on the other replica: refused, the username is over its limit.
    const onB = await gql(b.url, LOGIN, { u: 'carol', p: 'pw-carol-secret' });
    expect(codes(onB)).toEqual(['RATE_LIMITED']);

    await a.central.close();
    const restarted = await startTestCentral(leftovers, { databaseUrl, loginThrottle: limits });
    const afterRestart = await gql(restarted.url, LOGIN, { u: 'carol', p: 'pw-carol-secret' });
    expect(codes(afterRestart)).toEqual(['RATE_LIMITED']);
  });
});
