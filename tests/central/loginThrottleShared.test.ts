// Login throttling is kept in central's database: two central replicas on one PostgreSQL database
// count the same failures (an attacker cannot spread guesses over replicas), a restart does not
// wipe them, and concurrent guesses spread over both replicas still get at most the limit
// evaluated (the reservation is serialised by advisory locks in PostgreSQL, not in one process).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { loginAttempts } from '../../subgraphs/central/db/schema.ts';
import { startTestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.ts';

const leftovers = new Leftovers();
let postgres: PostgresCluster;
beforeAll(async () => {
  postgres = leftovers.add(await startPostgres(), (c) => c.stop());
});
afterAll(() => leftovers.dispose());

const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }';
const limits = {
  maxFailuresPerUsernameAndAddress: 3,
  maxFailuresPerUsername: 3,
  maxFailuresPerAddress: 100,
  windowMs: 600_000,
};

function loginFrom(url: string, address: string, username: string, password: string) {
  return gql(
    url,
    LOGIN,
    { u: username, p: password },
    { headers: { 'x-switchboard-client-address': address } },
  );
}

describe('login throttling across central replicas', () => {
  it('counts failures made on one replica at the other, and after a restart', async () => {
    const databaseUrl = await sharedCentralDatabase(postgres, 'throttle_shared');
    const a = await startTestCentral(leftovers, { databaseUrl, loginThrottle: limits });
    const b = await startTestCentral(leftovers, { databaseUrl, loginThrottle: limits });
    await a.createUser('carol');

    for (let i = 0; i < 3; i++) {
      const wrong = await gql(a.url, LOGIN, { u: 'carol', p: `guess-${i}` });
      expect(codes(wrong)).toEqual(['UNAUTHENTICATED']);
    }
    // The right password, on the other replica, from the same address: refused.
    const onB = await gql(b.url, LOGIN, { u: 'carol', p: 'pw-carol-secret' });
    expect(codes(onB)).toEqual(['RATE_LIMITED']);

    await a.central.close();
    const restarted = await startTestCentral(leftovers, { databaseUrl, loginThrottle: limits });
    const afterRestart = await gql(restarted.url, LOGIN, { u: 'carol', p: 'pw-carol-secret' });
    expect(codes(afterRestart)).toEqual(['RATE_LIMITED']);
  });

  it('evaluates at most the limit of 30 concurrent guesses spread over two replicas', async () => {
    const databaseUrl = await sharedCentralDatabase(postgres, 'throttle_concurrent');
    const tenGuesses = {
      ...limits,
      maxFailuresPerUsernameAndAddress: 10,
      maxFailuresPerUsername: 10,
    };
    const a = await startTestCentral(leftovers, { databaseUrl, loginThrottle: tenGuesses });
    const b = await startTestCentral(leftovers, { databaseUrl, loginThrottle: tenGuesses });
    await a.createUser('dave');
    const attacker = '203.0.113.9';
    const guesses = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        loginFrom(i % 2 === 0 ? a.url : b.url, attacker, 'dave', `guess-${i}`),
      ),
    );
    const tally = (code: string) => guesses.filter((g) => codes(g)[0] === code).length;
    expect(tally('UNAUTHENTICATED')).toBe(10);
    expect(tally('RATE_LIMITED')).toBe(20);
    const [rows] = await a.central.db.db
      .select({ n: count() })
      .from(loginAttempts)
      .where(eq(loginAttempts.username, 'dave'));
    expect(rows?.n).toBe(10);
    // The owner, from an address that never failed, on either replica; the attacker stays out.
    ok(await loginFrom(b.url, '198.51.100.4', 'dave', 'pw-dave-secret'));
    expect(codes(await loginFrom(a.url, attacker, 'dave', 'pw-dave-secret'))).toEqual([
      'RATE_LIMITED',
    ]);
  });
});
