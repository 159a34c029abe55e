// The operations the dashboard sends (public names from schema/*.graphql, docs/api.md) and the
// shapes of what they return.

export type NodeStatus = 'ONLINE' | 'OFFLINE' | 'DEGRADED';
export type SyncStatus = 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
export type SyncType = 'FULL' | 'INCREMENTAL';
export type SyncTrigger = 'MANUAL' | 'SCHEDULE' | 'CHANGE';

export interface NodeRef {
  readonly id: string;
  readonly name: string;
}

export interface SyncNode extends NodeRef {
  readonly url: string;
  readonly status: NodeStatus;
  readonly lastSeenAt: string | null;
  readonly lastSyncAt: string | null;
  readonly syncEnabled: boolean;
  readonly autoSyncInterval: number;
  /** Central's clock minus the node's, ms, as the node last reported it; null until measured. */
  readonly clockOffsetMs: number | null;
  readonly clockMaxDriftMs: number | null;
  /** Beyond its bound: the node refuses writes. The page raises an alert for it. */
  readonly clockSkewed: boolean;
}

export interface Session {
  readonly id: string;
  readonly sourceNode: NodeRef;
  readonly targetNode: NodeRef;
  readonly status: SyncStatus;
  readonly syncType: SyncType;
  readonly trigger: SyncTrigger;
  /** Versions applied: that changed the target. */
  readonly messagesSynced: number;
  /** Versions examined, against `messagesTotal`: the session's progress. */
  readonly messagesChecked: number;
  readonly messagesTotal: number | null;
  readonly startedAt: string;
  readonly completedAt: string | null;
  readonly error: string | null;
}

export interface SyncPair {
  readonly sourceNode: NodeRef;
  readonly targetNode: NodeRef;
  readonly behind: number;
  readonly digestsMatch: boolean | null;
  readonly lastSyncAt: string | null;
  readonly activeSession: { readonly id: string; readonly status: SyncStatus } | null;
}

export interface QuarantinedVersion {
  readonly id: string;
  readonly messageId: string;
  readonly sourceNode: NodeRef;
  readonly targetNode: NodeRef;
  readonly reason: string;
  readonly quarantinedAt: string;
}

export interface Viewer {
  readonly id: string;
  readonly username: string;
  readonly role: 'ADMIN' | 'MEMBER';
}

const NODE_FIELDS =
  'id name url status lastSeenAt lastSyncAt syncEnabled autoSyncInterval clockOffsetMs clockMaxDriftMs clockSkewed';
const SESSION_FIELDS = `id status syncType trigger messagesSynced messagesChecked messagesTotal startedAt completedAt error
  sourceNode { id name } targetNode { id name }`;

/** How many sessions of each trigger the page lists. */
export const SESSION_LIMIT = 20;
/** How many sessions the first load asks for: enough that a CHANGE burst leaves manual ones in. */
export const SESSION_FETCH = 200;

export const LOGIN = `mutation DashboardLogin($username: String!, $password: String!) {
  login(username: $username, password: $password) { token user { id username role } }
}`;
export type LoginResult = { login: { token: string; user: Viewer } };

export const ME = 'query DashboardMe { me { id username role } }';
export type MeResult = { me: Viewer | null };

export const NODES = `query DashboardNodes { nodes { ${NODE_FIELDS} } }`;
export type NodesResult = { nodes: SyncNode[] };

export const SESSIONS = `query DashboardSessions($last: Int!) {
  syncSessions(last: $last) { ${SESSION_FIELDS} }
}`;
export type SessionsResult = { syncSessions: Session[] };

export const PAIRS = `query DashboardPairs {
  syncPairs { behind digestsMatch lastSyncAt sourceNode { id name } targetNode { id name }
    activeSession { id status } }
}`;
export type PairsResult = { syncPairs: SyncPair[] };

/** How many quarantined versions the page lists (the newest). */
export const QUARANTINE_LIMIT = 50;

export const QUARANTINED = `query DashboardQuarantined($first: Int!) {
  quarantinedVersions(first: $first) { id messageId reason quarantinedAt
    sourceNode { id name } targetNode { id name } }
}`;
export type QuarantinedResult = { quarantinedVersions: QuarantinedVersion[] };

export interface ReplicationBucket {
  readonly at: string;
  readonly versions: number;
  readonly versionsPerSecond: number;
  readonly lagSamples: number;
  readonly lagP50Ms: number | null;
  readonly lagP99Ms: number | null;
}

export interface ReplicationPair {
  readonly sourceNode: NodeRef;
  readonly targetNode: NodeRef;
  readonly buckets: readonly ReplicationBucket[];
}

export interface ReplicationStats {
  readonly since: string;
  readonly until: string;
  readonly bucketSeconds: number;
  readonly pairs: readonly ReplicationPair[];
}

/** How much replication history the chart shows. */
export const REPLICATION_WINDOW_MS = 15 * 60 * 1000;

export const REPLICATION_STATS = `query DashboardReplication($since: DateTime) {
  replicationStats(since: $since) { since until bucketSeconds
    pairs { sourceNode { id name } targetNode { id name }
      buckets { at versions versionsPerSecond lagSamples lagP50Ms lagP99Ms } } }
}`;
export type ReplicationStatsResult = { replicationStats: ReplicationStats };

export const TRIGGER_SYNC = `mutation DashboardTriggerSync($nodeId: ID, $syncType: SyncType!) {
  triggerSync(nodeId: $nodeId, syncType: $syncType) { ${SESSION_FIELDS} }
}`;
export type TriggerSyncResult = { triggerSync: Session[] };

export const NODE_STATUS_CHANGED = `subscription DashboardNodeStatus {
  nodeStatusChanged { ${NODE_FIELDS} }
}`;
export type NodeStatusChangedEvent = { nodeStatusChanged: SyncNode };

export const SESSION_UPDATED = `subscription DashboardSessions {
  syncSessionUpdated { ${SESSION_FIELDS} }
}`;
export type SessionUpdatedEvent = { syncSessionUpdated: Session };
