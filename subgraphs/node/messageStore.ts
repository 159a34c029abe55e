// The node's messages. Every write (post, edit, delete, or a batch applied from a peer) changes the
// message row and appends its change-log row in ONE SQLite transaction, then, once it committed,
// publishes the event subscriptions and sync listen to. Local writes may share a transaction
// (`commitGroup`, fed by groupCommit.ts), each in its own savepoint. Permission checks are the
// caller's: this module keeps the data consistent, whoever asks.
import { and, asc, desc, eq, gt, gte, isNull, lt, lte, type SQL } from 'drizzle-orm';
import type { Transaction } from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../lib/errors.ts';
import type { NodeDatabase, NodeQueryable } from './db/open.ts';
import { messages, type ChangeOp, type MessageRow } from './db/schema.ts';
import { decodeHlc, type HybridLogicalClock } from './hlc.ts';
import type { MessageEvent, MessageEvents } from './messageEvents.ts';
import { illFormedContent, sha256Hex } from './content.ts';
import { keyTime, messageIdFor, requireFreshKey } from './clientMessageId.ts';
import { roomMoved } from './heldRooms.ts';

export { sha256Hex };

export interface NewMessage {
  readonly roomId: string;
  readonly senderId: string;
  readonly content: string;
  /**
   * A UUIDv7 the client made for this message (already validated): the id is derived from it
   * (clientMessageId.ts), and a post this node already holds is answered with the message held.
   */
  readonly clientMessageId?: string | undefined;
}

/** A local write, as `commitGroup` runs it. */
export type LocalWrite =
  | { readonly kind: 'post'; readonly message: NewMessage }
  | { readonly kind: 'edit'; readonly id: string; readonly content: string }
  | { readonly kind: 'delete'; readonly id: string };

/** What became of one write of a group: the row it left, or why it wrote nothing. */
export type WriteOutcome =
  | { readonly ok: true; readonly row: MessageRow }
  | { readonly ok: false; readonly error: unknown };

/** One version of a message as another node holds it: what sync hands to `applyRemote`. */
export interface RemoteVersion {
  readonly id: string;
  readonly roomId: string;
  readonly senderId: string;
  readonly content: string;
  readonly contentHash: string;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly deletedAt: Date | null;
  readonly hlc: string;
  readonly originNode: string;
}

/** What a message keeps for life, as the row this node holds says. */
export interface HeldIdentity {
  readonly roomId: string;
  readonly senderId: string;
  readonly originNode: string;
  /** Epoch milliseconds. */
  readonly createdAt: number;
}

export interface ApplyRemoteOptions {
  /**
   * The caller has checked every version already as `checkVersion` would (sync's
   * validateChangeBatch does, with the reasons a peer is told): the store skips its own check,
   * a second SHA-256 of every content.
   */
  readonly checked?: boolean;
  /**
   * Decides, inside the transaction and before any version is written, whether the version's
   * writer may write it, given the row this node holds (undefined: the message is new here).
   * A reason refuses the version: it is skipped (counted in neither `applied` nor `skipped`),
   * and the caller keeps the reason aside as it sees fit.
   */
  readonly admit?: (version: RemoteVersion, held: HeldIdentity | undefined) => string | undefined;
  /**
   * Runs inside the batch's transaction, after the versions are written: sync stores the pair's
   * cursor here, so the cursor moves if and only if the batch committed.
   */
  readonly inTransaction?: (db: NodeQueryable, result: ApplyResult) => void;
  /**
   * When the source sent these versions (epoch ms, its clock): the `lastSyncAttempt` of every
   * version this node holds after the batch, applied or already held, so this copy reads what
   * the source records for the send. @default now
   */
  readonly sentAt?: number;
  /**
   * The node the versions came from: their change-log rows name it, and the feed leaves them out
   * of that node's live stream (it sent them). Omitted: rows are served to every peer.
   */
  readonly receivedFrom?: string;
}

export interface ApplyResult {
  /** Versions that won and were written (each with a change-log row). */
  readonly applied: number;
  /** Versions this node already had, or that lost to the version it has. */
  readonly skipped: number;
  /** The versions written, in order, with the op of their change-log row (sync reports them). */
  readonly written: readonly { readonly version: RemoteVersion; readonly op: ChangeOp }[];
}

