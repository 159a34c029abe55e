// What central believes of a report: only entries about the rooms the session covers and the
// target stores, and only entries that leave an indexed message's immutable fields (room, sender,
// originating node, createdAt) as they are. A target may be wrong or lying; what it says about
// other rooms, or about rewriting a message, is refused entry by entry so that the rest of an
// honest report (e.g. one whose room moved meanwhile) is still recorded.
import { inArray, sql } from 'drizzle-orm';
import type { HeldVersion, QuarantinedVersion, SyncReport } from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { distributedMessages, nodes, rooms, type SyncSessionRow } from '../db/schema.ts';
import { storageNodeIdsOf } from '../placement.ts';

type Tx = Parameters<Parameters<CentralDatabase['transaction']>[0]>[0];

export interface RefusedEntry {
  readonly list: 'applied' | 'held' | 'quarantined';
  readonly messageId: string;
  readonly roomId: string;
  readonly why: string;
}

export interface ScopedReport {
  readonly applied: SyncReport['applied'];
  readonly held: readonly HeldVersion[];
  readonly quarantined: readonly QuarantinedVersion[];
  readonly refused: readonly RefusedEntry[];
}

/** The rooms of `roomIds` the session covers and its target stores now, with why the others are not. */
async function roomsInScope(
  tx: Tx,
  session: SyncSessionRow,
  roomIds: ReadonlySet<string>,
): Promise<Map<string, string | null>> {
  const verdicts = new Map<string, string | null>();
  if (roomIds.size === 0) return verdicts;
  const placed = await tx
    .select({ id: rooms.id, homeNodeId: rooms.homeNodeId, replicaNodeIds: rooms.replicaNodeIds })
    .from(rooms)
    .where(inArray(rooms.id, [...roomIds]));
  // Replicas are matched against the registered nodes (a null list means every node).
  const allNodes = await tx.select({ id: nodes.id }).from(nodes);
  const storage = new Map(placed.map((r) => [r.id, storageNodeIdsOf(r, allNodes)]));
  // A session dispatched before central recorded sessions' rooms: the rooms both store now.
  const covered = session.roomIds === null ? null : new Set(session.roomIds);
  for (const roomId of roomIds) {
    const holders = storage.get(roomId);
    const inSession =
      covered === null ? holders?.includes(session.sourceNodeId) === true : covered.has(roomId);
    if (!inSession) verdicts.set(roomId, `room ${roomId} is not one of the session's rooms`);
    else if (!holders?.includes(session.targetNodeId))
      verdicts.set(roomId, `the target does not store room ${roomId}`);
    else verdicts.set(roomId, null);
  }
  return verdicts;
}

const IMMUTABLE = ['roomId', 'senderId', 'originNode', 'createdAt'] as const;

/**
 * Splits the report into what central records and what it refuses. Costs two small queries
 * (the rooms named) and one bulk query (the indexed rows of the versions named), whatever the
 * report's size.
 */
export async function scopeReport(
  tx: Tx,
  session: SyncSessionRow,
  report: SyncReport,
): Promise<ScopedReport> {
  const held = report.held ?? [];
  const quarantined = report.quarantined ?? [];
  const roomIds = new Set<string>();
  for (const entry of [...report.applied, ...held, ...quarantined]) roomIds.add(entry.roomId);
  const verdicts = await roomsInScope(tx, session, roomIds);
  const refused: RefusedEntry[] = [];
  const inScope = <T extends { messageId: string; roomId: string }>(
    list: RefusedEntry['list'],
    entries: readonly T[],
  ): T[] =>
    entries.filter((entry) => {
      const why = verdicts.get(entry.roomId) ?? null;
      if (why !== null)
        refused.push({ list, messageId: entry.messageId, roomId: entry.roomId, why });
      return why === null;
    });
  const applied = inScope('applied', report.applied);
  const keptHeld = inScope('held', held);
  const keptQuarantined = inScope('quarantined', quarantined);

  // A message's first entry in the report stands for it; a later one that disagrees on an
  // immutable field is refused like one that disagrees with the index.
  const first = new Map<string, HeldVersion>();
  const rewrites = new Map<HeldVersion, string>();
  for (const version of [...applied, ...keptHeld]) {
    const seen = first.get(version.messageId);
    if (!seen) {
      first.set(version.messageId, version);
      continue;
    }
    const changed = IMMUTABLE.filter((field) => seen[field] !== version[field]);
    if (changed.length > 0)
      rewrites.set(version, `changes ${changed.join(', ')} of another entry of the report`);
  }
  for (const [messageId, why] of await indexedRewrites(tx, [...first.values()])) {
    const version = first.get(messageId);
    if (version) rewrites.set(version, `changes ${why} of the indexed message`);
  }
  // Every later entry of a message whose first entry rewrites the index goes too.
  const refusedIds = new Set(
    [...rewrites.keys()].filter((v) => first.get(v.messageId) === v).map((v) => v.messageId),
  );
  const keep = <T extends HeldVersion>(list: RefusedEntry['list'], entries: readonly T[]): T[] =>
    entries.filter((version) => {
      const why =
        rewrites.get(version) ??
        (refusedIds.has(version.messageId) ? 'rewrites the indexed message' : undefined);
      if (why !== undefined)
        refused.push({ list, messageId: version.messageId, roomId: version.roomId, why });
      return why === undefined;
    });
  return {
    applied: keep('applied', applied),
    held: keep('held', keptHeld),
    quarantined: keptQuarantined,
    refused,
  };
}

/** messageId -> the immutable fields a version would change in the index (one query). */
async function indexedRewrites(
  tx: Tx,
  versions: readonly HeldVersion[],
): Promise<Map<string, string>> {
  if (versions.length === 0) return new Map();
  const rows = JSON.stringify(
    versions.map((v) => ({
      id: v.messageId,
      room: v.roomId,
      sender: v.senderId,
      origin: v.originNode,
      created: v.createdAt,
    })),
  );
  const dm = distributedMessages;
  // createdAt is compared the way it was stored (to_timestamp of the same milliseconds).
  const result = await tx.execute(sql`
    select x.id, concat_ws(', ',
             case when ${dm.roomId} <> x.room then 'roomId' end,
             case when ${dm.senderId} <> x.sender then 'senderId' end,
             case when ${dm.originatingNodeId} <> x.origin then 'originNode' end,
             case when ${dm.createdAt} <> to_timestamp(x.created / 1000.0) then 'createdAt' end
           ) as changed
      from json_to_recordset(${rows}::json) as x(id text, room text, sender text, origin text,
           created double precision)
      join ${dm} on ${dm.id} = x.id
     where ${dm.roomId} <> x.room or ${dm.senderId} <> x.sender
        or ${dm.originatingNodeId} <> x.origin or ${dm.createdAt} <> to_timestamp(x.created / 1000.0)`);
  // PGlite and node-postgres both answer { rows }; drizzle types the raw result per driver.
  const { rows: found } = result as { rows: Array<{ id: string; changed: string }> };
  return new Map(found.map((row) => [row.id, row.changed]));
}
