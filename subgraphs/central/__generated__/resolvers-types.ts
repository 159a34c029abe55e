import type { GraphQLResolveInfo, GraphQLScalarType, GraphQLScalarTypeConfig } from 'graphql';
import type {
  UserRow,
  RoomRow,
  NodeRow,
  SyncSessionRow,
  MessageSyncLogRow,
  DistributedMessageRow,
  QuarantinedVersionRow,
} from '../db/schema.ts';
import type { SyncPairView } from '../sync/pairs.ts';
import type { ReplicationPairView, ReplicationStatsView } from '../sync/replicationStats.ts';
import type { CentralContext } from '../context.ts';
export type Maybe<T> = T | null;
export type InputMaybe<T> = Maybe<T>;
export type Exact<T extends { [key: string]: unknown }> = { [K in keyof T]: T[K] };
export type MakeOptional<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]?: Maybe<T[SubKey]> };
export type MakeMaybe<T, K extends keyof T> = Omit<T, K> & { [SubKey in K]: Maybe<T[SubKey]> };
export type MakeEmpty<T extends { [key: string]: unknown }, K extends keyof T> = {
  [_ in K]?: never;
};
export type Incremental<T> =
  | T
  | { [P in keyof T]?: P extends ' $fragmentName' | '__typename' ? T[P] : never };
export type Omit<T, K extends keyof T> = Pick<T, Exclude<keyof T, K>>;
export type RequireFields<T, K extends keyof T> = Omit<T, K> & { [P in K]-?: NonNullable<T[P]> };
/** All built-in and custom scalars, mapped to their actual values */
export type Scalars = {
  ID: { input: string; output: string };
  String: { input: string; output: string };
  Boolean: { input: boolean; output: boolean };
  Int: { input: number; output: number };
  Float: { input: number; output: number };
  /** ISO-8601 date-time string in UTC, e.g. 2026-11-25T09:00:00.000Z. */
  DateTime: { input: string; output: Date | string };
  _FieldSet: { input: any; output: any };
};

export type AuthPayload = {
  __typename?: 'AuthPayload';
  token: Scalars['String']['output'];
  user: User;
};

/** The central message index: metadata only, content stays on the nodes. */
export type DistributedMessage = {
  __typename?: 'DistributedMessage';
  /** Lowercase hex SHA-256 of the content of the indexed version. */
  contentHash: Scalars['String']['output'];
  createdAt: Scalars['DateTime']['output'];
  deleted: Scalars['Boolean']['output'];
  id: Scalars['ID']['output'];
  originatingNode: Node;
  room: Room;
  sender: User;
  /** The nodes that hold the message, as sync results show. */
  storageNodes: Array<Node>;
  updatedAt: Scalars['DateTime']['output'];
};

export type DistributedMessageConnection = {
  __typename?: 'DistributedMessageConnection';
  edges: Array<DistributedMessageEdge>;
  pageInfo: PageInfo;
};

export type DistributedMessageEdge = {
  __typename?: 'DistributedMessageEdge';
  cursor: Scalars['String']['output'];
  node: DistributedMessage;
};

export type MessageSyncLog = {
  __typename?: 'MessageSyncLog';
  action: SyncAction;
  id: Scalars['ID']['output'];
  messageId: Scalars['ID']['output'];
  syncedAt: Scalars['DateTime']['output'];
};

export type MessageSyncLogConnection = {
  __typename?: 'MessageSyncLogConnection';
  edges: Array<MessageSyncLogEdge>;
  pageInfo: PageInfo;
  totalCount: Scalars['Int']['output'];
};

export type MessageSyncLogEdge = {
  __typename?: 'MessageSyncLogEdge';
  cursor: Scalars['String']['output'];
  node: MessageSyncLog;
};

export type Mutation = {
  __typename?: 'Mutation';
  /**
   * The caller becomes a member. Without homeNodeId: the online node with the fewest rooms.
   * replicaNodeIds: the nodes that keep a copy besides the home node; omitted = every node.
   * visibility: PRIVATE rooms are seen only by their members, who add others with inviteToRoom.
   */
  createRoom: Room;
  /** ADMIN only. */
  createUser: User;
  /**
   * Makes userId a member. By a member of the room or an ADMIN; not for a direct conversation
   * (FORBIDDEN). Inviting a member again changes nothing.
   */
  inviteToRoom: Room;
  /** PUBLIC rooms only: a PRIVATE room is joined by invitation (NOT_FOUND to non-members). */
  joinRoom: Room;
  leaveRoom: Room;
  login: AuthPayload;
  /**
   * The PRIVATE direct conversation between the caller and userId: one per pair of users, created on
   * the first call (homed on the online node with the fewest rooms), returned by every later one
   * (also by concurrent calls). The caller becomes a member again if they had left.
   */
  openDirectRoom: Room;
  /** ADMIN only. The API key is returned once. */
  registerNode: NodeRegistration;
  /**
   * Ends userId's membership. By an ADMIN, by userId themself (as leaveRoom), or by the room's
   * creator (not in a direct conversation). Removing a non-member changes nothing.
   */
  removeFromRoom: Room;
  /**
   * ADMIN only. Decommissions a node: refused (ONLY_HOLDER) while it is the only holder of a room.
   * Otherwise, if it is ONLINE, its peers pull from it first; then the rooms it homes move to
   * another holder, it leaves every room's placement, the routing table and the sync topology, and
   * its API key stops working. Its messages keep naming it as their origin.
   */
  removeNode: Node;
  /** ADMIN only. The old key stops working at once. */
  rotateNodeApiKey: NodeRegistration;
  /**
   * ADMIN only. For a node N: N pulls from every other ONLINE node it shares a room with, and each
   * of them pulls from N. Without nodeId: the same for every ONLINE node (every pair among them).
   * Returns the sessions created, or the PENDING ones the requests coalesced into.
   */
  triggerSync: Array<SyncSession>;
  /** ADMIN only. */
  updateNode: Node;
  /**
   * ADMIN only. Moves the room's home (homeNodeId) and/or sets its replicas (replicaNodeIds: the
   * nodes keeping a copy besides the home; omitted = unchanged) while writes continue. An added node
   * is filled by a FULL sync from the holders at once. A dropped holder must be ONLINE
   * (NODE_UNAVAILABLE otherwise): the remaining holders pull from it first, and it leaves the
   * placement only once every one of those pulls COMPLETED, so no write it acknowledged is lost.
   */
  updateRoom: Room;
};

