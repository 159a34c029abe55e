import type { GraphQLResolveInfo, GraphQLScalarType, GraphQLScalarTypeConfig } from 'graphql';
import type { UserRow, RoomRow, NodeRow } from '../db/schema.ts';
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

export type Mutation = {
  __typename?: 'Mutation';
  /**
   * The caller becomes a member. Without homeNodeId: the online node with the fewest rooms.
   * replicaNodeIds: the nodes that keep a copy besides the home node; omitted = every node.
   */
  createRoom: Room;
  /** ADMIN only. */
  createUser: User;
  joinRoom: Room;
  leaveRoom: Room;
  login: AuthPayload;
  /** ADMIN only. The API key is returned once. */
  registerNode: NodeRegistration;
  /** ADMIN only. The old key stops working at once. */
  rotateNodeApiKey: NodeRegistration;
  /** ADMIN only. */
  updateNode: Node;
};

export type MutationCreateRoomArgs = {
  homeNodeId?: InputMaybe<Scalars['ID']['input']>;
  name: Scalars['String']['input'];
  replicaNodeIds?: InputMaybe<Array<Scalars['ID']['input']>>;
};

export type MutationCreateUserArgs = {
  displayName?: InputMaybe<Scalars['String']['input']>;
  password: Scalars['String']['input'];
  role?: InputMaybe<Role>;
  username: Scalars['String']['input'];
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

export type MutationRegisterNodeArgs = {
  name: Scalars['String']['input'];
  url: Scalars['String']['input'];
};

export type MutationRotateNodeApiKeyArgs = {
  nodeId: Scalars['ID']['input'];
};

export type MutationUpdateNodeArgs = {
  autoSyncInterval?: InputMaybe<Scalars['Int']['input']>;
  id: Scalars['ID']['input'];
  syncEnabled?: InputMaybe<Scalars['Boolean']['input']>;
};

export type Node = {
  __typename?: 'Node';
  /** Seconds between scheduled syncs of this node. */
  autoSyncInterval: Scalars['Int']['output'];
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

export type Query = {
  __typename?: 'Query';
  /** The authenticated user, or null without a valid token. */
  me: Maybe<User>;
  node: Maybe<Node>;
  nodes: Array<Node>;
  room: Maybe<Room>;
  /** Rooms the caller may see: every room for an ADMIN, the caller's rooms for a MEMBER. */
  rooms: Array<Room>;
  user: Maybe<User>;
  users: Array<User>;
};

export type QueryNodeArgs = {
  id: Scalars['ID']['input'];
};

export type QueryRoomArgs = {
  id: Scalars['ID']['input'];
};

export type QueryUserArgs = {
  id: Scalars['ID']['input'];
};

export type Role = 'ADMIN' | 'MEMBER';

export type Room = {
  __typename?: 'Room';
  createdAt: Scalars['DateTime']['output'];
  /** The node that takes the room's writes while it is online. */
  homeNode: Node;
  id: Scalars['ID']['output'];
  members: Array<User>;
  name: Scalars['String']['output'];
  /** Every other node that keeps a copy of the room (by default: every registered node). */
  replicaNodes: Array<Node>;
};

export type Subscription = {
  __typename?: 'Subscription';
  /** Every change of a node's status (ONLINE, OFFLINE, DEGRADED). */
  nodeStatusChanged: Node;
};

export type User = {
  __typename?: 'User';
  createdAt: Scalars['DateTime']['output'];
  displayName: Scalars['String']['output'];
  id: Scalars['ID']['output'];
  role: Role;
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
  User: User;
}>;

/** Mapping of federation reference types */
export type FederationReferenceTypes = ResolversObject<{
  Node: { __typename: 'Node' } & GraphQLRecursivePick<FederationTypes['Node'], { id: true }>;
  Room: { __typename: 'Room' } & GraphQLRecursivePick<FederationTypes['Room'], { id: true }>;
  User: { __typename: 'User' } & GraphQLRecursivePick<FederationTypes['User'], { id: true }>;
}>;

/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = ResolversObject<{
  AuthPayload: ResolverTypeWrapper<Omit<AuthPayload, 'user'> & { user: ResolversTypes['User'] }>;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  DateTime: ResolverTypeWrapper<Scalars['DateTime']['output']>;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  Node: ResolverTypeWrapper<NodeRow>;
  NodeRegistration: ResolverTypeWrapper<
    Omit<NodeRegistration, 'node'> & { node: ResolversTypes['Node'] }
  >;
  NodeStatus: NodeStatus;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Role: Role;
  Room: ResolverTypeWrapper<RoomRow>;
  Subscription: ResolverTypeWrapper<Record<PropertyKey, never>>;
  User: ResolverTypeWrapper<UserRow>;
}>;

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = ResolversObject<{
  AuthPayload: Omit<AuthPayload, 'user'> & { user: ResolversParentTypes['User'] };
  String: Scalars['String']['output'];
  DateTime: Scalars['DateTime']['output'];
  Mutation: Record<PropertyKey, never>;
  ID: Scalars['ID']['output'];
  Int: Scalars['Int']['output'];
  Boolean: Scalars['Boolean']['output'];
  Node: NodeRow;
  NodeRegistration: Omit<NodeRegistration, 'node'> & { node: ResolversParentTypes['Node'] };
  Query: Record<PropertyKey, never>;
  Room: RoomRow;
  Subscription: Record<PropertyKey, never>;
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

export type MutationResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation'],
> = ResolversObject<{
  createRoom?: Resolver<
    ResolversTypes['Room'],
    ParentType,
    ContextType,
    RequireFields<MutationCreateRoomArgs, 'name'>
  >;
  createUser?: Resolver<
    ResolversTypes['User'],
    ParentType,
    ContextType,
    RequireFields<MutationCreateUserArgs, 'password' | 'role' | 'username'>
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
  registerNode?: Resolver<
    ResolversTypes['NodeRegistration'],
    ParentType,
    ContextType,
    RequireFields<MutationRegisterNodeArgs, 'name' | 'url'>
  >;
  rotateNodeApiKey?: Resolver<
    ResolversTypes['NodeRegistration'],
    ParentType,
    ContextType,
    RequireFields<MutationRotateNodeApiKeyArgs, 'nodeId'>
  >;
  updateNode?: Resolver<
    ResolversTypes['Node'],
    ParentType,
    ContextType,
    RequireFields<MutationUpdateNodeArgs, 'id'>
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

export type QueryResolvers<
  ContextType = CentralContext,
  ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query'],
> = ResolversObject<{
  me?: Resolver<Maybe<ResolversTypes['User']>, ParentType, ContextType>;
  node?: Resolver<
    Maybe<ResolversTypes['Node']>,
    ParentType,
    ContextType,
    RequireFields<QueryNodeArgs, 'id'>
  >;
  nodes?: Resolver<Array<ResolversTypes['Node']>, ParentType, ContextType>;
  room?: Resolver<
    Maybe<ResolversTypes['Room']>,
    ParentType,
    ContextType,
    RequireFields<QueryRoomArgs, 'id'>
  >;
  rooms?: Resolver<Array<ResolversTypes['Room']>, ParentType, ContextType>;
  user?: Resolver<
    Maybe<ResolversTypes['User']>,
    ParentType,
    ContextType,
    RequireFields<QueryUserArgs, 'id'>
  >;
  users?: Resolver<Array<ResolversTypes['User']>, ParentType, ContextType>;
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
  members?: Resolver<Array<ResolversTypes['User']>, ParentType, ContextType>;
  name?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  replicaNodes?: Resolver<Array<ResolversTypes['Node']>, ParentType, ContextType>;
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
  username?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type Resolvers<ContextType = CentralContext> = ResolversObject<{
  AuthPayload?: AuthPayloadResolvers<ContextType>;
  DateTime?: GraphQLScalarType;
  Mutation?: MutationResolvers<ContextType>;
  Node?: NodeResolvers<ContextType>;
  NodeRegistration?: NodeRegistrationResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  Room?: RoomResolvers<ContextType>;
  Subscription?: SubscriptionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
}>;
