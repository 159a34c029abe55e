// Wire shapes of central's internal gateway API (routing table and event stream), shared by
// central (which serves it) and the gateway (which reads it).
export const GATEWAY_SECRET_HEADER = 'x-gateway-secret';
export const GATEWAY_PREFIX = '/internal/gateway/';

export interface RoutingNode {
  readonly id: string;
  readonly name: string;
  readonly url: string;
  readonly status: 'ONLINE' | 'OFFLINE' | 'DEGRADED';
}

export interface RoomPlacement {
  readonly id: string;
  readonly homeNodeId: string;
  /** Home node first. */
  readonly storageNodeIds: readonly string[];
}
