// Notices to nodes that central waits on (lib/nodeNotices.ts): the rooms a node takes writes for,
// and a member removed from a room. Whichever central holds a node's job stream sends them (the
// waiter publishes `nodeNotice` on the event bus, which reaches every central), and the node's
// acknowledgement, posted to any central, comes back as `noticeAcked`. A notice lost on the way
// (a stream reconnecting to another central) is sent again until acknowledged or given up.
import { randomUUID } from 'node:crypto';
import { asc } from 'drizzle-orm';
import type { CentralServices } from './context.ts';
import { activeNode, nodes, rooms } from './db/schema.ts';
import type { NodeNotice } from './events.ts';
import type { RoomRow } from './db/schema.ts';
import { storageNodeIdsOf } from './placement.ts';

type Services = Pick<CentralServices, 'db' | 'events'>;

/** How often an unacknowledged notice is published again. */
const RESEND_MS = 1000;

/**
 * The rooms `nodeId` takes writes for: those it stores and is not leaving. A holder also listed
 * among a room's former holders is leaving it (placementChange.ts): it still serves reads and is
 * pulled from, but what it would take now might never be pulled.
 */
export async function writableRoomsOf(db: Services['db'], nodeId: string): Promise<string[]> {
  const [allNodes, allRooms] = await Promise.all([
    db.select({ id: nodes.id }).from(nodes).where(activeNode),
    db
      .select({
        id: rooms.id,
        homeNodeId: rooms.homeNodeId,
        replicaNodeIds: rooms.replicaNodeIds,
        formerHolderIds: rooms.formerHolderIds,
      })
      .from(rooms)
      .orderBy(asc(rooms.id)),
  ]);
  return allRooms
    .filter(
      (room) =>
        !room.formerHolderIds.includes(nodeId) && storageNodeIdsOf(room, allNodes).includes(nodeId),
    )
    .map((room) => room.id);
}

/**
 * Sends `notice` to each of `nodeIds` and resolves, with the ids of those that acknowledged it,
 * once all did or `deadlineMs` passed. Never rejects: the caller decides what a silence means.
 */
export async function noticeAndWait(
  services: Services,
  nodeIds: readonly string[],
  notice: NodeNotice,
  deadlineMs: number,
): Promise<Set<string>> {
  const acked = new Set<string>();
  if (nodeIds.length === 0) return acked;
  const fenceId = randomUUID();
  let settle: (() => void) | undefined;
  const done = new Promise<void>((resolve) => (settle = resolve));
  // Listening before publishing: an acknowledgement can come back before publish returns.
  const unsubscribe = services.events.subscribe((event) => {
    if (event.type !== 'noticeAcked' || event.fenceId !== fenceId) return;
    if (!nodeIds.includes(event.nodeId)) return;
    acked.add(event.nodeId);
    if (acked.size === nodeIds.length) settle?.();
  });
  const send = () =>
    services.events
      .publish({
        type: 'nodeNotice',
        nodeIds: nodeIds.filter((id) => !acked.has(id)),
        fenceId,
        notice,
      })
      .catch(() => {});
  const resend = setInterval(() => void send(), RESEND_MS);
  const deadline = setTimeout(() => settle?.(), deadlineMs);
  try {
    await send();
    await done;
  } finally {
    clearInterval(resend);
    clearTimeout(deadline);
    unsubscribe();
  }
  return acked;
}

/**
 * How long a removal waits for the room's nodes to drop the member's cached answer, unless
 * central is told otherwise (membershipNoticeDeadlineMs): a node that does not acknowledge in
 * this time trusts it at most its --membership-cache-ms (5 s by default) longer.
 */
export const MEMBERSHIP_NOTICE_DEADLINE_MS = 5_000;

/**
 * `userId` left `room` (or was removed): tells its ONLINE storage nodes and waits, so that the
 * user's next write is refused by whichever node takes it. Resolves with the names of the nodes
 * that did not acknowledge in time.
 */
export async function noticeRemoval(
  services: Services & Pick<CentralServices, 'membershipNoticeDeadlineMs'>,
  room: Pick<RoomRow, 'id' | 'homeNodeId' | 'replicaNodeIds'>,
  userId: string,
): Promise<string[]> {
  const active = await services.db
    .select({ id: nodes.id, name: nodes.name, status: nodes.status })
    .from(nodes)
    .where(activeNode);
  const holders = storageNodeIdsOf(room, active);
  const online = active.filter((n) => n.status === 'ONLINE' && holders.includes(n.id));
  const acked = await noticeAndWait(
    services,
    online.map((n) => n.id),
    { kind: 'membership', roomId: room.id, userId },
    services.membershipNoticeDeadlineMs,
  );
  return online.filter((n) => !acked.has(n.id)).map((n) => `${n.name} (${n.id})`);
}