export type MutationCreateRoomArgs = {
  homeNodeId?: InputMaybe<Scalars['ID']['input']>;
  name: Scalars['String']['input'];
  replicaNodeIds?: InputMaybe<Array<Scalars['ID']['input']>>;
  visibility?: InputMaybe<RoomVisibility>;
};

export type MutationCreateUserArgs = {
  displayName?: InputMaybe<Scalars['String']['input']>;
  password: Scalars['String']['input'];
  role?: InputMaybe<Role>;
  username: Scalars['String']['input'];
};

export type MutationInviteToRoomArgs = {
  roomId: Scalars['ID']['input'];
  userId: Scalars['ID']['input'];
};

export type MutationJoinRoomArgs = {
  roomId: Scalars['ID']['input'];
};

export type MutationLeaveRoomArgs = {
  roomId: Scalars['ID']['input'];
};

export type MutationLoginArgs = {
  password: Scalars['String']['input'];
  username: Scalars['String']['input'];
};

export type MutationOpenDirectRoomArgs = {
  userId: Scalars['ID']['input'];
};

export type MutationRegisterNodeArgs = {
  name: Scalars['String']['input'];
  url: Scalars['String']['input'];
};

export type MutationRemoveFromRoomArgs = {
  roomId: Scalars['ID']['input'];
  userId: Scalars['ID']['input'];
};

export type MutationRemoveNodeArgs = {
  nodeId: Scalars['ID']['input'];
};

export type MutationRotateNodeApiKeyArgs = {
  nodeId: Scalars['ID']['input'];
};

export type MutationTriggerSyncArgs = {
  nodeId?: InputMaybe<Scalars['ID']['input']>;
  syncType?: InputMaybe<SyncType>;
};

export type MutationUpdateNodeArgs = {
  autoSyncInterval?: InputMaybe<Scalars['Int']['input']>;
  id: Scalars['ID']['input'];
  syncEnabled?: InputMaybe<Scalars['Boolean']['input']>;
};

export type MutationUpdateRoomArgs = {
  homeNodeId?: InputMaybe<Scalars['ID']['input']>;
  replicaNodeIds?: InputMaybe<Array<Scalars['ID']['input']>>;
  roomId: Scalars['ID']['input'];
};

export type Node = {
  __typename?: 'Node';
  /** Seconds between scheduled syncs of this node. */
  autoSyncInterval: Scalars['Int']['output'];
  /** How far from central's clock the node's may be (its --max-clock-drift-ms); null until reported. */
  clockMaxDriftMs: Maybe<Scalars['Int']['output']>;
  /**
   * The node's clock against central's as the node last measured and reported it on a heartbeat:
   * central's clock minus the node's, in ms (negative: the node's clock is ahead). Null until the node
   * has measured it.
   */
  clockOffsetMs: Maybe<Scalars['Float']['output']>;
  /**
   * Whether the last reported offset is beyond the node's bound: the node then refuses every write
   * (CLOCK_SKEW) and peers defer its versions. A change is published by nodeStatusChanged.
   */
  clockSkewed: Scalars['Boolean']['output'];
  id: Scalars['ID']['output'];
  lastSeenAt: Maybe<Scalars['DateTime']['output']>;
  lastSyncAt: Maybe<Scalars['DateTime']['output']>;
  name: Scalars['String']['output'];
  status: NodeStatus;
  syncEnabled: Scalars['Boolean']['output'];
  /** The URL the node's GraphQL subgraph answers on. */
  url: Scalars['String']['output'];
};

export type NodeRegistration = {
  __typename?: 'NodeRegistration';
  /** The node's API key. Shown only here: central keeps nothing but its SHA-256. */
  apiKey: Scalars['String']['output'];
  node: Node;
};

export type NodeStatus = 'DEGRADED' | 'OFFLINE' | 'ONLINE';

export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  hasPreviousPage: Scalars['Boolean']['output'];
  startCursor: Maybe<Scalars['String']['output']>;
};

/**
 * A version a target refused and kept aside instead of applying (e.g. a forged sender, or a message
 * moved to another room), as the target reported it. Released once a newer valid version of the
 * message from the same source replaced it.
 */
export type QuarantinedVersion = {
  __typename?: 'QuarantinedVersion';
  hlc: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  messageId: Scalars['ID']['output'];
  quarantinedAt: Scalars['DateTime']['output'];
  /** Why the target refused it. */
  reason: Scalars['String']['output'];
  releasedAt: Maybe<Scalars['DateTime']['output']>;
  /** The room the version claimed; null once that room no longer exists (or never did). */
  room: Maybe<Room>;
  /** The session that reported it. */
  session: Maybe<SyncSession>;
  sourceNode: Node;
  targetNode: Node;
};

