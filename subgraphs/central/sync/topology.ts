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
}

export async function loadTopology(db: CentralDatabase): Promise<Topology> {
  const [allNodes, allRooms] = await Promise.all([
    db.select().from(nodes).where(activeNode).orderBy(asc(nodes.name)),
    db
      .select({ id: rooms.id, homeNodeId: rooms.homeNodeId, replicaNodeIds: rooms.replicaNodeIds })
      .from(rooms)
      .orderBy(asc(rooms.id)),
  ]);
  const storage = new Map(allRooms.map((r) => [r.id, storageNodeIdsOf(r, allNodes)]));
  const byNode = new Map<string, Set<string>>();
  for (const [roomId, holders] of storage) {
    for (const id of holders) {
      const set = byNode.get(id) ?? new Set<string>();
      set.add(roomId);
      byNode.set(id, set);
    }
  }
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
  };
}