export interface PageQuery {
  /** Only messages with an id greater than this one. */
  readonly after?: string | undefined;
  /** Only messages with an id less than this one. */
  readonly before?: string | undefined;
  readonly limit: number;
  /** `start`: the oldest `limit` messages of the range; `end`: the newest. */
  readonly from: 'start' | 'end';
  /** false: tombstones are left out, of the page and of its hasPrevious/NextPage. @default true */
  readonly includeDeleted?: boolean;
}

export interface Page {
  /** Oldest to newest. */
  readonly rows: MessageRow[];
  readonly hasPreviousPage: boolean;
  readonly hasNextPage: boolean;
}

export interface MessageStoreOptions {
  readonly db: NodeDatabase;
  /** Stamps every version written here; merges the clocks of versions applied from peers. */
  readonly clock: HybridLogicalClock;
  readonly events: MessageEvents;
  /** The wall clock for `createdAt`/`updatedAt`/`deletedAt` (display only). @default Date.now */
  readonly now?: () => number;
  /**
   * Whether this node takes local writes for a room now (heldRooms.ts), asked inside each
   * write's transaction: a room the node stopped taking writes for between a request's checks
   * and its commit is refused then (ROOM_MOVED). @default every room
   */
  readonly acceptsWritesFor?: (roomId: string) => boolean;
}

/** What ordering two versions reads: the clock, and whether it is a tombstone (ms or Date). */
export interface VersionOrder {
  readonly hlc: string;
  readonly deletedAt: Date | number | null;
}

/**
 * Which of two versions of a message wins when they meet. A tombstone beats any live version (a
 * delete is never undone by an edit made concurrently elsewhere); otherwise the greater HLC wins,
 * its node id being the final tie-break. A total order, so every node converges on the same one.
 */
export function newerVersion(candidate: VersionOrder, current: VersionOrder): boolean {
  const candidateDeleted = candidate.deletedAt !== null;
  if (candidateDeleted !== (current.deletedAt !== null)) return candidateDeleted;
  return candidate.hlc > current.hlc;
}

/** A `messages` row as SQLite returns it (epoch milliseconds for timestamps). */
interface MessageRecord {
  id: string;
  room_id: string;
  sender_id: string;
  content: string;
  content_hash: string;
  created_at: number;
  updated_at: number;
  deleted_at: number | null;
  hlc: string;
  origin_node: string;
  sync_status: MessageRow['syncStatus'];
  last_sync_attempt: number | null;
}

function fromRecord(record: MessageRecord): MessageRow {
  return {
    id: record.id,
    roomId: record.room_id,
    senderId: record.sender_id,
    content: record.content,
    contentHash: record.content_hash,
    createdAt: new Date(record.created_at),
    updatedAt: new Date(record.updated_at),
    deletedAt: record.deleted_at === null ? null : new Date(record.deleted_at),
    hlc: record.hlc,
    originNode: record.origin_node,
    syncStatus: record.sync_status,
    lastSyncAttempt: record.last_sync_attempt === null ? null : new Date(record.last_sync_attempt),
  };
}

const EMPTY_CONTENT_HASH = sha256Hex('');

/**
 * The statements of the write paths (a sync batch runs some once per version, a group of local
 * writes once per write), prepared once, on better-sqlite3 directly: building a drizzle query and
 * preparing it per row cost more than the write itself (a FULL sync profile: ~50% of the target's
 * time), and even prepared, drizzle's row mapping (a Date per timestamp) was a fifth of an apply.
 * They run on the store's one connection, so inside its transactions too. Timestamps are epoch
 * milliseconds, as drizzle's `timestamp_ms` stores them.
 */
