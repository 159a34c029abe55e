// Changing where a room is stored while it takes writes (updateRoom, removeNode). A holder that
// leaves may still hold writes it acknowledged and nobody pulled yet, so it leaves in steps:
//   1. the new placement is written with the leaving holders still in it (as replicas) and also
//      listed as former holders, which marks them leaving: they take no more writes for the room
//      (nodeNotices.ts). The new home takes the writes from here on, added nodes are asked to pull
//      FULL at once;
//   2. fence: each leaving holder is told its new set of writable rooms and acknowledges it once
//      no write for the room can commit on it any more (a write already past its checks commits
//      before, or is refused at commit, see subgraphs/node/heldRooms.ts);
//   3. every remaining ONLINE holder pulls INCREMENTAL from each leaving one: begun after the
//      fence, the pull reads everything the leaving holder ever acknowledged for the room;
//   4. once all those pulls COMPLETED, the leaving holders are dropped from the placement.
// If the fence or a pull fails or does not finish in time the room stays in step 1's placement
// (nothing lost, the leaving node still a holder, taking no writes) and the caller is told to
// retry. Every placement write is published as `roomChanged`, as a room's creation is: gateways
// re-read the room's routing and the sync topology follows it. docs/operations.md walks through
// the races.
import { eq } from 'drizzle-orm';
import { generateApiKey, hashApiKey } from '../../lib/nodeKeys.ts';
import { appError } from '../../lib/errors.ts';
import { nodeLabel } from '../../lib/syncProtocol.ts';
import type { CentralServices } from './context.ts';
import { activeNode, nodes, rooms, type NodeRow, type RoomRow } from './db/schema.ts';
import type { CentralEvent } from './events.ts';
import { noticeAndWait } from './nodeNotices.ts';
import { storageNodeIdsOf, type PlacedRoom } from './placement.ts';

type Services = Pick<CentralServices, 'db' | 'events' | 'log' | 'sync' | 'nodeAuth'>;

/** How long a leaving holder's drain may take before the change is given up (and retried). */
export const DRAIN_DEADLINE_MS = 120_000;
/** How long a leaving holder has to confirm it stopped taking the room's writes. */
export const FENCE_DEADLINE_MS = 30_000;

export interface PlacementChange {
  readonly homeNodeId: string;
  readonly replicaNodeIds: readonly string[] | null;
}

export async function activeNodes(services: Pick<Services, 'db'>): Promise<NodeRow[]> {
  return services.db.select().from(nodes).where(activeNode);
}

/** A node as log lines name it: "node-a (id)". */
const labelOf = (all: readonly NodeRow[], id: string) => {
  const node = all.find((n) => n.id === id);
  return node ? nodeLabel(node) : id;
};

/**
 * Pulls everything `leaving` holds into each of `targets` (INCREMENTAL, MANUAL) and resolves once
 * every pull COMPLETED; rejects with NODE_UNAVAILABLE if one fails or the deadline passes.
 */
export async function drain(
  services: Services,
  leaving: NodeRow,
  targets: readonly NodeRow[],
  deadlineMs = DRAIN_DEADLINE_MS,
): Promise<void> {
  if (targets.length === 0) return;
  const waiting = new Set<string>();
  let settle: ((error?: Error) => void) | undefined;
  const done = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  const failed = (why: string) =>
    appError(
      'NODE_UNAVAILABLE',
      `node ${leaving.name} could not be drained (${why}); it stays a holder: retry`,
    );
  // Listening before enqueueing: a session may complete before enqueue returns.
  const early = new Map<string, CentralEvent>();
  const unsubscribe = services.events.subscribe((event) => {
    if (event.type !== 'syncSessionUpdated') return;
    const { id, status, error } = event.session;
    if (!waiting.has(id)) {
      early.set(id, event);
      return;
    }
    if (status === 'COMPLETED') {
      waiting.delete(id);
      if (waiting.size === 0) settle?.();
    } else if (status === 'FAILED') {
      settle?.(failed(error ?? 'a pull from it failed'));
    }
  });
  const timer = setTimeout(
    () => settle?.(failed(`pulls not done within ${deadlineMs} ms`)),
    deadlineMs,
  );
  try {
    for (const target of targets) {
      const session = await services.sync.enqueue(
        { sourceNodeId: leaving.id, targetNodeId: target.id },
        'INCREMENTAL',
        'MANUAL',
      );
      waiting.add(session.id);
    }
    for (const [id, event] of early) {
      if (event.type !== 'syncSessionUpdated' || !waiting.has(id)) continue;
      if (event.session.status === 'COMPLETED') waiting.delete(id);
      else if (event.session.status === 'FAILED') throw failed(event.session.error ?? 'failed');
    }
    early.clear();
    if (waiting.size > 0) await done;
  } finally {
    clearTimeout(timer);
    unsubscribe();
  }
}