export type Query = {
  __typename?: 'Query';
  /** The authenticated user, or null without a valid token. */
  me: Maybe<User>;
  /**
   * The index of a room's messages, oldest first. Members of the room or ADMIN (FORBIDDEN for a
   * PUBLIC room, NOT_FOUND for a PRIVATE one). At most 500 per page.
   */
  messageIndex: DistributedMessageConnection;
  node: Maybe<Node>;
  nodes: Array<Node>;
  /**
   * ADMIN only. Newest first, at most 500. nodeId: versions that node sent or refused.
   * includeReleased: also those a newer valid version replaced.
   */
  quarantinedVersions: Array<QuarantinedVersion>;
  /**
   * ADMIN only (the timing of writes in every room, PRIVATE ones included). Replication throughput
   * and lag per ordered pair of nodes in 10-second buckets, from `since` (default: 15 minutes ago; at
   * most 1 hour ago) until now.
   */
  replicationStats: ReplicationStats;
  /** Null for an unknown room, and for a PRIVATE room the caller is not a member of (unless ADMIN). */
  room: Maybe<Room>;
  /**
   * Every PUBLIC room (open to join; messages readable by members only) and the PRIVATE rooms the
   * caller is a member of (every room for an ADMIN). `me { rooms }` lists only the caller's rooms.
   */
  rooms: Array<Room>;
  /** ADMIN only. Every ordered pair of nodes that share at least one room. */
  syncPairs: Array<SyncPair>;
  /**
   * Sync sessions are open to every authenticated user (the dashboard); they hold no content. A
   * session's `log` shows a non-ADMIN only the entries of rooms they are a member of.
   */
  syncSession: Maybe<SyncSession>;
  /** Newest first. nodeId: sessions where that node is the source or the target. At most 500. */
  syncSessions: Array<SyncSession>;
  user: Maybe<User>;
  users: Array<User>;
};

export type QueryMessageIndexArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  roomId: Scalars['ID']['input'];
};

export type QueryNodeArgs = {
  id: Scalars['ID']['input'];
};

export type QueryQuarantinedVersionsArgs = {
  first?: InputMaybe<Scalars['Int']['input']>;
  includeReleased?: InputMaybe<Scalars['Boolean']['input']>;
  nodeId?: InputMaybe<Scalars['ID']['input']>;
};

export type QueryReplicationStatsArgs = {
  since?: InputMaybe<Scalars['DateTime']['input']>;
};

export type QueryRoomArgs = {
  id: Scalars['ID']['input'];
};

export type QuerySyncSessionArgs = {
  id: Scalars['ID']['input'];
};

export type QuerySyncSessionsArgs = {
  last?: InputMaybe<Scalars['Int']['input']>;
  nodeId?: InputMaybe<Scalars['ID']['input']>;
  status?: InputMaybe<SyncStatus>;
};

export type QueryUserArgs = {
  id: Scalars['ID']['input'];
};

/**
 * One ordered pair's replication in one time bucket, from central's sync log: the versions the
 * target applied from the source (every session and live window of the pair), and for the new
 * messages among them how long after their creation central recorded them on the target.
 */
export type ReplicationBucket = {
  __typename?: 'ReplicationBucket';
  /** Start of the bucket. */
  at: Scalars['DateTime']['output'];
  /**
   * Median lag, ms: central's time when the target's report recorded a new message minus the
   * message's createdAt (its origin node's clock). Null without lagSamples.
   */
  lagP50Ms: Maybe<Scalars['Float']['output']>;
  /** 99th percentile of the same lag, ms. Null without lagSamples. */
  lagP99Ms: Maybe<Scalars['Float']['output']>;
  /** How many of them were new messages (CREATE), whose lag is measured. */
  lagSamples: Scalars['Int']['output'];
  /** Versions applied on the target in the bucket. */
  versions: Scalars['Int']['output'];
  /** versions divided by the bucket's length. */
  versionsPerSecond: Scalars['Float']['output'];
};

/** The buckets of one ordered pair of nodes, oldest first; buckets without versions are left out. */
export type ReplicationPairStats = {
  __typename?: 'ReplicationPairStats';
  buckets: Array<ReplicationBucket>;
  sourceNode: Node;
  targetNode: Node;
};

export type ReplicationStats = {
  __typename?: 'ReplicationStats';
  bucketSeconds: Scalars['Int']['output'];
  /** Pairs with at least one version applied since `since`. */
  pairs: Array<ReplicationPairStats>;
  /** Start of the first bucket (the since argument, rounded down to a bucket). */
  since: Scalars['DateTime']['output'];
  /** Central's time when the stats were read: the last bucket is still filling. */
  until: Scalars['DateTime']['output'];
};

export type Role = 'ADMIN' | 'MEMBER';

export type Room = {
  __typename?: 'Room';
  createdAt: Scalars['DateTime']['output'];
  /** The node that takes the room's writes while it is online. */
  homeNode: Node;
  id: Scalars['ID']['output'];
  /** Whether the caller is a member (may read and post). */
  isMember: Scalars['Boolean']['output'];
  members: Array<User>;
  name: Scalars['String']['output'];
  /** Every other node that keeps a copy of the room (by default: every registered node). */
  replicaNodes: Array<Node>;
  visibility: RoomVisibility;
};

export type RoomVisibility =
  /**
   * Seen only by its members (and ADMINs): to everyone else it does not exist (NOT_FOUND). Members
   * join by inviteToRoom only.
   */
  | 'PRIVATE'
  /** Listed to every user; anyone may join; only members read the messages. */
  | 'PUBLIC';

