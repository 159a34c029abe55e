// What central tells a node on its job stream besides sync work, and how the node acknowledges
// it: the rooms it takes writes for (`placement`) and a member removed from a room it stores
// (`membership`). A notice with a `fenceId` is one central waits on: the node acknowledges it
// (NOTICE_ACK_PATH) only once it acts on it, so central knows that no write the notice forbids
// can commit on the node any more.
import { z } from 'zod';
import { nonEmptyString, parseWire, wireObject } from './wire.ts';

/** GET: the rooms this node takes writes for now, `{ rooms: string[] }`. */
export const PLACEMENT_PATH = '/internal/placement';
/** POST `{ fenceId }`: the node acts on the notice that carried it. */
export const NOTICE_ACK_PATH = '/internal/notice-ack';

const MAX_ID_CHARS = 200;

/** A room, user or fence id in a notice. */
const noticeId = nonEmptyString.max(MAX_ID_CHARS, {
  error: `expected a non-empty string of at most ${MAX_ID_CHARS} characters`,
});

/** SSE event `placement`, and PLACEMENT_PATH's answer: the complete set of rooms the node takes writes for. */
export const PlacementNoticeSchema = wireObject({
  rooms: z.array(noticeId, { error: 'expected an array of room ids' }).readonly(),
  fenceId: noticeId.optional(),
}).readonly();
export type PlacementNotice = z.infer<typeof PlacementNoticeSchema>;

/** SSE event `membership`: `userId` is no longer a member of `roomId`. */
export const MembershipNoticeSchema = wireObject({
  roomId: noticeId,
  userId: noticeId,
  fenceId: noticeId.optional(),
}).readonly();
export type MembershipNotice = z.infer<typeof MembershipNoticeSchema>;

/** The body of NOTICE_ACK_PATH. */
export const NoticeAckSchema = wireObject({ fenceId: noticeId }).readonly();

/** A `placement` event or PLACEMENT_PATH's answer, or a WireShapeError saying what is wrong. */
export const validatePlacementNotice = (value: unknown): PlacementNotice =>
  parseWire(PlacementNoticeSchema, value, 'placement');

export const validateMembershipNotice = (value: unknown): MembershipNotice =>
  parseWire(MembershipNoticeSchema, value, 'membership');

/** The body of NOTICE_ACK_PATH, or a WireShapeError. */
export const validateNoticeAck = (value: unknown): { readonly fenceId: string } =>
  parseWire(NoticeAckSchema, value, 'ack');