/**
 * Tells `leaving` its writable rooms (without the rooms it is leaving: they are marked already)
 * and waits for its acknowledgement: from then on no write for them commits on it, so a pull
 * begun afterwards takes everything it acknowledged. NODE_UNAVAILABLE if it does not answer.
 */
async function fence(services: Services, leaving: NodeRow, what: string): Promise<void> {
  const acked = await noticeAndWait(
    services,
    [leaving.id],
    { kind: 'placement' },
    FENCE_DEADLINE_MS,
  );
  if (!acked.has(leaving.id))
    throw appError(
      'NODE_UNAVAILABLE',
      `node ${leaving.name} did not confirm within ${FENCE_DEADLINE_MS} ms that it stopped taking writes for ${what}; it stays a holder (taking no writes for it): retry`,
    );
}

interface Leavers {
  /** Nodes gone from the placement for good (drained, or dead). */
  readonly left?: readonly string[];
  /** Holders still in the placement that take no more writes (being drained). */
  readonly leaving?: readonly string[];
}

/**
 * rooms.former_holder_ids after a placement write: every node that left or is leaving, minus
 * the nodes that hold the room again (a node put back is a plain holder, taking writes).
 */
function formerAfter(
  former: readonly string[],
  placement: PlacementChange,
  all: readonly NodeRow[],
  { left = [], leaving = [] }: Leavers,
): string[] {
  const holders = storageNodeIdsOf(placement, all);
  return [...new Set([...former, ...left, ...leaving])].filter(
    (id) => !holders.includes(id) || leaving.includes(id),
  );
}

async function writePlacement(
  services: Services,
  room: RoomRow,
  placement: PlacementChange,
  all: readonly NodeRow[],
  leavers: Leavers = {},
): Promise<RoomRow> {
  const [row] = await services.db
    .update(rooms)
    .set({
      homeNodeId: placement.homeNodeId,
      replicaNodeIds: placement.replicaNodeIds === null ? null : [...placement.replicaNodeIds],
      formerHolderIds: formerAfter(room.formerHolderIds, placement, all, leavers),
    })
    .where(eq(rooms.id, room.id))
    .returning();
  if (!row) throw appError('NOT_FOUND', `room ${room.id} no longer exists`);
  await services.events.publish({ type: 'roomChanged', roomId: room.id });
  return row;
}

/**
 * Moves `room` to `next` (see the top of this file). `drainOffline`: what to do with a leaving
 * holder that is not ONLINE: refuse (updateRoom), or drop it undrained (removeNode of a dead node,
 * whose unpulled writes are gone with it).
 */
export async function changePlacement(
  services: Services,
  room: RoomRow,
  next: PlacementChange,
  drainOffline: 'refuse' | 'skip',
): Promise<RoomRow> {
  const all = await activeNodes(services);
  const byId = new Map(all.map((n) => [n.id, n]));
  const before = storageNodeIdsOf(room, all);
  const after = storageNodeIdsOf(next, all);
  const leaving = before.filter((id) => !after.includes(id));
  const added = after.filter((id) => !before.includes(id));
  const toDrain: NodeRow[] = [];
  for (const id of leaving) {
    const node = byId.get(id);
    if (!node) continue;
    if (node.status === 'ONLINE') toDrain.push(node);
    else if (drainOffline === 'refuse')
      throw appError(
        'NODE_UNAVAILABLE',
        `node ${node.name} is ${node.status}: its writes cannot be pulled before it leaves room "${room.name}"; bring it back, or removeNode it`,
      );
  }
  const staying = (next.replicaNodeIds ?? all.map((n) => n.id)).filter(
    (id) => id !== next.homeNodeId,
  );
  const interim: PlacementChange =
    toDrain.length === 0
      ? next
      : {
          homeNodeId: next.homeNodeId,
          replicaNodeIds: [...new Set([...staying, ...toDrain.map((n) => n.id)])].filter(
            (id) => id !== next.homeNodeId,
          ),
        };
  const draining = toDrain.map((n) => n.id);
  let row = await writePlacement(services, room, interim, all, {
    left: leaving.filter((id) => !draining.includes(id)),
    leaving: draining,
  });
  const online = (id: string) => byId.get(id)?.status === 'ONLINE';
  const sources = before.filter(online);
  for (const target of added.filter(online)) {
    for (const source of sources)
      await services.sync.enqueue({ sourceNodeId: source, targetNodeId: target }, 'FULL', 'MANUAL');
  }
  if (toDrain.length > 0) {
    const targets = after.filter(online).map((id) => byId.get(id) as NodeRow);
    for (const node of toDrain) {
      await fence(services, node, `room "${room.name}"`);
      await drain(services, node, targets);
    }
    row = await writePlacement(services, row, next, all, { left: leaving });
  }
  services.log.info(
    `room "${room.name}": home ${labelOf(all, next.homeNodeId)}, holders ${after.map((id) => labelOf(all, id)).join(', ')}` +
      (leaving.length > 0 ? `; left: ${leaving.map((id) => labelOf(all, id)).join(', ')}` : ''),
  );
  return row;
}