export type Subscription = {
  __typename?: 'Subscription';
  /**
   * Every change of a node's status (ONLINE, OFFLINE, DEGRADED), and of whether its clock is beyond
   * its bound (clockSkewed).
   */
  nodeStatusChanged: Node;
  /** Every status or progress change of a session; nodeId filters on source or target. */
  syncSessionUpdated: SyncSession;
};

export type SubscriptionSyncSessionUpdatedArgs = {
  nodeId?: InputMaybe<Scalars['ID']['input']>;
};

export type SyncAction = 'CREATE' | 'DELETE' | 'UPDATE';

/** How far one node (the target) has pulled another's (the source's) changes. */
export type SyncPair = {
  __typename?: 'SyncPair';
  /** A PENDING or IN_PROGRESS session of the pair, if any. */
  activeSession: Maybe<SyncSession>;
  /** Source changes the target has not pulled yet, as of the source's newest seq central has seen. */
  behind: Scalars['Int']['output'];
  /** Whether the rooms both store had equal digests at the end of the pair's last FULL sync. */
  digestsMatch: Maybe<Scalars['Boolean']['output']>;
  lastSyncAt: Maybe<Scalars['DateTime']['output']>;
  sourceNode: Node;
  targetNode: Node;
};

/**
 * One pull of a node pair: the target fetches the source's changes after the pair's cursor. A pair
 * has at most one PENDING and one IN_PROGRESS session; further requests coalesce into the PENDING one.
 */
export type SyncSession = {
  __typename?: 'SyncSession';
  completedAt: Maybe<Scalars['DateTime']['output']>;
  cursorAfter: Maybe<Scalars['Float']['output']>;
  /** The pair's cursor (source change-log seq) when the session started and where it ended. */
  cursorBefore: Maybe<Scalars['Float']['output']>;
  /** FULL only: whether the rooms' digests matched the source's at the end. */
  digestsMatch: Maybe<Scalars['Boolean']['output']>;
  /**
   * Entries of the target's reports central refused: about rooms outside the session or not stored
   * by the target, or changing an indexed message's room, sender, originating node or createdAt.
   */
  entriesRefused: Scalars['Int']['output'];
  /** Why the session FAILED. */
  error: Maybe<Scalars['String']['output']>;
  id: Scalars['ID']['output'];
  /** The changes the session applied, in order. */
  log: MessageSyncLogConnection;
  /**
   * Versions the target examined so far: applied, already held (they changed nothing), or refused
   * and quarantined. The progress of the session against `messagesTotal`.
   */
  messagesChecked: Scalars['Int']['output'];
  /** Versions the target refused and kept aside (quarantined) instead of applying. */
  messagesQuarantined: Scalars['Int']['output'];
  /** Versions applied on the target so far: those that changed it (one log entry each). */
  messagesSynced: Scalars['Int']['output'];
  /** Versions the target had to examine when it started, once it knows. */
  messagesTotal: Maybe<Scalars['Int']['output']>;
  sourceNode: Node;
  /** When the session was requested. */
  startedAt: Scalars['DateTime']['output'];
  status: SyncStatus;
  syncType: SyncType;
  /** The node that pulls and applies. */
  targetNode: Node;
  trigger: SyncTrigger;
};

/**
 * One pull of a node pair: the target fetches the source's changes after the pair's cursor. A pair
 * has at most one PENDING and one IN_PROGRESS session; further requests coalesce into the PENDING one.
 */
export type SyncSessionLogArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
};

export type SyncStatus = 'COMPLETED' | 'FAILED' | 'IN_PROGRESS' | 'PENDING';

export type SyncTrigger =
  /** Local writes on the source. */
  | 'CHANGE'
  /** triggerSync. */
  | 'MANUAL'
  /** The target's autoSyncInterval elapsed. */
  | 'SCHEDULE';

export type SyncType =
  /** From the start of the source's change log, ending with a digest check of the rooms. */
  | 'FULL'
  /** Only the changes after the pair's cursor. */
  | 'INCREMENTAL';

export type User = {
  __typename?: 'User';
  createdAt: Scalars['DateTime']['output'];
  displayName: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  role: Role;
  /**
   * The rooms the user is a member of, oldest membership first, as far as the caller may see them
   * (`me { rooms }`: the caller's own rooms; another user's PRIVATE rooms only where the caller is a
   * member too, or for an ADMIN).
   */
  rooms: Array<Room>;
  username: Scalars['String']['output'];
};

export type WithIndex<TObject> = TObject & Record<string, any>;
export type ResolversObject<TObject> = WithIndex<TObject>;

export type ResolverTypeWrapper<T> = Promise<T> | T;

export type ReferenceResolver<TResult, TReference, TContext> = (
  reference: TReference,
  context: TContext,
  info: GraphQLResolveInfo,
) => Promise<TResult> | TResult;

type ScalarCheck<T, S> = S extends true ? T : NullableCheck<T, S>;
type NullableCheck<T, S> =
  Maybe<T> extends T ? Maybe<ListCheck<NonNullable<T>, S>> : ListCheck<T, S>;
type ListCheck<T, S> = T extends (infer U)[] ? NullableCheck<U, S>[] : GraphQLRecursivePick<T, S>;
export type GraphQLRecursivePick<T, S> = { [K in keyof T & keyof S]: ScalarCheck<T[K], S[K]> };

export type ResolverWithResolve<TResult, TParent, TContext, TArgs> = {
  resolve: ResolverFn<TResult, TParent, TContext, TArgs>;
};
export type Resolver<
  TResult,
  TParent = Record<PropertyKey, never>,
  TContext = Record<PropertyKey, never>,
  TArgs = Record<PropertyKey, never>,
> =
  | ResolverFn<TResult, TParent, TContext, TArgs>
  | ResolverWithResolve<TResult, TParent, TContext, TArgs>;

