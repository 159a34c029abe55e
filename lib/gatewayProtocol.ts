// Wire shapes of central's internal gateway API (routing table and event stream), shared by
// central (which serves it) and the gateway (which reads it).
import { createHash, timingSafeEqual } from 'node:crypto';
export const GATEWAY_SECRET_HEADER = 'x-gateway-secret';
export const GATEWAY_PREFIX = '/internal/gateway/';

export interface RoutingNode {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly status: 'ONLINE' | 'OFFLINE' | 'DEGRADED';
}

export interface RoomPlacement {
  readonly id: string;
  readonly homeNodeId: string;
  /** Home node first. */
  readonly storageNodeIds: readonly string[];
}

/**
 * The client's address as the gateway saw it, passed on to central for login throttling. Central
 * believes it only on requests that carry a valid gateway secret: anyone else could send any value.
 */
export const CLIENT_ADDRESS_HEADER = 'x-switchboard-client-address';

/** connectionParams key of the gateway secret on graphql-ws connections to central. */
export const GATEWAY_SECRET_PARAM = 'gatewaySecret';

/** SHA-256 of the gateway secret, hex: what central compares presented secrets with. */
export function gatewaySecretDigest(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/**
 * Whether `given` (a header or connection parameter) is the secret whose digest is `expected`.
 * Hashing the given value first makes the comparison constant-time whatever its length.
 */
export function matchesGatewayDigest(expected: string | undefined, given: unknown): boolean {
  if (expected === undefined || typeof given !== 'string' || given.length > 1024) return false;
  const want = Buffer.from(expected, 'hex');
  const got = createHash('sha256').update(given, 'utf8').digest();
  return want.length === got.length && timingSafeEqual(want, got);
}

/** The single value of a header that may be repeated. */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
