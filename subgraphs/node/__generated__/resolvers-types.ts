import type { GraphQLResolveInfo, GraphQLScalarType, GraphQLScalarTypeConfig } from 'graphql';
import type { MessageRow } from '../db/schema.ts';
import type { EntityRef } from '../types.ts';
import type { NodeContext } from '../context.ts';
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

export type Message = {
  __typename?: 'Message';
  /** Empty once the message is deleted. */
  content: Scalars['String']['output'];
  /** Lowercase hex SHA-256 of `content`. */
  contentHash: Scalars['String']['output'];
  createdAt: Scalars['DateTime']['output'];
  /** Set when the message was deleted; the row stays as a tombstone. */
  deletedAt: Maybe<Scalars['DateTime']['output']>;
  /**
   * The Hybrid Logical Clock of this version (`<15-digit ms>:<8-digit counter>:<node id>`): of two
   * versions of a message, the greater one wins. For the gateway and sync, not for clients.
   */
  hlc: Scalars['String']['output'];
  /** UUIDv7: globally unique and sortable by creation time. */
  id: Scalars['ID']['output'];
  /**
   * The last time a node sent this version to a peer, on the sender's clock; null until the first
   * send (a new version, e.g. an edit, starts null). The receiver keeps the time that came with the
   * version and the sender records the same time when the send is acknowledged.
   */
  lastSyncAttempt: Maybe<Scalars['DateTime']['output']>;
  /** The node the message was first posted on. */
  originNode: Node;
  room: Room;
  sender: User;
  /**
   * Whether another storage node holds this version. Both copies of a version that one node sent
   * another read the same once the sender has the receiver's acknowledgement (milliseconds).
   */
  syncStatus: MessageSyncStatus;
  updatedAt: Scalars['DateTime']['output'];
};

export type MessageConnection = {
  __typename?: 'MessageConnection';
  edges: Array<MessageEdge>;
  pageInfo: PageInfo;
};

export type MessageEdge = {
  __typename?: 'MessageEdge';
  /** Opaque; pass it to `after` or `before`. */
  cursor: Scalars['String']['output'];
  node: Message;
};

export type MessageSearchConnection = {
  __typename?: 'MessageSearchConnection';
  edges: Array<MessageSearchEdge>;
  pageInfo: PageInfo;
  /** Hits in all the rooms searched, as the nodes that answered counted them (an estimate: a room hedged to two nodes counts twice). */
  totalCount: Scalars['Int']['output'];
};

/** One search hit (docs/search.md). */
export type MessageSearchEdge = {
  __typename?: 'MessageSearchEdge';
  /** Opaque; pass it to `after` for the hits that follow. */
  cursor: Scalars['String']['output'];
  /** Where the query matched. */
  highlights: Array<SearchHighlight>;
  node: Message;
  /** bm25 relevance on the node that answered: lower is more relevant. */
  score: Scalars['Float']['output'];
};

/** Whether another storage node holds this version of a message (docs/sync.md, Per-message sync fields). */
export type MessageSyncStatus =
  /**
   * A peer refused this version and quarantined it instead of holding it; the reason is in
   * central's `quarantinedVersions` (ADMIN). A newer version of the message starts PENDING again.
   */
  | 'FAILED'
  /** No other storage node is known to hold this version yet. */
  | 'PENDING'
  /** Another storage node holds this version: it acknowledged it, or this copy came from one. */
  | 'SYNCED';

export type Mutation = {
  __typename?: 'Mutation';
  /** The sender or an ADMIN; leaves a tombstone (empty content, `deletedAt` set). Retry-safe: deleting a tombstone returns it. */
  deleteMessage: Message;
  /** Only the sender may edit. Retry-safe: an edit to the current content writes nothing and returns the current version. */
  editMessage: Message;
  /**
   * The sender is the authenticated user, who must be a member of the room. Retry-safe with the
   * same key: `clientMessageId` is a UUIDv7 the client makes once per message (its time becomes the
   * message's place in the room); a retry with it, on any node, returns the message the first
   * attempt made and never a second one (CONFLICT if the content differs). docs/api.md, Retry-safe
   * writes.
   */
  postMessage: Message;
};

