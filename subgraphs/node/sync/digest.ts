// Per-room digests: two nodes hold the same versions of a room's messages exactly when their
// digests (and counts) are equal, whatever order the rows were written in. Each message adds
// SHA-256(`id|hlc|deleted`) into a 256-bit XOR; XOR is order-independent and ids are unique per
// room, so no term can cancel another one out. The HLC identifies the version (content is
// covered by it: a different content is a different version with a different HLC).
import { createHash } from 'node:crypto';
import type { RoomDigests } from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';

const DIGEST_BYTES = 32;

/** The digest of an empty room: what a node that holds none of its messages answers. */
export const EMPTY_DIGEST = '0'.repeat(DIGEST_BYTES * 2);

export function versionTerm(id: string, hlc: string, deleted: boolean): Buffer {
  return createHash('sha256')
    .update(`${id}|${hlc}|${deleted ? 1 : 0}`, 'utf8')
    .digest();
}

export function roomDigests(db: NodeDb, roomIds: readonly string[]): RoomDigests {
  const rows = db.sqlite.prepare<[string], { id: string; hlc: string; deleted: number }>(
    'SELECT id, hlc, deleted_at IS NOT NULL AS deleted FROM messages WHERE room_id = ?',
  );
  const digests: Record<string, { digest: string; count: number }> = {};
  for (const roomId of new Set(roomIds)) {
    const acc = Buffer.alloc(DIGEST_BYTES);
    let count = 0;
    for (const row of rows.iterate(roomId)) {
      const term = versionTerm(row.id, row.hlc, row.deleted === 1);
      for (let i = 0; i < DIGEST_BYTES; i += 1) acc[i] = (acc[i] ?? 0) ^ (term[i] ?? 0);
      count += 1;
    }
    digests[roomId] = { digest: acc.toString('hex'), count };
  }
  return { digests };
}

/** The rooms whose digest or count differ between two answers (a room missing counts as empty). */
export function differingRooms(
  ours: RoomDigests,
  theirs: RoomDigests,
  roomIds: readonly string[],
): string[] {
  const empty = { digest: EMPTY_DIGEST, count: 0 };
  return roomIds.filter((roomId) => {
    const a = ours.digests[roomId] ?? empty;
    const b = theirs.digests[roomId] ?? empty;
    return a.digest !== b.digest || a.count !== b.count;
  });
}
