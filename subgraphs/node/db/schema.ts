// A chat node's tables (SQLite). Migrations in ../migrations are generated from this file with
// `npm run db:generate:node` and applied on every start.
import { index, integer, primaryKey, sqliteTable, text } from 'drizzle-orm/sqlite-core';

export const syncStatuses = ['PENDING', 'SYNCED', 'FAILED'] as const;
export const changeOps = ['create', 'update', 'delete'] as const;
export type ChangeOp = (typeof changeOps)[number];

// Milliseconds since the epoch: sorts and compares as a number, reads back as a Date.
const timestamp = (name: string) => integer(name, { mode: 'timestamp_ms' });

export const messages = sqliteTable(
  'messages',
  {
    /** UUIDv7, so ids from every node are unique and sort by creation time. */
    id: text('id').primaryKey(),
    roomId: text('room_id').notNull(),
    senderId: text('sender_id').notNull(),
    /** Empty once deleted. */
    content: text('content').notNull(),
    /** Lowercase hex SHA-256 of `content`. */
    contentHash: text('content_hash').notNull(),
    createdAt: timestamp('created_at').notNull(),
    updatedAt: timestamp('updated_at').notNull(),
    deletedAt: timestamp('deleted_at'),
    /** The HLC of this version (see ../hlc.ts); the greater one wins when versions meet. */
    hlc: text('hlc').notNull(),
    /** Central's id of the node the message was first posted on. */
    originNode: text('origin_node').notNull(),
    syncStatus: text('sync_status', { enum: syncStatuses }).notNull().default('PENDING'),
    lastSyncAttempt: timestamp('last_sync_attempt'),
  },
  (t) => [index('messages_room_id_idx').on(t.roomId, t.id)],
);

/**
 * The feed sync reads: one row per committed change, written in the same transaction as the
 * change itself. AUTOINCREMENT keeps `seq` from ever being reused, even after the newest rows
 * are deleted, so a peer's cursor can never point at a different change.
 */
export const changeLog = sqliteTable(
  'change_log',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    messageId: text('message_id').notNull(),
    roomId: text('room_id').notNull(),
    op: text('op', { enum: changeOps }).notNull(),
    hlc: text('hlc').notNull(),
    /** The node that made this version (for an edit, not necessarily the message's origin). */
    originNode: text('origin_node').notNull(),
    contentHash: text('content_hash').notNull(),
    at: timestamp('at').notNull(),
  },
  (t) => [index('change_log_message_id_idx').on(t.messageId)],
);

/**
 * Sync's resume point per source node and room: the last source change-log `seq` this node has
 * applied for that room. Written in the same transaction as the batch it follows, so it never
 * runs ahead of the data. Per room, not per pair: a room newly shared with a source starts from
 * 0 instead of inheriting a cursor that already passed its older changes.
 */
export const syncCursors = sqliteTable(
  'sync_cursors',
  {
    sourceNodeId: text('source_node_id').notNull(),
    roomId: text('room_id').notNull(),
    seq: integer('seq').notNull(),
    updatedAt: timestamp('updated_at').notNull(),
  },
  (t) => [primaryKey({ columns: [t.sourceNodeId, t.roomId] })],
);

/**
 * Versions a source sent that this node refused to apply (sync/quarantine.ts): kept aside, with
 * why, instead of failing the whole batch. One row per version (the source's seq); removed when
 * the same source later sends a version of the message that is valid and applies. The id, room
 * and HLC are '' when the version had no usable value for them.
 */
export const syncQuarantine = sqliteTable(
  'sync_quarantine',
  {
    sourceNodeId: text('source_node_id').notNull(),
    /** The source's change-log seq of the version. */
    seq: integer('seq').notNull(),
    messageId: text('message_id').notNull(),
    roomId: text('room_id').notNull(),
    hlc: text('hlc').notNull(),
    reason: text('reason').notNull(),
    /** The version exactly as received, as JSON. */
    version: text('version').notNull(),
    quarantinedAt: timestamp('quarantined_at').notNull(),
    /**
     * Set for a version deferred, not refused: its only fault was an HLC too far ahead of this
     * node's clock. Epoch ms (this node's reference clock) from which it is within the bound and
     * is applied. Null for a refused (quarantined) version.
     */
    deferredUntil: integer('deferred_until'),
  },
  (t) => [
    primaryKey({ columns: [t.sourceNodeId, t.seq] }),
    index('sync_quarantine_message_idx').on(t.sourceNodeId, t.messageId),
  ],
);

/**
 * What this node's change feed served, one row per non-empty batch: to which peer, for which rooms,
 * the seq range `(after_seq, up_to_seq]` and when. The peer's acknowledgement of the range turns
 * its rows into the messages' `last_sync_attempt` (and SYNCED) in one statement per row, so serving
 * a batch writes one row instead of one per version. Consumed by that acknowledgement; rows never
 * acknowledged (the peer failed) are pruned after a week.
 */
export const syncSends = sqliteTable(
  'sync_sends',
  {
    id: integer('id').primaryKey({ autoIncrement: true }),
    peerNodeId: text('peer_node_id').notNull(),
    /** The request's room ids, distinct and sorted, as a JSON array. */
    rooms: text('rooms').notNull(),
    afterSeq: integer('after_seq').notNull(),
    upToSeq: integer('up_to_seq').notNull(),
    sentAt: timestamp('sent_at').notNull(),
  },
  (t) => [index('sync_sends_peer_idx').on(t.peerNodeId, t.upToSeq)],
);

/** Small key/value state of the node, e.g. its id at central. */
export const meta = sqliteTable('meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export type MessageRow = typeof messages.$inferSelect;
export type ChangeLogRow = typeof changeLog.$inferSelect;
export type SyncCursorRow = typeof syncCursors.$inferSelect;
export type SyncQuarantineRow = typeof syncQuarantine.$inferSelect;