export type ResolverFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo,
) => Promise<TResult> | TResult;

export type SubscriptionSubscribeFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo,
) => AsyncIterable<TResult> | Promise<AsyncIterable<TResult>>;

export type SubscriptionResolveFn<TResult, TParent, TContext, TArgs> = (
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo,
) => TResult | Promise<TResult>;

export interface SubscriptionSubscriberObject<
  TResult,
  TKey extends string,
  TParent,
  TContext,
  TArgs,
> {
  subscribe: SubscriptionSubscribeFn<{ [key in TKey]: TResult }, TParent, TContext, TArgs>;
  resolve?: SubscriptionResolveFn<TResult, { [key in TKey]: TResult }, TContext, TArgs>;
}

export interface SubscriptionResolverObject<TResult, TParent, TContext, TArgs> {
  subscribe: SubscriptionSubscribeFn<any, TParent, TContext, TArgs>;
  resolve: SubscriptionResolveFn<TResult, any, TContext, TArgs>;
}

export type SubscriptionObject<TResult, TKey extends string, TParent, TContext, TArgs> =
  | SubscriptionSubscriberObject<TResult, TKey, TParent, TContext, TArgs>
  | SubscriptionResolverObject<TResult, TParent, TContext, TArgs>;

export type SubscriptionResolver<
  TResult,
  TKey extends string,
  TParent = Record<PropertyKey, never>,
  TContext = Record<PropertyKey, never>,
  TArgs = Record<PropertyKey, never>,
> =
  | ((...args: any[]) => SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>)
  | SubscriptionObject<TResult, TKey, TParent, TContext, TArgs>;

export type TypeResolveFn<
  TTypes,
  TParent = Record<PropertyKey, never>,
  TContext = Record<PropertyKey, never>,
> = (
  parent: TParent,
  context: TContext,
  info: GraphQLResolveInfo,
) => Maybe<TTypes> | Promise<Maybe<TTypes>>;

export type IsTypeOfResolverFn<
  T = Record<PropertyKey, never>,
  TContext = Record<PropertyKey, never>,
> = (obj: T, context: TContext, info: GraphQLResolveInfo) => boolean | Promise<boolean>;

export type NextResolverFn<T> = () => Promise<T>;

export type DirectiveResolverFn<
  TResult = Record<PropertyKey, never>,
  TParent = Record<PropertyKey, never>,
  TContext = Record<PropertyKey, never>,
  TArgs = Record<PropertyKey, never>,
> = (
  next: NextResolverFn<TResult>,
  parent: TParent,
  args: TArgs,
  context: TContext,
  info: GraphQLResolveInfo,
) => TResult | Promise<TResult>;

/** Mapping of federation types */
export type FederationTypes = ResolversObject<{
  Node: Node;
  Room: Room;
  SyncSession: SyncSession;
  User: User;
}>;

/** Mapping of federation reference types */
export type FederationReferenceTypes = ResolversObject<{
  Node: { __typename: 'Node' } & GraphQLRecursivePick<FederationTypes['Node'], { id: true }>;
  Room: { __typename: 'Room' } & GraphQLRecursivePick<FederationTypes['Room'], { id: true }>;
  SyncSession: { __typename: 'SyncSession' } & GraphQLRecursivePick<
    FederationTypes['SyncSession'],
    { id: true }
  >;
  User: { __typename: 'User' } & GraphQLRecursivePick<FederationTypes['User'], { id: true }>;
}>;

