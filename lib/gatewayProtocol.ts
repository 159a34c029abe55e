// Wire shapes of central's internal gateway API (routing table and event stream), shared by
// central (which serves it) and the gateway (which reads it).
//
// Central's replies are zod schemas with their types derived (`z.infer`): a reader checks that
// central sent what the type promises instead of trusting it (`parseWire`, lib/wire.ts).
import { createHash, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { nonEmptyString, wireObject } from './wire.ts';

export const GATEWAY_SECRET_HEADER = 'x-gateway-secret';
export const GATEWAY_PREFIX = '/internal/gateway/';

const NodeStatusSchema = z.enum(['ONLINE', 'OFFLINE', 'DEGRADED'], {
  error: 'expected ONLINE, OFFLINE or DEGRADED',
});

export const RoutingNodeSchema = wireObject({
  id: nonEmptyString,
  name: z.string({ error: 'expected a string' }),
  url: z.string({ error: 'expected a string' }),
  status: NodeStatusSchema,
}).readonly();
export type RoutingNode = z.infer<typeof RoutingNodeSchema>;

export const RoomPlacementSchema = wireObject({
  id: nonEmptyString,
  homeNodeId: nonEmptyString,
  /** Home node first. */
  storageNodeIds: z.array(nonEmptyString, { error: 'expected an array of node ids' }).readonly(),
}).readonly();
export type RoomPlacement = z.infer<typeof RoomPlacementSchema>;

/** Central's answer to GET `${GATEWAY_PREFIX}nodes`. */
export const RoutingNodesReplySchema = wireObject({
  nodes: z.array(RoutingNodeSchema, { error: 'expected an array' }).readonly(),
}).readonly();

/** Central's answer to GET `${GATEWAY_PREFIX}rooms?ids=...`. */
export const RoomPlacementsReplySchema = wireObject({
  rooms: z.array(RoomPlacementSchema, { error: 'expected an array' }).readonly(),
}).readonly();

/**
 * The events of central's stream (GET `${GATEWAY_PREFIX}events`, one JSON object per `data:`) that
 * a gateway acts on. Central sends others too (sync sessions; kinds a newer central adds), which
 * a gateway passes over: GatewayEventTypeSchema reads only the type, to tell them apart.
 */
export const GatewayEventSchema = z
  .discriminatedUnion(
    'type',
    [
      wireObject({
        type: z.literal('nodeStatusChanged'),
        nodeId: nonEmptyString,
        status: NodeStatusSchema,
      }).readonly(),
      wireObject({ type: z.literal('nodeChanged'), nodeId: nonEmptyString }).readonly(),
      wireObject({ type: z.literal('roomChanged'), roomId: nonEmptyString }).readonly(),
    ],
    { error: 'expected a nodeStatusChanged, nodeChanged or roomChanged event' },
  )
  .readonly();
export type GatewayEvent = z.infer<typeof GatewayEventSchema>;

/** Any event of the stream, by its type alone. */
export const GatewayEventTypeSchema = wireObject({ type: nonEmptyString });

/** The types GatewayEventSchema reads; the gateway passes over events of any other. */
export const GATEWAY_EVENT_TYPES: ReadonlySet<string> = new Set(
  GatewayEventSchema.unwrap().options.map((option) => option.unwrap().shape.type.value),
);

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