function prepareStatements(db: NodeDatabase) {
  const sqlite = db.$client;
  return {
    message: sqlite.prepare<[string], MessageRecord>(
      `SELECT id, room_id, sender_id, content, content_hash, created_at, updated_at, deleted_at,
              hlc, origin_node, sync_status, last_sync_attempt
       FROM messages WHERE id = ?`,
    ),
    insertLocal: sqlite.prepare<
      [string, string, string, string, string, number, number, string, string]
    >(
      `INSERT INTO messages (id, room_id, sender_id, content, content_hash, created_at,
                             updated_at, deleted_at, hlc, origin_node, sync_status,
                             last_sync_attempt)
       VALUES (?, ?, ?, ?, ?, ?, ?, NULL, ?, ?, 'PENDING', NULL)`,
    ),
    /** A new local version of a message: an edit, or a delete when `deleted_at` is set. */
    updateLocal: sqlite.prepare<[string, string, number, number | null, string, string]>(
      `UPDATE messages SET content = ?, content_hash = ?, updated_at = ?, deleted_at = ?,
                           hlc = ?, sync_status = 'PENDING', last_sync_attempt = NULL
       WHERE id = ?`,
    ),
    /** What deciding a remote version needs of the current one, and what the row keeps. */
    current: sqlite.prepare<
      [string],
      {
        hlc: string;
        deleted_at: number | null;
        room_id: string;
        sender_id: string;
        origin_node: string;
        created_at: number;
      }
    >(
      `SELECT hlc, deleted_at, room_id, sender_id, origin_node, created_at
       FROM messages WHERE id = ?`,
    ),
    /**
     * Every column takes the incoming version's: another node holds this version (it came from
     * there), so it is SYNCED, last sent when the source sent it.
     */
    upsertRemote: sqlite.prepare<
      [
        string,
        string,
        string,
        string,
        string,
        number,
        number,
        number | null,
        string,
        string,
        number,
      ]
    >(
      `INSERT INTO messages (id, room_id, sender_id, content, content_hash, created_at,
                             updated_at, deleted_at, hlc, origin_node, sync_status,
                             last_sync_attempt)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'SYNCED', ?)
       ON CONFLICT (id) DO UPDATE SET
         room_id = excluded.room_id, sender_id = excluded.sender_id, content = excluded.content,
         content_hash = excluded.content_hash, created_at = excluded.created_at,
         updated_at = excluded.updated_at, deleted_at = excluded.deleted_at, hlc = excluded.hlc,
         origin_node = excluded.origin_node, sync_status = excluded.sync_status,
         last_sync_attempt = excluded.last_sync_attempt`,
    ),
    /**
     * Versions received that this node already held, the same version: the sender holds it too
     * (SYNCED unless a peer refused it), and was just sent it again.
     */
    markHeld: sqlite.prepare<[number, string]>(
      `UPDATE messages
          SET sync_status = CASE sync_status WHEN 'PENDING' THEN 'SYNCED' ELSE sync_status END,
              last_sync_attempt = max(coalesce(last_sync_attempt, 0), ?)
        WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    appendChange: sqlite.prepare<
      [string, string, ChangeOp, string, string, string, number, string | null]
    >(
      `INSERT INTO change_log (message_id, room_id, op, hlc, origin_node, content_hash, at,
                               received_from)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}

export class MessageStore {
  readonly #db: NodeDatabase;
  readonly #clock: HybridLogicalClock;
  readonly #events: MessageEvents;
  readonly #now: () => number;
  readonly #acceptsWritesFor: (roomId: string) => boolean;
  readonly #statements: ReturnType<typeof prepareStatements>;
  /** Runs a group's writes, each in a savepoint; `.immediate` wraps it in BEGIN IMMEDIATE/COMMIT. */
  readonly #group: Transaction<
    (writes: readonly LocalWrite[], events: MessageEvent[]) => WriteOutcome[]
  >;
  #commits = 0;

  constructor(options: MessageStoreOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
    this.#acceptsWritesFor = options.acceptsWritesFor ?? (() => true);
    this.#statements = prepareStatements(options.db);
    const sqlite = options.db.$client;
    // better-sqlite3 turns a transaction function called inside a transaction into a savepoint,
    // with its BEGIN/SAVEPOINT/RELEASE/ROLLBACK statements prepared once.
    const inSavepoint = sqlite.transaction((write: LocalWrite) => this.#applyLocal(write));
    this.#group = sqlite.transaction(
      (writes: readonly LocalWrite[], events: MessageEvent[]): WriteOutcome[] =>
        writes.map((write) => {
          try {
            const { row, event } = inSavepoint(write);
            if (event) events.push(event);
            return { ok: true, row };
          } catch (error) {
            // Some errors (a full disk, an I/O error, RAISE(ROLLBACK)) end the whole
            // transaction, not just the savepoint: what follows would run outside the group, and
            // what went before is undone. The group fails as one.
            if (!sqlite.inTransaction) throw error;
            return { ok: false, error };
          }
        }),
    );
  }

  /** Transactions this store committed (groups of local writes, single writes, sync batches). */
  get commits(): number {
    return this.#commits;
  }

  /** Central's id of this node: the origin of messages posted here. */
  get nodeId(): string {
    return this.#clock.nodeId;
  }

  get(id: string): MessageRow | undefined {
    const record = this.#statements.message.get(id);
    return record && fromRecord(record);
  }

  /**
   * Posts a message in a transaction of its own. BAD_USER_INPUT for content that is not
   * well-formed Unicode (see content.ts). With a `clientMessageId`, a message this node already
   * holds under the derived id is returned, nothing written (CONFLICT if its content differs).
   */
  post(message: NewMessage): MessageRow {
    return this.#commitOne({ kind: 'post', message });
  }

  /**
   * A new version with new content, in a transaction of its own. NOT_FOUND for an unknown id,
   * CONFLICT for a deleted message. Content equal to the current content writes nothing and
   * returns the current version: a retried edit is answered as the first one was.
   */
  edit(id: string, content: string): MessageRow {
    return this.#commitOne({ kind: 'edit', id, content });
  }

  /**
   * Turns the message into a tombstone (in a transaction of its own): content emptied,
   * `deletedAt` set, row kept so the delete syncs like any other version. Deleting a tombstone
   * again returns it and writes nothing.
   */
  delete(id: string): MessageRow {
    return this.#commitOne({ kind: 'delete', id });
  }

  /**
   * Runs local writes in ONE transaction (one fsync), in order, each in its own savepoint: a
   * write that fails (bad content, unknown or deleted message, a constraint) leaves nothing and
   * fails alone. Returns one outcome per write, once the transaction has committed; the events
   * of the writes that succeeded are published then, in commit order. Throws, having written
   * and published nothing, when the transaction as a whole fails (BEGIN, COMMIT, or an error
   * that rolls back everything).
   */
  commitGroup(writes: readonly LocalWrite[]): WriteOutcome[] {
    const events: MessageEvent[] = [];
    const outcomes = this.#group.immediate(writes, events);
    this.#commits += 1;
    this.#publish(events);
    return outcomes;
  }

  #commitOne(write: LocalWrite): MessageRow {
    const [outcome] = this.commitGroup([write]);
    if (!outcome) throw new Error('unreachable: a group of one write has one outcome');
    if (!outcome.ok) throw outcome.error;
    return outcome.row;
  }

  /** One local write, inside the caller's transaction: its row, and its event if it changed one. */
  #applyLocal(write: LocalWrite): { row: MessageRow; event?: MessageEvent } {
    const { insertLocal, updateLocal } = this.#statements;
    const at = this.#now();
    switch (write.kind) {
      case 'post': {
        const { roomId, senderId, content, clientMessageId } = write.message;
        requireWellFormed(content);
        this.#requireAccepted(roomId);
        let id = uuidv7();
        // A keyed post's creation time is the key's, so that every node that makes it gives it
        // the same identity (sync refuses a version that moves a message's createdAt).
        let createdAt = at;
        if (clientMessageId !== undefined) {
          id = messageIdFor(senderId, roomId, clientMessageId);
          const held = this.get(id);
          if (held) return { row: sameMessage(held, write.message) };
          requireFreshKey(clientMessageId, at);
          createdAt = keyTime(clientMessageId);
        }
        const row: MessageRow = {
          id,
          roomId,
          senderId,
          content,
          contentHash: sha256Hex(content),
          createdAt: new Date(createdAt),
          updatedAt: new Date(createdAt),
          deletedAt: null,
          hlc: this.#clock.now(),
          originNode: this.nodeId,
          syncStatus: 'PENDING',
          lastSyncAttempt: null,
        };
        insertLocal.run(
          row.id,
          roomId,
          senderId,
          content,
          row.contentHash,
          createdAt,
          createdAt,
          row.hlc,
          row.originNode,
        );
        this.#log(row, 'create', at);
        return { row, event: { kind: 'added', message: row, source: 'local' } };
      }
      case 'edit': {
        requireWellFormed(write.content);
        const current = this.#requireLive(write.id);
        this.#requireAccepted(current.roomId);
        // A retried edit (or one that changes nothing): the current version is the outcome.
        if (current.content === write.content) return { row: current };
        const row: MessageRow = {
          ...current,
          content: write.content,
          contentHash: sha256Hex(write.content),
          updatedAt: new Date(at),
          hlc: this.#clock.now(),
          syncStatus: 'PENDING',
          lastSyncAttempt: null,
        };
        updateLocal.run(row.content, row.contentHash, at, null, row.hlc, row.id);
        this.#log(row, 'update', at);
        return { row, event: { kind: 'changed', message: row, source: 'local' } };
      }
      case 'delete': {
        const current = this.get(write.id);
        if (!current) throw appError('NOT_FOUND', `no message ${write.id} on this node`);
        if (current.deletedAt !== null) return { row: current };
        this.#requireAccepted(current.roomId);
        const row: MessageRow = {
          ...current,
          content: '',
          contentHash: EMPTY_CONTENT_HASH,
          updatedAt: new Date(at),
          deletedAt: new Date(at),
          hlc: this.#clock.now(),
          syncStatus: 'PENDING',
          lastSyncAttempt: null,
        };
        updateLocal.run('', EMPTY_CONTENT_HASH, at, at, row.hlc, row.id);
        this.#log(row, 'delete', at);
        return { row, event: { kind: 'changed', message: row, source: 'local' } };
      }
    }
  }

  #requireAccepted(roomId: string): void {
    if (!this.#acceptsWritesFor(roomId)) throw roomMoved(roomId);
  }

  #requireLive(id: string): MessageRow {
    const row = this.get(id);
    if (!row) throw appError('NOT_FOUND', `no message ${id} on this node`);
    if (row.deletedAt !== null)
      throw appError('CONFLICT', `message ${id} was deleted and can no longer be edited`);
    return row;
  }

  /**
   * Writes the versions that win over what this node has (see `newerVersion`), all in one
   * transaction with their change-log rows; replays and duplicates change nothing. Throws, writing
   * nothing, when a version is inconsistent or its clock is too far in the future (HlcDriftError).
   */
  applyRemote(versions: readonly RemoteVersion[], options: ApplyRemoteOptions = {}): ApplyResult {
    const events: MessageEvent[] = [];
    const { current: currentStatement, upsertRemote, markHeld } = this.#statements;
    const result = this.#write((tx) => {
      const written: { version: RemoteVersion; op: ChangeOp }[] = [];
      let refused = 0;
      const at = this.#now();
      const sentAt = options.sentAt ?? at;
      const held: string[] = [];
      for (const version of versions) {
        if (options.checked !== true) checkVersion(version);
        const current = currentStatement.get(version.id);
        if (options.admit) {
          const reason = options.admit(
            version,
            current && {
              roomId: current.room_id,
              senderId: current.sender_id,
              originNode: current.origin_node,
              createdAt: current.created_at,
            },
          );
          if (reason !== undefined) {
            refused += 1;
            continue;
          }
        }
        const currentDeleted = current !== undefined && current.deleted_at !== null;
        if (
          current &&
          !newerVersion(version, { hlc: current.hlc, deletedAt: current.deleted_at })
        ) {
          if (current.hlc === version.hlc) held.push(version.id);
          continue;
        }
        // Merging the remote clock keeps every later local write newer than what was seen here.
        this.#clock.receive(version.hlc);
        upsertRemote.run(
          version.id,
          version.roomId,
          version.senderId,
          version.content,
          version.contentHash,
          version.createdAt.getTime(),
          version.updatedAt.getTime(),
          version.deletedAt?.getTime() ?? null,
          version.hlc,
          version.originNode,
          sentAt,
        );
        // The row as written: the version's fields, plus what the upsert keeps.
        const row: MessageRow = {
          id: version.id,
          roomId: version.roomId,
          senderId: version.senderId,
          content: version.content,
          contentHash: version.contentHash,
          createdAt: version.createdAt,
          updatedAt: version.updatedAt,
          deletedAt: version.deletedAt,
          hlc: version.hlc,
          originNode: version.originNode,
          syncStatus: 'SYNCED',
          lastSyncAttempt: new Date(sentAt),
        };
        const op: ChangeOp = !current
          ? 'create'
          : version.deletedAt !== null && !currentDeleted
            ? 'delete'
            : 'update';
        this.#log(row, op, at, options.receivedFrom);
        events.push({ kind: current ? 'changed' : 'added', message: row, source: 'remote' });
        written.push({ version, op });
      }
      if (held.length > 0) markHeld.run(sentAt, JSON.stringify(held));
      const applied = written.length;
      const result = { applied, skipped: versions.length - applied - refused, written };
      options.inTransaction?.(tx, result);
      return result;
    });
    this.#publish(events);
    return result;
  }

  page(roomId: string, query: PageQuery): Page {
    // Tombstones left out are left out of the flags too, so the page info describes what the
    // client sees; cursors are message ids, which a delete does not change.
    const inRoom =
      query.includeDeleted === false
        ? and(eq(messages.roomId, roomId), isNull(messages.deletedAt))
        : eq(messages.roomId, roomId);
    const range: Array<SQL | undefined> = [inRoom];
    if (query.after !== undefined) range.push(gt(messages.id, query.after));
    if (query.before !== undefined) range.push(lt(messages.id, query.before));
    const selected = this.#db
      .select()
      .from(messages)
      .where(and(...range))
      .orderBy(query.from === 'start' ? asc(messages.id) : desc(messages.id))
      .limit(query.limit)
      .all();
    const rows = query.from === 'start' ? selected : selected.reverse();
    const exists = (condition: SQL) =>
      this.#db
        .select({ id: messages.id })
        .from(messages)
        .where(and(inRoom, condition))
        .limit(1)
        .get() !== undefined;
    const first = rows[0];
    const last = rows.at(-1);
    // Relative to the whole room, not just the requested range, so both flags are true facts
    // whichever direction the client pages in.
    return {
      rows,
      hasPreviousPage: first
        ? exists(lt(messages.id, first.id))
        : query.after !== undefined && exists(lte(messages.id, query.after)),
      hasNextPage: last
        ? exists(gt(messages.id, last.id))
        : query.before !== undefined && exists(gte(messages.id, query.before)),
    };
  }

  // `immediate` takes the write lock up front: a deferred transaction that reads first could
  // find the lock taken by another connection (a CLI, a backup) when it starts writing.
  #write<T>(body: (tx: NodeQueryable) => T): T {
    const result = this.#db.transaction(body, { behavior: 'immediate' });
    this.#commits += 1;
    return result;
  }

  /**
   * Appends the change-log row of a write (`at`: epoch ms; `receivedFrom`: the peer a synced
   * version came from); called inside its transaction.
   */
  #log(row: MessageRow, op: ChangeOp, at: number, receivedFrom?: string): void {
    this.#statements.appendChange.run(
      row.id,
      row.roomId,
      op,
      row.hlc,
      decodeHlc(row.hlc).node,
      row.contentHash,
      at,
      receivedFrom ?? null,
    );
  }

  #publish(events: readonly MessageEvent[]): void {
    for (const event of events) this.#events.publish(event);
  }
}