/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = ResolversObject<{
  AuthPayload: ResolverTypeWrapper<Omit<AuthPayload, 'user'> & { user: ResolversTypes['User'] }>;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  DateTime: ResolverTypeWrapper<Scalars['DateTime']['output']>;
  DistributedMessage: ResolverTypeWrapper<DistributedMessageRow>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  DistributedMessageConnection: ResolverTypeWrapper<
    Omit<DistributedMessageConnection, 'edges'> & {
      edges: Array<ResolversTypes['DistributedMessageEdge']>;
    }
  >;
  DistributedMessageEdge: ResolverTypeWrapper<
    Omit<DistributedMessageEdge, 'node'> & { node: ResolversTypes['DistributedMessage'] }
  >;
  MessageSyncLog: ResolverTypeWrapper<MessageSyncLogRow>;
  MessageSyncLogConnection: ResolverTypeWrapper<
    Omit<MessageSyncLogConnection, 'edges'> & { edges: Array<ResolversTypes['MessageSyncLogEdge']> }
  >;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  MessageSyncLogEdge: ResolverTypeWrapper<
    Omit<MessageSyncLogEdge, 'node'> & { node: ResolversTypes['MessageSyncLog'] }
  >;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Node: ResolverTypeWrapper<NodeRow>;
  Float: ResolverTypeWrapper<Scalars['Float']['output']>;
  NodeRegistration: ResolverTypeWrapper<
    Omit<NodeRegistration, 'node'> & { node: ResolversTypes['Node'] }
  >;
  NodeStatus: NodeStatus;
  PageInfo: ResolverTypeWrapper<PageInfo>;
  QuarantinedVersion: ResolverTypeWrapper<QuarantinedVersionRow>;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  ReplicationBucket: ResolverTypeWrapper<ReplicationBucket>;
  ReplicationPairStats: ResolverTypeWrapper<ReplicationPairView>;
  ReplicationStats: ResolverTypeWrapper<ReplicationStatsView>;
  Role: Role;
  Room: ResolverTypeWrapper<RoomRow>;
  RoomVisibility: RoomVisibility;
  Subscription: ResolverTypeWrapper<Record<PropertyKey, never>>;
  SyncAction: SyncAction;
  SyncPair: ResolverTypeWrapper<SyncPairView>;
  SyncSession: ResolverTypeWrapper<SyncSessionRow>;
  SyncStatus: SyncStatus;
  SyncTrigger: SyncTrigger;
  SyncType: SyncType;
  User: ResolverTypeWrapper<UserRow>;
}>;

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = ResolversObject<{
  AuthPayload: Omit<AuthPayload, 'user'> & { user: ResolversParentTypes['User'] };
  String: Scalars['String']['output'];
  DateTime: Scalars['DateTime']['output'];
  DistributedMessage: DistributedMessageRow;
  Boolean: Scalars['Boolean']['output'];
  ID: Scalars['ID']['output'];
  DistributedMessageConnection: Omit<DistributedMessageConnection, 'edges'> & {
    edges: Array<ResolversParentTypes['DistributedMessageEdge']>;
  };
  DistributedMessageEdge: Omit<DistributedMessageEdge, 'node'> & {
    node: ResolversParentTypes['DistributedMessage'];
  };
  MessageSyncLog: MessageSyncLogRow;
  MessageSyncLogConnection: Omit<MessageSyncLogConnection, 'edges'> & {
    edges: Array<ResolversParentTypes['MessageSyncLogEdge']>;
  };
  Int: Scalars['Int']['output'];
  MessageSyncLogEdge: Omit<MessageSyncLogEdge, 'node'> & {
    node: ResolversParentTypes['MessageSyncLog'];
  };
  Mutation: Record<PropertyKey, never>;
  Node: NodeRow;
  Float: Scalars['Float']['output'];
  NodeRegistration: Omit<NodeRegistration, 'node'> & { node: ResolversParentTypes['Node'] };
  PageInfo: PageInfo;
  QuarantinedVersion: QuarantinedVersionRow;
  Query: Record<PropertyKey, never>;
  ReplicationBucket: ReplicationBucket;
  ReplicationPairStats: ReplicationPairView;
  ReplicationStats: ReplicationStatsView;
  Room: RoomRow;
  Subscription: Record<PropertyKey, never>;
  SyncPair: SyncPairView;
  SyncSession: SyncSessionRow;
  User: UserRow;
}>;

export type AuthPayloadResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['AuthPayload'] = ResolversParentTypes['AuthPayload'],
> = ResolversObject<{
  token?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  user?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
}>;

export interface DateTimeScalarConfig extends GraphQLScalarTypeConfig<
  ResolversTypes['DateTime'],
  any
> {
  name: 'DateTime';
}

export type DistributedMessageResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['DistributedMessage'] =
    ResolversParentTypes['DistributedMessage'],
> = ResolversObject<{
  contentHash?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  deleted?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  originatingNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  room?: Resolver<ResolversTypes['Room'], ParentType, ContextType>;
  sender?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
  storageNodes?: Resolver<Array<ResolversTypes['Node']>, ParentType, ContextType>;
  updatedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
}>;

export type DistributedMessageConnectionResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['DistributedMessageConnection'] =
    ResolversParentTypes['DistributedMessageConnection'],
> = ResolversObject<{
  edges?: Resolver<Array<ResolversTypes['DistributedMessageEdge']>, ParentType, ContextType>;
  pageInfo?: Resolver<ResolversTypes['PageInfo'], ParentType, ContextType>;
}>;

export type DistributedMessageEdgeResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['DistributedMessageEdge'] =
    ResolversParentTypes['DistributedMessageEdge'],
> = ResolversObject<{
  cursor?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  node?: Resolver<ResolversTypes['DistributedMessage'], ParentType, ContextType>;
}>;

export type MessageSyncLogResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['MessageSyncLog'] =
    ResolversParentTypes['MessageSyncLog'],
