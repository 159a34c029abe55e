// What central tells a node on its job stream besides sync work, and how the node acknowledges
// it: the rooms it takes writes for (`placement`) and a member removed from a room it stores
// (`membership`). A notice with a `fenceId` is one central waits on: the node acknowledges it
// (NOTICE_ACK_PATH) only once it acts on it, so central knows that no write the notice forbids
// can commit on the node any more.

/** GET: the rooms this node takes writes for now, `{ rooms: string[] }`. */
export const PLACEMENT_PATH = '/internal/placement';
/** POST `{ fenceId }`: the node acts on the notice that carried it. */
export const NOTICE_ACK_PATH = '/internal/notice-ack';

/** SSE event `placement`: the complete set of rooms the node takes writes for. */
export interface PlacementNotice {
  readonly rooms: readonly string[];
  readonly fenceId?: string;
}

/** SSE event `membership`: `userId` is no longer a member of `roomId`. */
export interface MembershipNotice {
  readonly roomId: string;
  readonly userId: string;
  readonly fenceId?: string;
}

const MAX_ID_CHARS = 200;

function isId(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.length <= MAX_ID_CHARS;
}

function record(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error(`${what}: expected an object`);
  return value as Record<string, unknown>;
}

function fenceOf(body: Record<string, unknown>, what: string): { fenceId?: string } {
  const fenceId = body['fenceId'];
  if (fenceId === undefined) return {};
  if (!isId(fenceId)) throw new Error(`${what}.fenceId: expected a non-empty string`);
  return { fenceId };
}

/** The rooms list of a `placement` event or of PLACEMENT_PATH's answer, or throws saying why. */
export function validatePlacementNotice(value: unknown): PlacementNotice {
  const body = record(value, 'placement');
  const rooms = body['rooms'];
  if (!Array.isArray(rooms) || !rooms.every(isId))
    throw new Error('placement.rooms: expected an array of room ids');
  return { rooms, ...fenceOf(body, 'placement') };
}

export function validateMembershipNotice(value: unknown): MembershipNotice {
  const body = record(value, 'membership');
  const roomId = body['roomId'];
  const userId = body['userId'];
  if (!isId(roomId) || !isId(userId)) throw new Error('membership: expected a roomId and a userId');
  return { roomId, userId, ...fenceOf(body, 'membership') };
}

/** The body of NOTICE_ACK_PATH, or throws. */
export function validateNoticeAck(value: unknown): { fenceId: string } {
  const fenceId = record(value, 'ack')['fenceId'];
  if (!isId(fenceId)) throw new Error('ack.fenceId: expected a non-empty string');
  return { fenceId };
}