/**
 * The held message a retried post stands for. Its content must be the retry's while it is the
 * posted version; once edited or deleted the original content is gone, and the message as it is
 * now is the answer (the post did happen).
 */
function sameMessage(held: MessageRow, retry: NewMessage): MessageRow {
  if (held.senderId !== retry.senderId || held.roomId !== retry.roomId) {
    // Only a SHA-256 collision could get here: the id is derived from both.
    throw appError('CONFLICT', `message ${held.id} belongs to another sender or room`);
  }
  const unchanged =
    held.deletedAt === null && held.updatedAt.getTime() === held.createdAt.getTime();
  if (unchanged && held.content !== retry.content) {
    throw appError(
      'CONFLICT',
      `clientMessageId ${retry.clientMessageId ?? ''} was already used for message ${held.id} with a different content: a new message needs a new key`,
      { extensions: { messageId: held.id } },
    );
  }
  return held;
}

function requireWellFormed(content: string): void {
  const reason = illFormedContent(content);
  if (reason !== undefined) throw appError('BAD_USER_INPUT', reason);
}

function checkVersion(version: RemoteVersion): void {
  const illFormed = illFormedContent(version.content);
  if (illFormed !== undefined) throw new Error(`version of message ${version.id}: ${illFormed}`);
  if (sha256Hex(version.content) !== version.contentHash) {
    throw new Error(
      `version of message ${version.id} has a content hash that does not match its content`,
    );
  }
  if (version.deletedAt !== null && version.content !== '') {
    throw new Error(`tombstone of message ${version.id} still has content`);
  }
  decodeHlc(version.hlc);
}
