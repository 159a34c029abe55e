// Central's tables (Postgres dialect; the same schema runs on PGlite and real PostgreSQL).
// Migrations in ../migrations are generated from this file with `npm run db:generate`.
import { isNull, sql } from 'drizzle-orm';
import {
  bigint,
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from 'drizzle-orm/pg-core';

export const roleEnum = pgEnum('role', ['ADMIN', 'MEMBER']);
export const nodeStatusEnum = pgEnum('node_status', ['ONLINE', 'OFFLINE', 'DEGRADED']);
export const roomVisibilityEnum = pgEnum('room_visibility', ['PUBLIC', 'PRIVATE']);

const createdAt = () => timestamp('created_at', { withTimezone: true }).notNull().defaultNow();

export const users = pgTable('users', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  displayName: text('display_name').notNull(),
  passwordHash: text('password_hash').notNull(),
  role: roleEnum('role').notNull().default('MEMBER'),
  createdAt: createdAt(),
});

export const nodes = pgTable('nodes', {
  id: text('id').primaryKey(),
  name: text('name').notNull().unique(),
  url: text('url').notNull(),
  apiKeyHash: text('api_key_hash').notNull().unique(),
  status: nodeStatusEnum('status').notNull().default('OFFLINE'),
  lastSeenAt: timestamp('last_seen_at', { withTimezone: true }),
  lastSyncAt: timestamp('last_sync_at', { withTimezone: true }),
  syncEnabled: boolean('sync_enabled').notNull().default(true),
  autoSyncInterval: integer('auto_sync_interval').notNull().default(300),
  /**
   * Set by removeNode. The row stays (messages it took still name it as their origin) but the node
   * stores nothing, is routed to by no one and its API key no longer authenticates.
   */
  removedAt: timestamp('removed_at', { withTimezone: true }),
  /**
   * The node's clock against central's as it last reported it on a heartbeat (central's minus the
   * node's, ms; null until it has measured one) and the bound it holds itself to: beyond it the
   * node refuses writes, and the dashboard raises its clock-skew alert.
   */
  clockOffsetMs: doublePrecision('clock_offset_ms'),
  clockMaxDriftMs: integer('clock_max_drift_ms'),
  createdAt: createdAt(),
});

/** The nodes that take part in the cluster: every registered node not removed. */
export const activeNode = isNull(nodes.removedAt);

export const rooms = pgTable(
  'rooms',
  {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    homeNodeId: text('home_node_id')
      .notNull()
      .references(() => nodes.id),
    /** The nodes that keep a copy besides the home node; null = every registered node. */
    replicaNodeIds: text('replica_node_ids').array(),
    /**
     * Nodes that stored the room and left it (updateRoom, removeNode): messages first posted on
     * them stay valid origins when a node receives them by sync later.
     */
    formerHolderIds: text('former_holder_ids')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    createdBy: text('created_by').references(() => users.id),
    /** PRIVATE rooms are seen, joined and read by their members (and ADMINs) only. */
    visibility: roomVisibilityEnum('visibility').notNull().default('PUBLIC'),
    /**
     * A direct conversation's two user ids, sorted and joined by ':'; null for every other room.
     * Unique, so concurrent openDirectRoom calls for one pair cannot make two rooms.
     */
    directPairKey: text('direct_pair_key').unique(),
    createdAt: createdAt(),
  },
  (t) => [index('rooms_home_node_idx').on(t.homeNodeId)],
);

export const roomMembers = pgTable(
  'room_members',
  {
    roomId: text('room_id')
      .notNull()
      .references(() => rooms.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ columns: [t.roomId, t.userId] }),
    index('room_members_user_idx').on(t.userId),
  ],
);

/**
 * Who was a member of which room when: one row per membership, closed (left_at) on leave, written
 * in the transaction that changes room_members. Nodes ask it whether a synced message's sender
 * could post in its room when the message was made. Older than the table (setting
 * `membership_history_since`) there is no history.
 */
export const roomMembershipHistory = pgTable(
  'room_membership_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    roomId: text('room_id')
      .notNull()
      .references(() => rooms.id, { onDelete: 'cascade' }),
    userId: text('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    joinedAt: timestamp('joined_at', { withTimezone: true }).notNull().defaultNow(),
    leftAt: timestamp('left_at', { withTimezone: true }),
  },
  (t) => [index('room_membership_history_room_user_idx').on(t.roomId, t.userId, t.joinedAt)],
);

/**
 * Password evaluations that have not succeeded: a row is written, under advisory locks, before the
 * hash is computed (a reservation), and deleted only when the password was right. So a row is a
 * failed login or one still being evaluated, and both count against the limits: concurrent
 * attempts cannot all see room under a limit. In the database so that every central replica counts
 * the same attempts and a restart forgets none. `address` is '' when the client's is unknown.
 */
