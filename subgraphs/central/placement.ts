// Which nodes store a room: its home node (listed first: it takes the room's writes) and its
// replicas, by default every other registered node (the default), or the nodes chosen
// when the room was created.
export interface Placed {
  readonly id: string;
}

export interface PlacedRoom {
  readonly homeNodeId: string;
  /** null = every registered node. */
  readonly replicaNodeIds: readonly string[] | null;
}

export function replicaNodesOf<N extends Placed>(room: PlacedRoom, allNodes: readonly N[]): N[] {
  const chosen = room.replicaNodeIds === null ? null : new Set(room.replicaNodeIds);
  return allNodes.filter((n) => n.id !== room.homeNodeId && (chosen === null || chosen.has(n.id)));
}

export function storageNodeIdsOf(room: PlacedRoom, allNodes: readonly Placed[]): string[] {
  return [room.homeNodeId, ...replicaNodesOf(room, allNodes).map((n) => n.id)];
}
