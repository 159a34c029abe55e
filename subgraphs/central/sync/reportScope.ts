// What central believes of a report: only entries about the rooms the session covers and the
// target stores, and only entries that leave an indexed message's immutable fields (room, sender,
// createdAt) as they are. The originating node follows the winning version (report.ts). A target may be wrong or lying; what it says about
// other rooms, or about rewriting a message, is refused entry by entry so that the rest of an
// honest report (e.g. one whose room moved meanwhile) is still recorded.
import { inArray } from 'drizzle-orm';
import type { HeldVersion, QuarantinedVersion, SyncReport } from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { activeNode, nodes, rooms, type SyncSessionRow } from '../db/schema.ts';
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

/** Where rooms are stored now: roomId -> its storage nodes (rooms that do not exist are absent). */
export type Placement = ReadonlyMap<string, readonly string[]>;

/**
 * The storage nodes of `roomIds`: two small queries (the rooms named, the registered nodes),
 * whatever the number of reports that share them (liveReport.ts reads once per request).
 */
export async function loadPlacement(tx: Tx, roomIds: Iterable<string>): Promise<Placement> {
  const ids = [...new Set(roomIds)];
  if (ids.length === 0) return new Map();
  const placed = await tx
    .select({
      id: rooms.id,
      homeNodeId: rooms.homeNodeId,
      replicaNodeIds: rooms.replicaNodeIds,
    })
    .from(rooms)
    .where(inArray(rooms.id, ids));
  // Replicas are matched against the registered nodes (a null list means every node).
  const allNodes =
    placed.length === 0 ? [] : await tx.select({ id: nodes.id }).from(nodes).where(activeNode);
  return new Map(placed.map((r) => [r.id, storageNodeIdsOf(r, allNodes)]));
}

/** The rooms of `roomIds` the session covers and its target stores now, with why the others are not. */
async function roomsInScope(
  tx: Tx,
  session: SyncSessionRow,
  roomIds: ReadonlySet<string>,
  known?: Placement,
): Promise<Map<string, string | null>> {
  const verdicts = new Map<string, string | null>();
  if (roomIds.size === 0) return verdicts;
  // A session dispatched before central recorded sessions' rooms (or a live window): the rooms
  // both store now.
  const covered = session.roomIds === null ? null : new Set(session.roomIds);
  // Only the session's rooms are looked up: a report naming thousands of others costs nothing.
  const candidates = covered === null ? [...roomIds] : [...roomIds].filter((id) => covered.has(id));
  const storage = known ?? (await loadPlacement(tx, candidates));
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

const IMMUTABLE = ['roomId', 'senderId', 'createdAt'] as const;

/**
 * Splits the report into what central records and what it refuses, as far as the rooms and the
 * report itself tell: two small queries (the rooms named, the nodes), whatever the report's size,
 * or none when the caller read the rooms' placement already (`known`, covering every room named).
 */
export async function scopeReport(
  tx: Tx,
  session: SyncSessionRow,
  report: SyncReport,
  known?: Placement,
): Promise<ScopedReport> {
  const held = report.held ?? [];
  const quarantined = report.quarantined ?? [];
  const roomIds = new Set<string>();
  for (const list of [report.applied, held, quarantined])
    for (const entry of list) roomIds.add(entry.roomId);
  const verdicts = await roomsInScope(tx, session, roomIds, known);
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
  // immutable field is refused. What remains agrees per message, so the index check (in the
  // statement that writes the index, see report.ts) judges all entries of a message at once.
  const first = new Map<string, HeldVersion>();
  const keep = <T extends HeldVersion>(list: RefusedEntry['list'], entries: readonly T[]): T[] =>
    entries.filter((version) => {
      const seen = first.get(version.messageId);
      if (!seen) {
        first.set(version.messageId, version);
        return true;
      }
      const changed = IMMUTABLE.filter((field) => seen[field] !== version[field]);
      if (changed.length === 0) return true;
      const why = `changes ${changed.join(', ')} of another entry of the report`;
      refused.push({ list, messageId: version.messageId, roomId: version.roomId, why });
      return false;
    });
  return {
    applied: keep('applied', applied),
    held: keep('held', keptHeld),
    quarantined: keptQuarantined,
    refused,
  };
}

/**
 * Takes out the entries of messages whose indexed room, sender or createdAt they would change (`rewrites`: messageId -> the fields), refusing them.
 */
export function withoutRewrites(
  scoped: ScopedReport,
  rewrites: ReadonlyMap<string, string>,
): ScopedReport {
  if (rewrites.size === 0) return scoped;
  const refused = [...scoped.refused];
  const keep = <T extends HeldVersion>(list: RefusedEntry['list'], entries: readonly T[]): T[] =>
    entries.filter((version) => {
      const fields = rewrites.get(version.messageId);
      if (fields === undefined) return true;
      const why = `changes ${fields} of the indexed message`;
      refused.push({ list, messageId: version.messageId, roomId: version.roomId, why });
      return false;
    });
  return {
    applied: keep('applied', scoped.applied),
    held: keep('held', scoped.held),
    quarantined: scoped.quarantined,
    refused,
  };
}