export type MutationDeleteMessageArgs = {
  id: Scalars['ID']['input'];
};

export type MutationEditMessageArgs = {
  content: Scalars['String']['input'];
  id: Scalars['ID']['input'];
};

export type MutationPostMessageArgs = {
  clientMessageId?: InputMaybe<Scalars['ID']['input']>;
  content: Scalars['String']['input'];
  roomId: Scalars['ID']['input'];
};

/** Owned by central; a node only refers to nodes by id. */
export type Node = {
  __typename?: 'Node';
  id: Scalars['ID']['output'];
};

export type PageInfo = {
  __typename?: 'PageInfo';
  endCursor: Maybe<Scalars['String']['output']>;
  hasNextPage: Scalars['Boolean']['output'];
  hasPreviousPage: Scalars['Boolean']['output'];
  startCursor: Maybe<Scalars['String']['output']>;
};

export type Query = {
  __typename?: 'Query';
  /** A message of a room the caller belongs to (any room for an ADMIN); null when this node has no such message. */
  message: Maybe<Message>;
  /**
   * Searches the messages of every room the caller is a member of (or of the `roomIds` given, each
   * of them one of the caller's rooms), most relevant first, then newest (docs/search.md). Query
   * syntax: words, "phrases", prefix*, from:username, in:roomname, before:/after: dates. At most
   * 256 characters, 16 terms, 500 rooms, `first` 1..100 (BAD_USER_INPUT beyond). Rooms whose nodes
   * did not answer are left out, with a NODE_UNAVAILABLE error naming them (`extensions.roomIds`).
   */
  searchMessages: MessageSearchConnection;
};

export type QueryMessageArgs = {
  id: Scalars['ID']['input'];
};

export type QuerySearchMessagesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  query: Scalars['String']['input'];
  roomIds?: InputMaybe<Array<Scalars['ID']['input']>>;
  senderIds?: InputMaybe<Array<Scalars['ID']['input']>>;
};

export type Room = {
  __typename?: 'Room';
  id: Scalars['ID']['output'];
  /**
   * The room's messages on this node, oldest to newest, tombstones included. Without `first` or
   * `after` this pages backwards from the newest (`last`, `before`); with either of them it pages
   * forwards. At most 500 per page. Null (with a NODE_UNAVAILABLE error) when no node storing the
   * room answered, so that the rest of a response stays intact. includeDeleted: false leaves
   * tombstones out (page sizes, page info and cursors then count only the messages shown).
   */
  messages: Maybe<MessageConnection>;
};

export type RoomMessagesArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  before?: InputMaybe<Scalars['String']['input']>;
  first?: InputMaybe<Scalars['Int']['input']>;
  includeDeleted?: InputMaybe<Scalars['Boolean']['input']>;
  last?: InputMaybe<Scalars['Int']['input']>;
};

export type SearchHighlight = {
  __typename?: 'SearchHighlight';
  /** The message field matched: `content`. */
  field: Scalars['String']['output'];
  /** The matches inside `snippet`, in UTF-16 units as JavaScript strings count. */
  matches: Array<SearchMatch>;
  /** An excerpt of the field around the matches (`…` where text was cut). */
  snippet: Scalars['String']['output'];
};

export type SearchMatch = {
  __typename?: 'SearchMatch';
  length: Scalars['Int']['output'];
  start: Scalars['Int']['output'];
};

export type Subscription = {
  __typename?: 'Subscription';
  /**
   * Every message that lands on this node: posted here or applied by sync. With `after` (the id of
   * the last message the client saw, or a `Room.messages` cursor), the room's messages after it
   * come first, oldest to newest, then live ones, with nothing missed or repeated in between: how a
   * client that reconnects resumes. At most 10000 messages are replayed; page further back with
   * `Room.messages`.
   */
  messageAdded: Message;
  /** Edits and deletes. */
  messageChanged: Message;
};

