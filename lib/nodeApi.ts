// Wire shapes of central's replies to a node on its internal API (heartbeat, membership check),
// shared by central (which sends them) and the node's client (which reads them with `parseWire`,
// lib/wire.ts). The sync paths have theirs in lib/syncProtocol.ts.
import { z } from 'zod';
import { nonEmptyString, wireObject } from './wire.ts';

/** POST: a node's heartbeat (its URL, its measured clock). */
export const HEARTBEAT_PATH = '/internal/heartbeat';
/** GET ?roomId=&userId=: whether the user is a member of the room. */
export const MEMBERSHIP_PATH = '/internal/membership';

export const HeartbeatResponseSchema = wireObject({
  nodeId: nonEmptyString,
  name: z.string({ error: 'expected a string' }),
  heartbeatIntervalMs: z
    .number({ error: 'expected a positive number of milliseconds' })
    .positive({ error: 'expected a positive number of milliseconds' }),
  /**
   * Central's clock when it answered, epoch ms: the node measures its own clock's offset from it
   * (subgraphs/node/clockOffset.ts). Absent from a central older than that; a value that is not a
   * number is left out rather than failing the heartbeat, which still tells the node it lives.
   */
  centralTime: z.number().optional().catch(undefined),
}).readonly();
export type HeartbeatResponse = z.infer<typeof HeartbeatResponseSchema>;

export const MembershipResponseSchema = wireObject({
  roomExists: z.boolean({ error: 'expected a boolean' }),
  member: z.boolean({ error: 'expected a boolean' }),
  /**
   * A PRIVATE room: the node tells a non-member NOT_FOUND, as central does. An older central
   * says nothing of visibility: every room was public then.
   */
  private: z.boolean({ error: 'expected a boolean' }).default(false),
}).readonly();
export type MembershipResponse = z.infer<typeof MembershipResponseSchema>;
