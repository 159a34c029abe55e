// Gateways' public keys: registered and renewed by each gateway (internal gateway API, gateway
// secret), served to nodes at their own JWKS path so nodes can check gateway assertions. A key a
// gateway stopped renewing (it stopped) drops out of the set after GATEWAY_KEY_LIFETIME_MS.
import { desc, gt, lt } from 'drizzle-orm';
import type { JSONWebKeySet, JWK } from 'jose';
import { GATEWAY_KEY_LIFETIME_MS, GATEWAY_KEYS_SERVED } from '../../lib/gatewayAssertion.ts';
import type { CentralDatabase } from './db/open.ts';
import { gatewayKeys } from './db/schema.ts';

/** Rows this much older than the served window are deleted when a key is registered. */
const FORGET_AFTER_MS = 6 * GATEWAY_KEY_LIFETIME_MS;

/**
 * Records (or renews) a gateway's key. A key id already held with another public key is refused:
 * renewal cannot swap the key behind an id nodes may have cached.
 */
export async function registerGatewayKey(
  db: CentralDatabase,
  jwk: JWK & { kid: string },
  now = new Date(),
): Promise<'ok' | 'conflict'> {
  const [row] = await db
    .insert(gatewayKeys)
    .values({ kid: jwk.kid, publicJwk: jwk, lastSeenAt: now })
    .onConflictDoUpdate({ target: gatewayKeys.kid, set: { lastSeenAt: now } })
    .returning({ publicJwk: gatewayKeys.publicJwk });
  if ((row?.publicJwk as JWK | undefined)?.x !== jwk.x) return 'conflict';
  await db
    .delete(gatewayKeys)
    .where(lt(gatewayKeys.lastSeenAt, new Date(now.getTime() - FORGET_AFTER_MS)));
  return 'ok';
}

/** The keys renewed within the lifetime window, newest first, at most GATEWAY_KEYS_SERVED. */
export async function gatewayJwks(db: CentralDatabase, now = new Date()): Promise<JSONWebKeySet> {
  const rows = await db
    .select({ publicJwk: gatewayKeys.publicJwk })
    .from(gatewayKeys)
    .where(gt(gatewayKeys.lastSeenAt, new Date(now.getTime() - GATEWAY_KEY_LIFETIME_MS)))
    .orderBy(desc(gatewayKeys.lastSeenAt))
    .limit(GATEWAY_KEYS_SERVED);
  return { keys: rows.map((r) => r.publicJwk as JWK) };
}