> = ResolversObject<{
  action?: Resolver<ResolversTypes['SyncAction'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  messageId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  syncedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
}>;

export type MessageSyncLogConnectionResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['MessageSyncLogConnection'] =
    ResolversParentTypes['MessageSyncLogConnection'],
> = ResolversObject<{
  edges?: Resolver<Array<ResolversTypes['MessageSyncLogEdge']>, ParentType, ContextType>;
  pageInfo?: Resolver<ResolversTypes['PageInfo'], ParentType, ContextType>;
  totalCount?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
}>;

export type MessageSyncLogEdgeResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['MessageSyncLogEdge'] =
    ResolversParentTypes['MessageSyncLogEdge'],
> = ResolversObject<{
  cursor?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  node?: Resolver<ResolversTypes['MessageSyncLog'], ParentType, ContextType>;
}>;

export type MutationResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation'],
> = ResolversObject<{
  createRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationCreateRoomArgs, 'name' | 'visibility'>
  >;
  createUser?: Resolver<
    ResolversTypes['User'],
    ParentType,
    ContextType,
    RequireFields<MutationCreateUserArgs, 'password' | 'role' | 'username'>
  >;
  inviteToRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationInviteToRoomArgs, 'roomId' | 'userId'>
  >;
  joinRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationJoinRoomArgs, 'roomId'>
  >;
  leaveRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationLeaveRoomArgs, 'roomId'>
  >;
  login?: Resolver<
    ResolversTypes['AuthPayload'],
    ParentType,
    ContextType,
    RequireFields<MutationLoginArgs, 'password' | 'username'>
  >;
  openDirectRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationOpenDirectRoomArgs, 'userId'>
  >;
  registerNode?: Resolver<
    ResolversTypes['NodeRegistration'],
    ParentType,
    ContextType,
    RequireFields<MutationRegisterNodeArgs, 'name' | 'url'>
  >;
  removeFromRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationRemoveFromRoomArgs, 'roomId' | 'userId'>
  >;
  removeNode?: Resolver<
    ResolversTypes['Node'],
    ParentType,
    ContextType,
    RequireFields<MutationRemoveNodeArgs, 'nodeId'>
  >;
  rotateNodeApiKey?: Resolver<
    ResolversTypes['NodeRegistration'],
    ParentType,
    ContextType,
    RequireFields<MutationRotateNodeApiKeyArgs, 'nodeId'>
  >;
  triggerSync?: Resolver<
    Array<ResolversTypes['SyncSession']>,
    ParentType,
    ContextType,
    RequireFields<MutationTriggerSyncArgs, 'syncType'>
  >;
  updateNode?: Resolver<
    ResolversTypes['Node'],
    ParentType,
    ContextType,
    RequireFields<MutationUpdateNodeArgs, 'id'>
  >;
  updateRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationUpdateRoomArgs, 'roomId'>
  >;
}>;

export type NodeResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Node'] = ResolversParentTypes['Node'],
  FederationReferenceType extends FederationReferenceTypes['Node'] =
    FederationReferenceTypes['Node'],
> = ResolversObject<{
  __resolveReference?: ReferenceResolver<
    Maybe<ResolversTypes['Node']> | FederationReferenceType,
    FederationReferenceType,
    ContextType
  >;
  autoSyncInterval?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  clockMaxDriftMs?: Resolver<Maybe<ResolversTypes['Int']>, ParentType, ContextType>;
  clockOffsetMs?: Resolver<Maybe<ResolversTypes['Float']>, ParentType, ContextType>;
  clockSkewed?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  lastSeenAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  lastSyncAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  name?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['NodeStatus'], ParentType, ContextType>;
  syncEnabled?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  url?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type NodeRegistrationResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['NodeRegistration'] =
    ResolversParentTypes['NodeRegistration'],
> = ResolversObject<{
  apiKey?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  node?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
}>;

export type PageInfoResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['PageInfo'] = ResolversParentTypes['PageInfo'],
> = ResolversObject<{
  endCursor?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  hasNextPage?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  hasPreviousPage?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  startCursor?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
}>;

export type QuarantinedVersionResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['QuarantinedVersion'] =
    ResolversParentTypes['QuarantinedVersion'],
> = ResolversObject<{
  hlc?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  messageId?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  quarantinedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  reason?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  releasedAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  room?: Resolver<Maybe<ResolversTypes['Room']>, ParentType, ContextType>;
  session?: Resolver<Maybe<ResolversTypes['SyncSession']>, ParentType, ContextType>;
  sourceNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  targetNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
}>;

export type QueryResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query'],
> = ResolversObject<{
  me?: Resolver<Maybe<ResolversTypes['User']>, ParentType, ContextType>;
  messageIndex?: Resolver<
    ResolversTypes['DistributedMessageConnection'],
    ParentType,
    ContextType,
    RequireFields<QueryMessageIndexArgs, 'first' | 'roomId'>
  >;
  node?: Resolver<
    Maybe<ResolversTypes['Node']>,
    ParentType,
    ContextType,
    RequireFields<QueryNodeArgs, 'id'>
  >;
  nodes?: Resolver<Array<ResolversTypes['Node']>, ParentType, ContextType>;
  quarantinedVersions?: Resolver<
    Array<ResolversTypes['QuarantinedVersion']>,
    ParentType,
    ContextType,
    RequireFields<QueryQuarantinedVersionsArgs, 'first' | 'includeReleased'>
  >;
  replicationStats?: Resolver<
    ResolversTypes['ReplicationStats'],
    ParentType,
    ContextType,
    Partial<QueryReplicationStatsArgs>
  >;
  room?: Resolver<
    Maybe<ResolversTypes['Room']>,
    ParentType,
    ContextType,
    RequireFields<QueryRoomArgs, 'id'>
  >;
  rooms?: Resolver<Array<ResolversTypes['Room']>, ParentType, ContextType>;
  syncPairs?: Resolver<Array<ResolversTypes['SyncPair']>, ParentType, ContextType>;
  syncSession?: Resolver<
    Maybe<ResolversTypes['SyncSession']>,
    ParentType,
    ContextType,
    RequireFields<QuerySyncSessionArgs, 'id'>
  >;
  syncSessions?: Resolver<
    Array<ResolversTypes['SyncSession']>,
    ParentType,
    ContextType,
    RequireFields<QuerySyncSessionsArgs, 'last'>
  >;
  user?: Resolver<
    Maybe<ResolversTypes['User']>,
    ParentType,
    ContextType,
    RequireFields<QueryUserArgs, 'id'>
  >;
  users?: Resolver<Array<ResolversTypes['User']>, ParentType, ContextType>;
}>;

export type ReplicationBucketResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['ReplicationBucket'] =
    ResolversParentTypes['ReplicationBucket'],
> = ResolversObject<{
  at?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  lagP50Ms?: Resolver<Maybe<ResolversTypes['Float']>, ParentType, ContextType>;
  lagP99Ms?: Resolver<Maybe<ResolversTypes['Float']>, ParentType, ContextType>;
  lagSamples?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  versions?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  versionsPerSecond?: Resolver<ResolversTypes['Float'], ParentType, ContextType>;
}>;

export type ReplicationPairStatsResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['ReplicationPairStats'] =
    ResolversParentTypes['ReplicationPairStats'],
> = ResolversObject<{
  buckets?: Resolver<Array<ResolversTypes['ReplicationBucket']>, ParentType, ContextType>;
  sourceNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  targetNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
}>;

export type ReplicationStatsResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['ReplicationStats'] =
    ResolversParentTypes['ReplicationStats'],
> = ResolversObject<{
  bucketSeconds?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  pairs?: Resolver<Array<ResolversTypes['ReplicationPairStats']>, ParentType, ContextType>;
  since?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  until?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
}>;

export type RoomResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Room'] = ResolversParentTypes['Room'],
  FederationReferenceType extends FederationReferenceTypes['Room'] =
    FederationReferenceTypes['Room'],
> = ResolversObject<{
  __resolveReference?: ReferenceResolver<
    Maybe<ResolversTypes['Room']> | FederationReferenceType,
    FederationReferenceType,
    ContextType
  >;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  homeNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  isMember?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  members?: Resolver<Array<ResolversTypes['User']>, ParentType, ContextType>;
  name?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  replicaNodes?: Resolver<Array<ResolversTypes['Node']>, ParentType, ContextType>;
  visibility?: Resolver<ResolversTypes['RoomVisibility'], ParentType, ContextType>;
}>;

export type SubscriptionResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Subscription'] = ResolversParentTypes['Subscription'],
> = ResolversObject<{
  nodeStatusChanged?: SubscriptionResolver<
    ResolversTypes['Node'],
    'nodeStatusChanged',
    ParentType,
    ContextType
  >;
  syncSessionUpdated?: SubscriptionResolver<
    ResolversTypes['SyncSession'],
    'syncSessionUpdated',
    ParentType,
    ContextType,
    Partial<SubscriptionSyncSessionUpdatedArgs>
  >;
}>;

export type SyncPairResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['SyncPair'] = ResolversParentTypes['SyncPair'],
> = ResolversObject<{
  activeSession?: Resolver<Maybe<ResolversTypes['SyncSession']>, ParentType, ContextType>;
  behind?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  digestsMatch?: Resolver<Maybe<ResolversTypes['Boolean']>, ParentType, ContextType>;
  lastSyncAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  sourceNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  targetNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
}>;

export type SyncSessionResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['SyncSession'] = ResolversParentTypes['SyncSession'],
  FederationReferenceType extends FederationReferenceTypes['SyncSession'] =
    FederationReferenceTypes['SyncSession'],
> = ResolversObject<{
  __resolveReference?: ReferenceResolver<
    Maybe<ResolversTypes['SyncSession']> | FederationReferenceType,
    FederationReferenceType,
    ContextType
  >;
  completedAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  cursorAfter?: Resolver<Maybe<ResolversTypes['Float']>, ParentType, ContextType>;
  cursorBefore?: Resolver<Maybe<ResolversTypes['Float']>, ParentType, ContextType>;
  digestsMatch?: Resolver<Maybe<ResolversTypes['Boolean']>, ParentType, ContextType>;
  entriesRefused?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  error?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  log?: Resolver<
    ResolversTypes['MessageSyncLogConnection'],
    ParentType,
    ContextType,
    RequireFields<SyncSessionLogArgs, 'first'>
  >;
  messagesChecked?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  messagesQuarantined?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  messagesSynced?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  messagesTotal?: Resolver<Maybe<ResolversTypes['Int']>, ParentType, ContextType>;
  sourceNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  startedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  status?: Resolver<ResolversTypes['SyncStatus'], ParentType, ContextType>;
  syncType?: Resolver<ResolversTypes['SyncType'], ParentType, ContextType>;
  targetNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  trigger?: Resolver<ResolversTypes['SyncTrigger'], ParentType, ContextType>;
}>;

export type UserResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['User'] = ResolversParentTypes['User'],
  FederationReferenceType extends FederationReferenceTypes['User'] =
    FederationReferenceTypes['User'],
> = ResolversObject<{
  __resolveReference?: ReferenceResolver<
    Maybe<ResolversTypes['User']> | FederationReferenceType,
    FederationReferenceType,
    ContextType
  >;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  displayName?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  role?: Resolver<ResolversTypes['Role'], ParentType, ContextType>;
  rooms?: Resolver<Array<ResolversTypes['Room']>, ParentType, ContextType>;
  username?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type Resolvers<ContextType = CentralContext> = ResolversObject<{
  AuthPayload?: AuthPayloadResolvers<ContextType>;
  DateTime?: GraphQLScalarType;
  DistributedMessage?: DistributedMessageResolvers<ContextType>;
  DistributedMessageConnection?: DistributedMessageConnectionResolvers<ContextType>;
  DistributedMessageEdge?: DistributedMessageEdgeResolvers<ContextType>;
  MessageSyncLog?: MessageSyncLogResolvers<ContextType>;
  MessageSyncLogConnection?: MessageSyncLogConnectionResolvers<ContextType>;
  MessageSyncLogEdge?: MessageSyncLogEdgeResolvers<ContextType>;
  Mutation?: MutationResolvers<ContextType>;
  Node?: NodeResolvers<ContextType>;
  NodeRegistration?: NodeRegistrationResolvers<ContextType>;
  PageInfo?: PageInfoResolvers<ContextType>;
  QuarantinedVersion?: QuarantinedVersionResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  ReplicationBucket?: ReplicationBucketResolvers<ContextType>;
  ReplicationPairStats?: ReplicationPairStatsResolvers<ContextType>;
  ReplicationStats?: ReplicationStatsResolvers<ContextType>;
  Room?: RoomResolvers<ContextType>;
  Subscription?: SubscriptionResolvers<ContextType>;
  SyncPair?: SyncPairResolvers<ContextType>;
  SyncSession?: SyncSessionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
}>;
