// Who may see a room. A PUBLIC room is seen by every user; a PRIVATE room only by its members and
// ADMINs. To anyone else a PRIVATE room answers exactly like a room that does not exist
// (NOT_FOUND, the same message), so that not even its existence leaks.
import { appError } from '../../lib/errors.ts';
import type { Viewer } from '../../lib/userAuth.ts';
import type { CentralContext } from './context.ts';
import type { RoomRow } from './db/schema.ts';
import * as valid from './validation.ts';

export async function isMember(ctx: CentralContext, userId: string, roomId: string) {
  return (await ctx.loaders.userRooms.load(userId)).some((r) => r.id === roomId);
}

/** Top-level fields require a viewer themselves; a PUBLIC room is no secret to anyone. */
export async function canSee(ctx: CentralContext, viewer: Viewer | null, room: RoomRow) {
  if (room.visibility === 'PUBLIC') return true;
  if (!viewer) return false;
  return viewer.role === 'ADMIN' || isMember(ctx, viewer.id, room.id);
}

export function roomNotFound(rawId: string): never {
  throw appError('NOT_FOUND', `no room with id ${rawId}`);
}

/** The room, if the viewer may see it; NOT_FOUND otherwise (unknown or someone else's PRIVATE). */
export async function visibleRoomOrNotFound(
  ctx: CentralContext,
  viewer: Viewer,
  rawId: string,
): Promise<RoomRow> {
  const room = await ctx.loaders.room.load(valid.id(rawId, 'roomId'));
  if (!room || !(await canSee(ctx, viewer, room))) return roomNotFound(rawId);
  return room;
}

/** The key of a pair's direct conversation: the same whoever of the two opens it. */
export function directPairKey(a: string, b: string): string {
  return a < b ? `${a}:${b}` : `${b}:${a}`;
}

/** After a membership change: the request's later reads see it. */
export function forgetMembership(ctx: CentralContext, roomId: string, userId: string): void {
  ctx.loaders.roomMembers.clear(roomId);
  ctx.loaders.userRooms.clear(userId);
}