export type SubscriptionMessageAddedArgs = {
  after?: InputMaybe<Scalars['String']['input']>;
  roomId: Scalars['ID']['input'];
};

export type SubscriptionMessageChangedArgs = {
  roomId: Scalars['ID']['input'];
};

/** Owned by central; a node only refers to users by id. */
export type User = {
  __typename?: 'User';
  id: Scalars['ID']['output'];
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
  Message: Message;
  Room: Room;
}>;

/** Mapping of federation reference types */
export type FederationReferenceTypes = ResolversObject<{
  Message: { __typename: 'Message' } & GraphQLRecursivePick<
    FederationTypes['Message'],
    { id: true }
  >;
  Room: { __typename: 'Room' } & GraphQLRecursivePick<FederationTypes['Room'], { id: true }>;
}>;

/** Mapping between all available schema types and the resolvers types */
export type ResolversTypes = ResolversObject<{
  DateTime: ResolverTypeWrapper<Scalars['DateTime']['output']>;
  Message: ResolverTypeWrapper<MessageRow>;
  String: ResolverTypeWrapper<Scalars['String']['output']>;
  ID: ResolverTypeWrapper<Scalars['ID']['output']>;
  MessageConnection: ResolverTypeWrapper<
    Omit<MessageConnection, 'edges'> & { edges: Array<ResolversTypes['MessageEdge']> }
  >;
  MessageEdge: ResolverTypeWrapper<Omit<MessageEdge, 'node'> & { node: ResolversTypes['Message'] }>;
  MessageSearchConnection: ResolverTypeWrapper<
    Omit<MessageSearchConnection, 'edges'> & { edges: Array<ResolversTypes['MessageSearchEdge']> }
  >;
  Int: ResolverTypeWrapper<Scalars['Int']['output']>;
  MessageSearchEdge: ResolverTypeWrapper<
    Omit<MessageSearchEdge, 'node'> & { node: ResolversTypes['Message'] }
  >;
  Float: ResolverTypeWrapper<Scalars['Float']['output']>;
  MessageSyncStatus: MessageSyncStatus;
  Mutation: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Node: ResolverTypeWrapper<EntityRef>;
  PageInfo: ResolverTypeWrapper<PageInfo>;
  Boolean: ResolverTypeWrapper<Scalars['Boolean']['output']>;
  Query: ResolverTypeWrapper<Record<PropertyKey, never>>;
  Room: ResolverTypeWrapper<EntityRef>;
  SearchHighlight: ResolverTypeWrapper<SearchHighlight>;
  SearchMatch: ResolverTypeWrapper<SearchMatch>;
  Subscription: ResolverTypeWrapper<Record<PropertyKey, never>>;
  User: ResolverTypeWrapper<EntityRef>;
}>;

/** Mapping between all available schema types and the resolvers parents */
export type ResolversParentTypes = ResolversObject<{
  DateTime: Scalars['DateTime']['output'];
  Message: MessageRow;
  String: Scalars['String']['output'];
  ID: Scalars['ID']['output'];
  MessageConnection: Omit<MessageConnection, 'edges'> & {
    edges: Array<ResolversParentTypes['MessageEdge']>;
  };
  MessageEdge: Omit<MessageEdge, 'node'> & { node: ResolversParentTypes['Message'] };
  MessageSearchConnection: Omit<MessageSearchConnection, 'edges'> & {
    edges: Array<ResolversParentTypes['MessageSearchEdge']>;
  };
  Int: Scalars['Int']['output'];
  MessageSearchEdge: Omit<MessageSearchEdge, 'node'> & { node: ResolversParentTypes['Message'] };
  Float: Scalars['Float']['output'];
  Mutation: Record<PropertyKey, never>;
  Node: EntityRef;
  PageInfo: PageInfo;
  Boolean: Scalars['Boolean']['output'];
  Query: Record<PropertyKey, never>;
  Room: EntityRef;
  SearchHighlight: SearchHighlight;
  SearchMatch: SearchMatch;
  Subscription: Record<PropertyKey, never>;
  User: EntityRef;
}>;

