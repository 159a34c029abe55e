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
    /**
     * The peer this version was applied from (null: written here). A live stream leaves these
     * rows out for that peer: it sent them, so it holds them or newer (docs/sync.md, "Echoes").
     */
    receivedFrom: text('received_from'),
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

/**
 * Windows of live replication this node (the target) opened, one at a time per source: the
 * SyncSession central records them as (same id). Opened at the first change after idle, closed
 * after an idle second or a few thousand versions; a row goes once central took its last report.
 */
export const syncLiveWindows = sqliteTable(
  'sync_live_windows',
  {
    /** UUIDv7: the SyncSession's id at central. */
    id: text('id').primaryKey(),
    sourceNodeId: text('source_node_id').notNull(),
    /** The cursor (of the stream's rooms) when the window opened. */
    cursorBefore: integer('cursor_before').notNull(),
    /** The cursor and the source's newest seq after the window's latest batch. */
    cursor: integer('cursor').notNull(),
    sourceHeadSeq: integer('source_head_seq').notNull(),
    /** Versions recorded in the window (applied and quarantined). */
    versions: integer('versions').notNull(),
    openedAt: timestamp('opened_at').notNull(),
    lastChangeAt: timestamp('last_change_at').notNull(),
    closedAt: timestamp('closed_at'),
    /** The sequence of the next report to make up (1 first). */
    nextReport: integer('next_report').notNull().default(1),
    /** A report made up and not yet accepted by central: sent again as it is. */
    pendingReport: integer('pending_report'),
    /** Whether `pendingReport` is the window's last. */
    pendingFinal: integer('pending_final', { mode: 'boolean' }).notNull().default(false),
  },
  (t) => [index('sync_live_windows_source_idx').on(t.sourceNodeId, t.closedAt)],
);

/**
 * What live windows applied, quarantined and released, written in the transaction that applied
 * it and deleted once central took the report that carried it: nothing is lost while central is
 * away, and a report is made up once (rows get its sequence) so a retry carries the same rows.
 */
export const syncLiveOutbox = sqliteTable(
  'sync_live_outbox',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    windowId: text('window_id').notNull(),
    /** `applied` (an AppliedChange), `quarantined` (a QuarantinedVersion), `released` (a message id). */
    kind: text('kind', { enum: ['applied', 'quarantined', 'released'] }).notNull(),
    /** The entry as the report carries it, JSON. */
    entry: text('entry').notNull(),
    /** The report of the window it went into; null until one is made up. */
    report: integer('report'),
  },
  (t) => [index('sync_live_outbox_window_idx').on(t.windowId, t.report, t.seq)],
);

/**
 * What a scheduled session (pullSession.ts) applied, quarantined and released and central has
 * not taken yet: ONE row per applied batch, written in the transaction that applied it, deleted
 * once central took the report carrying it. A report is made up of rows once (they get its
 * sequence) and sent again unchanged until taken, so a report central recorded whose answer was
 * lost (the node killed, or the connection cut) is a repeat central records nothing of.
 */
export const syncSessionOutbox = sqliteTable(
  'sync_session_outbox',
  {
    seq: integer('seq').primaryKey({ autoIncrement: true }),
    /** The SyncSession's id at central. */
    sessionId: text('session_id').notNull(),
    /** The session's report it went into (1, 2, 3...); null until one is made up. */
    report: integer('report'),
    /** AppliedChange[], QuarantinedVersion[], message ids: JSON, as the report carries them. */
    applied: text('applied').notNull(),
    quarantined: text('quarantined').notNull(),
    released: text('released').notNull(),
    /** How many entries each list holds: reports are made up without reading the lists. */
    appliedCount: integer('applied_count').notNull(),
    quarantinedCount: integer('quarantined_count').notNull(),
    releasedCount: integer('released_count').notNull(),
  },
  (t) => [index('sync_session_outbox_session_idx').on(t.sessionId, t.report, t.seq)],
);

/**
 * Per session with outbox rows (or running): its next report's sequence and its progress as of
 * its latest batch, so that a later process reports its leftovers with true counters and a
 * sequence above every one central may have recorded.
 */
export const syncSessionReports = sqliteTable('sync_session_reports', {
  sessionId: text('session_id').primaryKey(),
  /** The sequence of the next report to make up (1 first). */
  nextReport: integer('next_report').notNull().default(1),
  /** The pair's cursor and the session's counters after its latest committed batch. */
  cursor: integer('cursor').notNull(),
  messagesSynced: integer('messages_synced').notNull(),
  messagesChecked: integer('messages_checked').notNull(),
});

/** Small key/value state of the node, e.g. its id at central. */
export const meta = sqliteTable('meta', {
  key: text('key').primaryKey(),
  value: text('value').notNull(),
});

export type MessageRow = typeof messages.$inferSelect;
export type ChangeLogRow = typeof changeLog.$inferSelect;
export type SyncCursorRow = typeof syncCursors.$inferSelect;
export type SyncQuarantineRow = typeof syncQuarantine.$inferSelect;
