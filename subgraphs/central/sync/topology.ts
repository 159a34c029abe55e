// Which rooms two nodes both store, and so which node pairs have anything to sync. Computed from
// the rooms' placement (home node + replicas, null replicas = every registered node).
import { asc } from 'drizzle-orm';
import type { CentralDatabase } from '../db/open.ts';
import { activeNode, nodes, rooms, type NodeRow } from '../db/schema.ts';
import { storageNodeIdsOf } from '../placement.ts';

export interface Topology {
  readonly nodes: ReadonlyMap<string, NodeRow>;
  /** roomId -> the ids of the nodes that store it. */
  readonly storage: ReadonlyMap<string, readonly string[]>;
  /** The rooms both nodes store, sorted. */
  sharedRooms(a: string, b: string): string[];
  /** The other nodes that share at least one room with `nodeId`. */
  peersOf(nodeId: string): NodeRow[];
  /**
   * The rooms `nodeId` takes writes for, in room id order: those it stores and is not leaving
   * (nodeNotices.ts `writableRoomsOf` reads the same from the tables).
   */
  writableRoomsOf(nodeId: string): string[];
}

interface PlacedRoomRow {
  readonly id: string;
  readonly homeNodeId: string;
  readonly replicaNodeIds: string[] | null;
  readonly formerHolderIds: string[];
}

/** Where each room is stored, worked out for one set of registered nodes. */
interface Storage {
  /** The registered nodes' ids, in order: the storage is valid for exactly this set. */
  readonly nodeKey: string;
  readonly storage: ReadonlyMap<string, readonly string[]>;
  readonly byNode: ReadonlyMap<string, ReadonlySet<string>>;
  /** roomId -> nodes leaving it (still holders until their copy is pulled). */
  readonly leaving: ReadonlyMap<string, readonly string[]>;
}

// Async functions, so that each returns a Promise: a drizzle query is a thenable that runs again
// every time it is awaited, and the rooms' read is shared by concurrent callers.
async function readNodes(db: CentralDatabase): Promise<NodeRow[]> {
  return await db.select().from(nodes).where(activeNode).orderBy(asc(nodes.name));
}

async function readRooms(db: CentralDatabase): Promise<PlacedRoomRow[]> {
  return await db
    .select({
      id: rooms.id,
      homeNodeId: rooms.homeNodeId,
      replicaNodeIds: rooms.replicaNodeIds,
      formerHolderIds: rooms.formerHolderIds,
    })
    .from(rooms)
    .orderBy(asc(rooms.id));
}

function nodeKeyOf(allNodes: readonly NodeRow[]): string {
  return allNodes.map((n) => n.id).join(',');
}

function storageOf(allRooms: readonly PlacedRoomRow[], allNodes: readonly NodeRow[]): Storage {
  const storage = new Map(allRooms.map((r) => [r.id, storageNodeIdsOf(r, allNodes)]));
  const byNode = new Map<string, Set<string>>();
  for (const [roomId, holders] of storage) {
    for (const id of holders) {
      const set = byNode.get(id) ?? new Set<string>();
      set.add(roomId);
      byNode.set(id, set);
    }
  }
  const leaving = new Map(
    allRooms.filter((r) => r.formerHolderIds.length > 0).map((r) => [r.id, r.formerHolderIds]),
  );
  return { nodeKey: nodeKeyOf(allNodes), storage, byNode, leaving };
}

function topologyOf(allNodes: readonly NodeRow[], placed: Storage): Topology {
  const { storage, byNode, leaving } = placed;
  const sharedRooms = (a: string, b: string): string[] => {
    const left = byNode.get(a);
    const right = byNode.get(b);
    if (!left || !right || a === b) return [];
    return [...left].filter((room) => right.has(room)).sort();
  };
  return {
    nodes: new Map(allNodes.map((n) => [n.id, n])),
    storage,
    sharedRooms,
    peersOf: (nodeId) => allNodes.filter((n) => sharedRooms(nodeId, n.id).length > 0),
    // `storage` keeps the rooms' read order (by id), so the list compares equal to the tables' one.
    writableRoomsOf: (nodeId) =>
      [...storage]
        .filter(
          ([roomId, holders]) => holders.includes(nodeId) && !leaving.get(roomId)?.includes(nodeId),
        )
        .map(([roomId]) => roomId),
  };
}

/** The topology read afresh: every node and every room. */
export async function loadTopology(db: CentralDatabase): Promise<Topology> {
  const [allNodes, allRooms] = await Promise.all([readNodes(db), readRooms(db)]);
  return topologyOf(allNodes, storageOf(allRooms, allNodes));
}

/**
 * The topology for a reader that hears central's events (the sync coordinator). The nodes (a
 * few rows: their status and URL change with every comeback) are read each time; the rooms'
 * placement, the expensive part, is kept until `invalidate()` (a room created or placed, a node
 * registered or moved) and worked out again whenever the set of registered nodes differs.
 */
export class TopologyCache {
  readonly #db: CentralDatabase;
  #rooms: Promise<PlacedRoomRow[]> | undefined;
  #storage: { readonly rooms: Promise<PlacedRoomRow[]>; readonly placed: Storage } | undefined;

  constructor(db: CentralDatabase) {
    this.#db = db;
  }

  async get(): Promise<Topology> {
    const roomsRead = this.#placedRooms();
    const [allNodes, allRooms] = await Promise.all([readNodes(this.#db), roomsRead]);
    const nodeKey = nodeKeyOf(allNodes);
    const cached = this.#storage;
    if (cached && cached.rooms === roomsRead && cached.placed.nodeKey === nodeKey) {
      return topologyOf(allNodes, cached.placed);
    }
    const placed = storageOf(allRooms, allNodes);
    // Kept only when no invalidation came while reading: otherwise the next call reads again.
    if (this.#rooms === roomsRead) this.#storage = { rooms: roomsRead, placed };
    return topologyOf(allNodes, placed);
  }

  /** Placement changed: the next `get()` reads the rooms again. */
  invalidate(): void {
    this.#rooms = undefined;
    this.#storage = undefined;
  }

  #placedRooms(): Promise<PlacedRoomRow[]> {
    if (this.#rooms) return this.#rooms;
    const read = readRooms(this.#db);
    this.#rooms = read;
    read.catch(() => {
      if (this.#rooms === read) this.#rooms = undefined;
    });
    return read;
  }
}