export interface DateTimeScalarConfig extends GraphQLScalarTypeConfig<
  ResolversTypes['DateTime'],
  any
> {
  name: 'DateTime';
}

export type MessageResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['Message'] = ResolversParentTypes['Message'],
  FederationReferenceType extends FederationReferenceTypes['Message'] =
    FederationReferenceTypes['Message'],
> = ResolversObject<{
  __resolveReference?: ReferenceResolver<
    Maybe<ResolversTypes['Message']> | FederationReferenceType,
    FederationReferenceType,
    ContextType
  >;
  content?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  contentHash?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  createdAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
  deletedAt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  hlc?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  lastSyncAttempt?: Resolver<Maybe<ResolversTypes['DateTime']>, ParentType, ContextType>;
  originNode?: Resolver<ResolversTypes['Node'], ParentType, ContextType>;
  room?: Resolver<ResolversTypes['Room'], ParentType, ContextType>;
  sender?: Resolver<ResolversTypes['User'], ParentType, ContextType>;
  syncStatus?: Resolver<ResolversTypes['MessageSyncStatus'], ParentType, ContextType>;
  updatedAt?: Resolver<ResolversTypes['DateTime'], ParentType, ContextType>;
}>;

export type MessageConnectionResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['MessageConnection'] =
    ResolversParentTypes['MessageConnection'],
> = ResolversObject<{
  edges?: Resolver<Array<ResolversTypes['MessageEdge']>, ParentType, ContextType>;
  pageInfo?: Resolver<ResolversTypes['PageInfo'], ParentType, ContextType>;
}>;

export type MessageEdgeResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['MessageEdge'] = ResolversParentTypes['MessageEdge'],
> = ResolversObject<{
  cursor?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  node?: Resolver<ResolversTypes['Message'], ParentType, ContextType>;
}>;

export type MessageSearchConnectionResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['MessageSearchConnection'] =
    ResolversParentTypes['MessageSearchConnection'],
> = ResolversObject<{
  edges?: Resolver<Array<ResolversTypes['MessageSearchEdge']>, ParentType, ContextType>;
  pageInfo?: Resolver<ResolversTypes['PageInfo'], ParentType, ContextType>;
  totalCount?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
}>;

export type MessageSearchEdgeResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['MessageSearchEdge'] =
    ResolversParentTypes['MessageSearchEdge'],
> = ResolversObject<{
  cursor?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  highlights?: Resolver<Array<ResolversTypes['SearchHighlight']>, ParentType, ContextType>;
  node?: Resolver<ResolversTypes['Message'], ParentType, ContextType>;
  score?: Resolver<ResolversTypes['Float'], ParentType, ContextType>;
}>;

export type MutationResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['Mutation'] = ResolversParentTypes['Mutation'],
> = ResolversObject<{
  deleteMessage?: Resolver<
    ResolversTypes['Message'],
    ParentType,
    ContextType,
    RequireFields<MutationDeleteMessageArgs, 'id'>
  >;
  editMessage?: Resolver<
    ResolversTypes['Message'],
    ParentType,
    ContextType,
    RequireFields<MutationEditMessageArgs, 'content' | 'id'>
  >;
  postMessage?: Resolver<
    ResolversTypes['Message'],
    ParentType,
    ContextType,
    RequireFields<MutationPostMessageArgs, 'content' | 'roomId'>
  >;
}>;

export type NodeResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['Node'] = ResolversParentTypes['Node'],
> = ResolversObject<{
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
}>;