/** Rooms whose only holder is `nodeId`, by name: removeNode refuses while there are any. */
export async function roomsHeldOnlyBy(
  services: Pick<Services, 'db'>,
  nodeId: string,
  all: readonly NodeRow[],
): Promise<RoomRow[]> {
  const held = await roomsHeldBy(services, nodeId, all);
  return held.filter((r) => storageNodeIdsOf(r, all).length === 1);
}

export async function roomsHeldBy(
  services: Pick<Services, 'db'>,
  nodeId: string,
  all: readonly NodeRow[],
): Promise<RoomRow[]> {
  const every = await services.db.select().from(rooms);
  return every.filter((r) => storageNodeIdsOf(r, all).includes(nodeId));
}

/** The placement of `room` without `nodeId`: its home moves to the first ONLINE other holder. */
export function placementWithout(
  room: PlacedRoom,
  nodeId: string,
  all: readonly NodeRow[],
): PlacementChange {
  const others = storageNodeIdsOf(room, all).filter((id) => id !== nodeId);
  const replicas =
    room.replicaNodeIds === null ? null : room.replicaNodeIds.filter((id) => id !== nodeId);
  if (room.homeNodeId !== nodeId) return { homeNodeId: room.homeNodeId, replicaNodeIds: replicas };
  const status = new Map(all.map((n) => [n.id, n.status]));
  const home = others.find((id) => status.get(id) === 'ONLINE') ?? others[0];
  if (home === undefined) throw new Error(`room has no holder besides ${nodeId}`);
  return {
    homeNodeId: home,
    replicaNodeIds: replicas === null ? null : replicas.filter((id) => id !== home),
  };
}

/**
 * removeNode: refused while the node is a room's only holder. An ONLINE node first hands the
 * rooms it homes to another holder (staying a replica), then every ONLINE peer pulls from it;
 * only then does it leave every placement. An OFFLINE node cannot be pulled from: what it took
 * and nobody pulled is gone with it. The row stays, marked removed, under a key nobody holds.
 */
export async function decommission(services: Services, node: NodeRow): Promise<NodeRow> {
  const all = await activeNodes(services);
  const held = await roomsHeldBy(services, node.id, all);
  const stranded = held.filter((r) => storageNodeIdsOf(r, all).length === 1);
  if (stranded.length > 0)
    throw appError(
      'ONLY_HOLDER',
      `node ${node.name} is the only holder of room(s) ${stranded.map((r) => `"${r.name}"`).join(', ')}: add a replica first (updateRoom)`,
    );
  const finals = held.map((room) => ({ room, next: placementWithout(room, node.id, all) }));
  if (node.status === 'ONLINE') {
    // Every room it holds marks it leaving (and the rooms it homes get another home), so it
    // takes no more writes; it stays a holder, pulled from, until the end.
    for (const { room, next } of finals) {
      const keep =
        next.replicaNodeIds === null || room.homeNodeId !== node.id
          ? room.replicaNodeIds
          : [...next.replicaNodeIds, node.id];
      await writePlacement(
        services,
        room,
        { homeNodeId: next.homeNodeId, replicaNodeIds: keep },
        all,
        { leaving: [node.id] },
      );
    }
    await fence(services, node, `its ${held.length} room(s)`);
    const peers = all.filter(
      (n) =>
        n.id !== node.id &&
        n.status === 'ONLINE' &&
        held.some((r) => storageNodeIdsOf(r, all).includes(n.id)),
    );
    await drain(services, node, peers);
  }
  const removed = await services.db.transaction(async (tx) => {
    for (const { room, next } of finals)
      await tx
        .update(rooms)
        .set({
          homeNodeId: next.homeNodeId,
          replicaNodeIds: next.replicaNodeIds === null ? null : [...next.replicaNodeIds],
          formerHolderIds: [...new Set([...room.formerHolderIds, node.id])],
        })
        .where(eq(rooms.id, room.id));
    const [row] = await tx
      .update(nodes)
      .set({ removedAt: new Date(), status: 'OFFLINE', apiKeyHash: hashApiKey(generateApiKey()) })
      .where(eq(nodes.id, node.id))
      .returning();
    if (!row) throw appError('NOT_FOUND', `no node with id ${node.id}`);
    return row;
  });
  services.sync.forgetNode(node.id);
  services.nodeAuth.forget(node.id);
  await services.events.publish({ type: 'nodeChanged', nodeId: node.id });
  await services.events.publish({ type: 'nodeStatusChanged', nodeId: node.id, status: 'OFFLINE' });
  for (const { room } of finals)
    await services.events.publish({ type: 'roomChanged', roomId: room.id });
  services.log.info(
    `node ${nodeLabel(node)} removed; it held ${held.length} room(s)${node.status === 'ONLINE' ? ', drained first' : ' (OFFLINE: not drained)'}`,
  );
  return removed;
}