export const loginAttempts = pgTable(
  'login_attempts',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    username: text('username').notNull(),
    address: text('address').notNull(),
    at: timestamp('at', { withTimezone: true, mode: 'date' }).notNull(),
  },
  (t) => [
    index('login_attempts_username_address_at_idx').on(t.username, t.address, t.at),
    index('login_attempts_address_at_idx').on(t.address, t.at),
    index('login_attempts_at_idx').on(t.at),
  ],
);

/** Small key/value state shared by every central replica (e.g. the token signing key). */
export const settings = pgTable('settings', {
  key: text('key').primaryKey(),
  value: jsonb('value').notNull(),
  updatedAt: timestamp('updated_at', { withTimezone: true })
    .notNull()
    .default(sql`now()`),
});

/**
 * Gateways' public signing keys (their assertions to nodes): each gateway makes a key pair at
 * start and renews its row every minute; central serves the keys renewed in the last 10 min.
 * In the database so that every central replica serves the same set.
 */
export const gatewayKeys = pgTable(
  'gateway_keys',
  {
    kid: text('kid').primaryKey(),
    publicJwk: jsonb('public_jwk').notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true, mode: 'date' }).notNull(),
    createdAt: createdAt(),
  },
  (t) => [index('gateway_keys_last_seen_idx').on(t.lastSeenAt)],
);

export const syncStatusEnum = pgEnum('sync_status', [
  'PENDING',
  'IN_PROGRESS',
  'COMPLETED',
  'FAILED',
]);
export const syncTypeEnum = pgEnum('sync_type', ['FULL', 'INCREMENTAL']);
export const syncTriggerEnum = pgEnum('sync_trigger', ['SCHEDULE', 'CHANGE', 'MANUAL']);
export const syncActionEnum = pgEnum('sync_action', ['CREATE', 'UPDATE', 'DELETE']);

/**
 * One pull of a pair: the target fetches the source's changes after its cursor. A pair has at most
 * one PENDING and at most one IN_PROGRESS session (the two partial unique indexes): requests
 * coalesce into the PENDING one, which waits for the running one to end. The indexes make that hold
 * with several central replicas too.
 */