export type PageInfoResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['PageInfo'] = ResolversParentTypes['PageInfo'],
> = ResolversObject<{
  endCursor?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
  hasNextPage?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  hasPreviousPage?: Resolver<ResolversTypes['Boolean'], ParentType, ContextType>;
  startCursor?: Resolver<Maybe<ResolversTypes['String']>, ParentType, ContextType>;
}>;

export type QueryResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['Query'] = ResolversParentTypes['Query'],
> = ResolversObject<{
  message?: Resolver<
    Maybe<ResolversTypes['Message']>,
    ParentType,
    ContextType,
    RequireFields<QueryMessageArgs, 'id'>
  >;
  searchMessages?: Resolver<
    ResolversTypes['MessageSearchConnection'],
    ParentType,
    ContextType,
    RequireFields<QuerySearchMessagesArgs, 'first' | 'query'>
  >;
}>;

export type RoomResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['Room'] = ResolversParentTypes['Room'],
  FederationReferenceType extends FederationReferenceTypes['Room'] =
    FederationReferenceTypes['Room'],
> = ResolversObject<{
  __resolveReference?: ReferenceResolver<
    Maybe<ResolversTypes['Room']> | FederationReferenceType,
    FederationReferenceType,
    ContextType
  >;
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
  messages?: Resolver<
    Maybe<ResolversTypes['MessageConnection']>,
    ParentType,
    ContextType,
    RequireFields<RoomMessagesArgs, 'includeDeleted' | 'last'>
  >;
}>;

export type SearchHighlightResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['SearchHighlight'] =
    ResolversParentTypes['SearchHighlight'],
> = ResolversObject<{
  field?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
  matches?: Resolver<Array<ResolversTypes['SearchMatch']>, ParentType, ContextType>;
  snippet?: Resolver<ResolversTypes['String'], ParentType, ContextType>;
}>;

export type SearchMatchResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['SearchMatch'] = ResolversParentTypes['SearchMatch'],
> = ResolversObject<{
  length?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
  start?: Resolver<ResolversTypes['Int'], ParentType, ContextType>;
}>;

export type SubscriptionResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['Subscription'] = ResolversParentTypes['Subscription'],
> = ResolversObject<{
  messageAdded?: SubscriptionResolver<
    ResolversTypes['Message'],
    'messageAdded',
    ParentType,
    ContextType,
    RequireFields<SubscriptionMessageAddedArgs, 'roomId'>
  >;
  messageChanged?: SubscriptionResolver<
    ResolversTypes['Message'],
    'messageChanged',
    ParentType,
    ContextType,
    RequireFields<SubscriptionMessageChangedArgs, 'roomId'>
  >;
}>;

export type UserResolvers<
  ContextType = NodeContext,
  ParentType extends ResolversParentTypes['User'] = ResolversParentTypes['User'],
> = ResolversObject<{
  id?: Resolver<ResolversTypes['ID'], ParentType, ContextType>;
}>;

export type Resolvers<ContextType = NodeContext> = ResolversObject<{
  DateTime?: GraphQLScalarType;
  Message?: MessageResolvers<ContextType>;
  MessageConnection?: MessageConnectionResolvers<ContextType>;
  MessageEdge?: MessageEdgeResolvers<ContextType>;
  MessageSearchConnection?: MessageSearchConnectionResolvers<ContextType>;
  MessageSearchEdge?: MessageSearchEdgeResolvers<ContextType>;
  Mutation?: MutationResolvers<ContextType>;
  Node?: NodeResolvers<ContextType>;
  PageInfo?: PageInfoResolvers<ContextType>;
  Query?: QueryResolvers<ContextType>;
  Room?: RoomResolvers<ContextType>;
  SearchHighlight?: SearchHighlightResolvers<ContextType>;
  SearchMatch?: SearchMatchResolvers<ContextType>;
  Subscription?: SubscriptionResolvers<ContextType>;
  User?: UserResolvers<ContextType>;
}>;
