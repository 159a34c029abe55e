// Shapes the node's resolvers hand to GraphQL for types it does not own.

/** A reference to an entity owned by central (User, Room, Node): the gateway resolves the rest. */
export interface EntityRef {
  readonly id: string;
}
