// Login throttling under concurrency (issue 14, finding 6), on a real central (on the run's
// PostgreSQL; the backoff's throttle alone on embedded PGlite): concurrent guesses cannot exceed
// the limit, an attacker's address cannot lock the owner out, the per-username backoff grows and is
// capped, and password hashing in flight does not hold up unrelated requests.
import { afterAll, describe, expect, it } from 'vitest';
import { count, eq } from 'drizzle-orm';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { loginAttempts } from '../../subgraphs/central/db/schema.ts';
import { LoginThrottle } from '../../subgraphs/central/loginThrottle.ts';
import { DEFAULT_PASSWORD_HASH_COST } from '../../subgraphs/central/passwords.ts';
import { startTestCentral } from '../helpers/central.ts';
import { seedCentralDataDir } from '../helpers/centralData.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const LOGIN = 'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }';
const limits = {
  maxFailuresPerUsernameAndAddress: 10,
  maxFailuresPerAddress: 50,
  maxFailuresPerUsername: 10,
  windowMs: 600_000,
};

/** A login as if from `address`: tests call central as the gateway, which forwards the address. */
function loginFrom(url: string, address: string, username: string, password: string) {
  return gql(
    url,
    LOGIN,
    { u: username, p: password },
    { headers: { 'x-switchboard-client-address': address } },
  );
}

function tally(results: ReadonlyArray<{ errors?: unknown }>, code: string): number {
  return results.filter((r) => codes(r as Parameters<typeof codes>[0])[0] === code).length;
}

describe('login throttling under concurrency', () => {
  it('evaluates at most the limit of 30 concurrent guesses, and the owner still logs in from elsewhere', async () => {
    const central = await startTestCentral(leftovers, { loginThrottle: limits });
    await central.createUser('owner');
    const attacker = '203.0.113.9';
    const guesses = await Promise.all(
      Array.from({ length: 30 }, (_, i) => loginFrom(central.url, attacker, 'owner', `guess-${i}`)),
    );
    // Every evaluated guess is UNAUTHENTICATED; every other one was refused before hashing.
    expect(tally(guesses, 'UNAUTHENTICATED')).toBe(10);
    expect(tally(guesses, 'RATE_LIMITED')).toBe(20);
    const [rows] = await central.central.db.db
      .select({ n: count() })
      .from(loginAttempts)
      .where(eq(loginAttempts.username, 'owner'));
    expect(rows?.n).toBe(10);

    ok(await loginFrom(central.url, '198.51.100.4', 'owner', 'pw-owner-secret'));
    // The attacker's address stays throttled for this username, even with the right password.
    const fromAttacker = await loginFrom(central.url, attacker, 'owner', 'pw-owner-secret');
    expect(codes(fromAttacker)).toEqual(['RATE_LIMITED']);
    expect(fromAttacker.errors?.[0]?.extensions?.['retryAfterSeconds']).toBeGreaterThan(60);
  });

  it('answers an unrelated request while many logins wait to be hashed', async () => {
    let userLookups = 0;
    const central = await startTestCentral(leftovers, {
      loginThrottle: limits,
      // Hashes as slow as in production (the suite lowers the cost): the test is about requests
      // that must not wait behind them.
      passwordHashCost: DEFAULT_PASSWORD_HASH_COST,
      onQuery: (statement) => {
        if (/from "users" where "users"\."username" = /.test(statement)) userLookups++;
      },
    });
    const member = await central.createUser('bystander');
    userLookups = 0;
    const logins = 12;
    let finished = 0;
    const inFlight = Array.from({ length: logins }, (_, i) =>
      loginFrom(central.url, `192.0.2.${i + 1}`, `ghost-${i}`, 'wrong').then((response) => {
        finished++;
        return response;
      }),
    );
    // Every login has looked its user up: its hash is next.
    await expect.poll(() => userLookups, { timeout: 60_000 }).toBe(logins);
    // `me` verifies the token with WebCrypto, which runs on the same libuv pool as scrypt: with
    // every hash queued on the pool it waited behind nearly all of them.
    const me = await gql<{ me: { id: string } }>(
      central.url,
      '{ me { id } }',
      {},
      {
        token: member.token,
      },
    );
    const finishedBeforeMe = finished;
    expect(ok(me).me.id).toBe(member.id);
    expect(finishedBeforeMe).toBeLessThan(logins / 2);
    const answers = await Promise.all(inFlight);
    expect(tally(answers, 'UNAUTHENTICATED')).toBe(logins);
  });
});

describe('per-username backoff', () => {
  it('slows addresses that failed for a username past its threshold, doubling up to the cap, and never a clean address', async () => {
    // From the run's migrated template: a first PGlite start (initdb, every migration) is seconds.
    const dataDir = await leftovers.tempDir('switchboard-throttle-');
    await seedCentralDataDir(dataDir);
    const opened = leftovers.add(await openCentralDb({ dataDir }), (d) => d.close());
    let clock = Date.parse('2026-12-01T10:00:00Z');
    const throttle = new LoginThrottle(opened.db, {
      maxFailuresPerUsernameAndAddress: 4,
      maxFailuresPerAddress: 100,
      maxFailuresPerUsername: 4,
      backoffBaseMs: 1000,
      backoffMaxMs: 4000,
      windowMs: 600_000,
      now: () => clock,
    });
    const refusal = async (address: string): Promise<unknown> => {
      try {
        await throttle.reserve('carol', address);
        return 'granted';
      } catch (error) {
        return (error as { extensions?: Record<string, unknown> }).extensions;
      }
    };
    for (let i = 0; i < 4; i++) expect(await refusal('a')).toBe('granted');
    // The per-(username, address) limit: until a's oldest failure leaves the window.
    expect(await refusal('a')).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 600 });
    // 4 failures, the threshold: b never failed for carol, so it is not slowed.
    expect(await refusal('b')).toBe('granted');
    // 5 failures: b, which failed, now waits 2 s after the latest attempt; c never failed.
    expect(await refusal('b')).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 2 });
    expect(await refusal('c')).toBe('granted');
    // 6 failures: 4 s after c's attempt.
    clock += 1000;
    expect(await refusal('b')).toMatchObject({ retryAfterSeconds: 3 });
    clock += 3000;
    expect(await refusal('b')).toBe('granted');
    // 7 failures: 8 s, capped at 4 s.
    expect(await refusal('b')).toMatchObject({ retryAfterSeconds: 4 });
    clock += 4000;
    expect(await refusal('b')).toBe('granted');
    expect(await refusal('b')).toMatchObject({ retryAfterSeconds: 4 });
    // A right password from b clears b's failures only: a stays refused, and the username's
    // failures from a and c still slow an address that fails again.
    clock += 4000;
    const owner = await throttle.reserve('carol', 'b');
    await owner.succeeded();
    expect(await refusal('b')).toBe('granted');
    expect(await refusal('a')).toMatchObject({ code: 'RATE_LIMITED' });
    expect(await refusal('b')).toMatchObject({ code: 'RATE_LIMITED', retryAfterSeconds: 4 });
  });
});