export const syncSessions = pgTable(
  'sync_sessions',
  {
    id: text('id').primaryKey(),
    sourceNodeId: text('source_node_id')
      .notNull()
      .references(() => nodes.id),
    targetNodeId: text('target_node_id')
      .notNull()
      .references(() => nodes.id),
    status: syncStatusEnum('status').notNull().default('PENDING'),
    syncType: syncTypeEnum('sync_type').notNull(),
    trigger: syncTriggerEnum('trigger').notNull(),
    /** Versions the target applied (that changed it). */
    messagesSynced: integer('messages_synced').notNull().default(0),
    /** Versions the target examined: applied, already held, or quarantined. */
    messagesChecked: integer('messages_checked').notNull().default(0),
    messagesTotal: integer('messages_total'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    /** When the job was sent to the target (IN_PROGRESS); null while it waits. */
    dispatchedAt: timestamp('dispatched_at', { withTimezone: true }),
    completedAt: timestamp('completed_at', { withTimezone: true }),
    error: text('error'),
    cursorBefore: bigint('cursor_before', { mode: 'number' }),
    cursorAfter: bigint('cursor_after', { mode: 'number' }),
    digestsMatch: boolean('digests_match'),
    /**
     * The rooms the job named (both nodes stored them when it was sent): the only rooms central
     * believes the session's reports about. Null until dispatched.
     */
    roomIds: text('room_ids').array(),
    /** Versions the target refused and kept aside in this session (from its reports). */
    messagesQuarantined: integer('messages_quarantined').notNull().default(0),
    /** Report entries central refused: outside the session's scope, or rewriting an indexed message. */
    entriesRefused: integer('entries_refused').notNull().default(0),
    /**
     * A window of live replication (sync/liveReport.ts): the sequence of the last report recorded
     * (a retry of it records nothing). Null for the sessions central schedules and dispatches.
     */
    liveReportSeq: integer('live_report_seq'),
    /**
     * A scheduled session: the sequence of the last report recorded that carried one (a repeat of
     * it or of an earlier one records nothing). Null until such a report; reports of older nodes
     * carry none.
     */
    reportSeq: integer('report_seq'),
    /**
     * The central instance (central_instances.id) that sent the job: while its lease runs no other
     * central fails the session. Null for live windows (their target drives them) and for sessions
     * dispatched before owners existed (an unknown owner counts as dead).
     */
    ownerInstanceId: text('owner_instance_id'),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('sync_sessions_started_idx').on(t.startedAt, t.id),
    index('sync_sessions_target_status_idx').on(t.targetNodeId, t.status),
    index('sync_sessions_source_idx').on(t.sourceNodeId, t.startedAt),
    // replicationStats finds the sessions a recent window's log rows belong to by it.
    index('sync_sessions_updated_idx').on(t.updatedAt),
    uniqueIndex('sync_sessions_one_pending_per_pair')
      .on(t.sourceNodeId, t.targetNodeId)
      .where(sql`${t.status} = 'PENDING'`),
    // Live windows run beside the pair's scheduled sessions: they coalesce nothing.
    uniqueIndex('sync_sessions_one_running_per_pair')
      .on(t.sourceNodeId, t.targetNodeId)
      .where(sql`${t.status} = 'IN_PROGRESS' and ${t.liveReportSeq} is null`),
  ],
);

/**
 * One row per running central process (instanceLease.ts): a random id taken at start and a
 * lease it renews. Sessions a central dispatched name it as their owner; once its lease has
 * expired (the process died or lost the database) any other central takes them over.
 */
export const centralInstances = pgTable('central_instances', {
  id: text('id').primaryKey(),
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  leaseExpiresAt: timestamp('lease_expires_at', { withTimezone: true }).notNull(),
});

/** One row per change a session applied on its target. */
export const messageSyncLog = pgTable(
  'message_sync_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sessionId: text('session_id')
      .notNull()
      .references(() => syncSessions.id, { onDelete: 'cascade' }),
    messageId: text('message_id').notNull(),
    action: syncActionEnum('action').notNull(),
    syncedAt: timestamp('synced_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    index('message_sync_log_session_idx').on(t.sessionId, t.id),
    index('message_sync_log_message_idx').on(t.messageId),
  ],
);

/**
 * The message index: metadata of every message sync has moved, and which nodes hold it. Content
 * stays on the nodes. Rows are updated from sync reports, so a message seen by no sync yet is
 * absent.
 */
export const distributedMessages = pgTable(
  'distributed_messages',
  {
    id: text('id').primaryKey(),
    roomId: text('room_id').notNull(),
    senderId: text('sender_id').notNull(),
    contentHash: text('content_hash').notNull(),
    originatingNodeId: text('originating_node_id').notNull(),
    storageNodeIds: text('storage_node_ids').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull(),
    deleted: boolean('deleted').notNull().default(false),
    /** The HLC of the version indexed, when the reporting node sent it: orders versions exactly. */
    hlc: text('hlc'),
  },
  (t) => [
    index('distributed_messages_room_created_idx').on(t.roomId, t.createdAt, t.id),
    index('distributed_messages_content_hash_idx').on(t.contentHash),
  ],
);

/**
 * Versions a target refused and kept aside instead of applying, as its sync reports told. A row is
 * released (released_at) when the same pair's newer valid version of the message replaced it. One
 * open row per pair, message and HLC: a FULL sync receiving the same bad version again adds none.
 */
export const quarantinedVersions = pgTable(
  'quarantined_versions',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    sessionId: text('session_id').references(() => syncSessions.id, { onDelete: 'set null' }),
    sourceNodeId: text('source_node_id')
      .notNull()
      .references(() => nodes.id),
    targetNodeId: text('target_node_id')
      .notNull()
      .references(() => nodes.id),
    messageId: text('message_id').notNull(),
    /** No foreign key: the record outlives a deleted room. */
    roomId: text('room_id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    hlc: text('hlc').notNull(),
    reason: text('reason').notNull(),
    quarantinedAt: timestamp('quarantined_at', { withTimezone: true }).notNull().defaultNow(),
    releasedAt: timestamp('released_at', { withTimezone: true }),
  },
  (t) => [
    uniqueIndex('quarantined_versions_open_idx')
      .on(t.sourceNodeId, t.targetNodeId, t.messageId, t.hlc)
      .where(sql`${t.releasedAt} is null`),
    index('quarantined_versions_at_idx').on(t.quarantinedAt, t.id),
    index('quarantined_versions_target_idx').on(t.targetNodeId, t.quarantinedAt),
  ],
);

/** Per ordered pair of nodes: how far the target has pulled the source's change log. */
export const syncPairs = pgTable(
  'sync_pairs',
  {
    sourceNodeId: text('source_node_id')
      .notNull()
      .references(() => nodes.id),
    targetNodeId: text('target_node_id')
      .notNull()
      .references(() => nodes.id),
    /** The last source seq the target applied (the target stores the same number). */
    cursor: bigint('cursor', { mode: 'number' }).notNull().default(0),
    /** The source's newest seq as last seen by any session pulling from it. */
    sourceHeadSeq: bigint('source_head_seq', { mode: 'number' }).notNull().default(0),
    digestsMatch: boolean('digests_match'),
    lastSyncAt: timestamp('last_sync_at', { withTimezone: true }),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.sourceNodeId, t.targetNodeId] })],
);

export type UserRow = typeof users.$inferSelect;
export type NodeRow = typeof nodes.$inferSelect;
export type RoomRow = typeof rooms.$inferSelect;
export type SyncSessionRow = typeof syncSessions.$inferSelect;
export type MessageSyncLogRow = typeof messageSyncLog.$inferSelect;
export type DistributedMessageRow = typeof distributedMessages.$inferSelect;
export type SyncPairRow = typeof syncPairs.$inferSelect;
export type CentralInstanceRow = typeof centralInstances.$inferSelect;
export type QuarantinedVersionRow = typeof quarantinedVersions.$inferSelect;
