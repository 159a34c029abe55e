// Wire shapes of a node's calls to central's internal API (heartbeat, membership check) and of
// central's replies, shared by central and the node's client (which reads the replies with
// `parseWire`, lib/wire.ts). The sync paths have theirs in lib/syncProtocol.ts.
import { z } from 'zod';
import { nonEmptyString, wireObject } from './wire.ts';

/** POST: a node's heartbeat (its URL, its measured clock). */
export const HEARTBEAT_PATH = '/internal/heartbeat';
/** GET ?roomId=&userId=: whether the user is a member of the room. */
export const MEMBERSHIP_PATH = '/internal/membership';

/** A year: anything further is not a measurement. */
const MAX_CLOCK_OFFSET_MS = 366 * 24 * 3600 * 1000;
// Worded as central's 400 names them after the field: `clock.maxDriftMs must be ...`.
const OFFSET = `must be null or a number of milliseconds within ±${MAX_CLOCK_OFFSET_MS}`;
const DRIFT = 'must be a positive integer';

/**
 * A node's clock as it measured it (subgraphs/node/clockOffset.ts), sent with its heartbeats:
 * central shows it, and alerts when it is beyond the node's own bound.
 */
export const HeartbeatClockSchema = z
  .object(
    {
      /** Central's clock minus the node's, ms; null while the node has not measured it yet. */
      offsetMs: z
        .number({ error: OFFSET })
        .refine((ms) => Number.isFinite(ms) && Math.abs(ms) <= MAX_CLOCK_OFFSET_MS, {
          error: OFFSET,
        })
        .nullable(),
      /** How far the node's clock may be from central's before it refuses writes. */
      maxDriftMs: z
        .number({ error: DRIFT })
        .refine((ms) => Number.isSafeInteger(ms) && ms >= 1 && ms <= MAX_CLOCK_OFFSET_MS, {
          error: DRIFT,
        }),
    },
    { error: 'must be an object {offsetMs, maxDriftMs}' },
  )
  .readonly();
export type HeartbeatClock = z.infer<typeof HeartbeatClockSchema>;

/** What a node sends with each heartbeat (HEARTBEAT_PATH). */
export const HeartbeatRequestSchema = z
  .object(
    {
      /** Where the node is reached: an http(s) URL (central checks it as it checks any node URL). */
      url: z.string({ error: 'must be an http(s) URL' }).optional(),
      /** Its clock; absent from a node older than that. */
      clock: HeartbeatClockSchema.optional(),
    },
    { error: 'must be a JSON object' },
  )
  .readonly();
export type HeartbeatRequest = z.infer<typeof HeartbeatRequestSchema>;

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
