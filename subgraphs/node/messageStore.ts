// The node's messages. Every write (post, edit, delete, or a batch applied from a peer) changes the
// message row and appends its change-log row in ONE SQLite transaction, then, once it committed,
// publishes the event subscriptions and sync listen to. Permission checks are the caller's: this
// module keeps the data consistent, whoever asks.
import { and, asc, desc, eq, gt, gte, lt, lte, type SQL } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../lib/errors.ts';
import type { NodeDatabase, NodeQueryable } from './db/open.ts';
import { messages, type ChangeOp, type MessageRow } from './db/schema.ts';
import { decodeHlc, type HybridLogicalClock } from './hlc.ts';
import type { MessageEvent, MessageEvents } from './messageEvents.ts';
import { illFormedContent, sha256Hex } from './content.ts';

export { sha256Hex };

export interface NewMessage {
  readonly roomId: string;
  readonly senderId: string;
  readonly content: string;
}

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

/**
 * The statements a sync batch runs once per version, prepared once, on better-sqlite3 directly:
 * building a drizzle query and preparing it per row cost more than the write itself (a FULL sync
 * profile: ~50% of the target's time), and even prepared, drizzle's row mapping (a Date per
 * timestamp) was a fifth of an apply. They run on the store's one connection, so inside its
 * transactions too. Timestamps are epoch milliseconds, as drizzle's `timestamp_ms` stores them.
 */
function prepareStatements(db: NodeDatabase) {
  const sqlite = db.$client;
  return {
    /** What deciding a remote version needs of the current one, and what the row keeps. */
    current: sqlite.prepare<
      [string],
      {
        hlc: string;
        deleted_at: number | null;
        last_sync_attempt: number | null;
        room_id: string;
        sender_id: string;
        origin_node: string;
        created_at: number;
      }
    >(
      `SELECT hlc, deleted_at, last_sync_attempt, room_id, sender_id, origin_node, created_at
       FROM messages WHERE id = ?`,
    ),
    /**
     * Every column but the id and last_sync_attempt takes the incoming version's value; another
     * node holds this version (it came from there), so it is SYNCED.
     */
    upsertRemote: sqlite.prepare<
      [string, string, string, string, string, number, number, number | null, string, string]
    >(
      `INSERT INTO messages (id, room_id, sender_id, content, content_hash, created_at,
                             updated_at, deleted_at, hlc, origin_node, sync_status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'SYNCED')
       ON CONFLICT (id) DO UPDATE SET
         room_id = excluded.room_id, sender_id = excluded.sender_id, content = excluded.content,
         content_hash = excluded.content_hash, created_at = excluded.created_at,
         updated_at = excluded.updated_at, deleted_at = excluded.deleted_at, hlc = excluded.hlc,
         origin_node = excluded.origin_node, sync_status = excluded.sync_status`,
    ),
    appendChange: sqlite.prepare<[string, string, ChangeOp, string, string, string, number]>(
      `INSERT INTO change_log (message_id, room_id, op, hlc, origin_node, content_hash, at)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
  };
}

export class MessageStore {
  readonly #db: NodeDatabase;
  readonly #clock: HybridLogicalClock;
  readonly #events: MessageEvents;
  readonly #now: () => number;
  readonly #statements: ReturnType<typeof prepareStatements>;

  constructor(options: MessageStoreOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#events = options.events;
    this.#now = options.now ?? Date.now;
    this.#statements = prepareStatements(options.db);
  }

  /** Central's id of this node: the origin of messages posted here. */
  get nodeId(): string {
    return this.#clock.nodeId;
  }

  get(id: string): MessageRow | undefined {
    return getRow(this.#db, id);
  }

  /** BAD_USER_INPUT for content that is not well-formed Unicode (see content.ts). */
  post(input: NewMessage): MessageRow {
    requireWellFormed(input.content);
    const row = this.#write((tx) => {
      const at = new Date(this.#now());
      const contentHash = sha256Hex(input.content);
      const row = tx
        .insert(messages)
        .values({
          id: uuidv7(),
          roomId: input.roomId,
          senderId: input.senderId,
          content: input.content,
          contentHash,
          createdAt: at,
          updatedAt: at,
          deletedAt: null,
          hlc: this.#clock.now(),
          originNode: this.nodeId,
          syncStatus: 'PENDING',
          lastSyncAttempt: null,
        })
        .returning()
        .get();
      this.#log(row, 'create', at);
      return row;
    });
    this.#publish([{ kind: 'added', message: row, source: 'local' }]);
    return row;
  }

  /** A new version with new content. NOT_FOUND for an unknown id, CONFLICT for a deleted message. */
  edit(id: string, content: string): MessageRow {
    requireWellFormed(content);
    const row = this.#write((tx) => {
      const current = requireLive(tx, id);
      const at = new Date(this.#now());
      const row = tx
        .update(messages)
        .set({
          content,
          contentHash: sha256Hex(content),
          updatedAt: at,
          hlc: this.#clock.now(),
          syncStatus: 'PENDING',
        })
        .where(eq(messages.id, current.id))
        .returning()
        .get();
      this.#log(row, 'update', at);
      return row;
    });
    this.#publish([{ kind: 'changed', message: row, source: 'local' }]);
    return row;
  }

  /**
   * Turns the message into a tombstone: content emptied, `deletedAt` set, row kept so the delete
   * syncs like any other version. Deleting a tombstone again returns it and writes nothing.
   */
  delete(id: string): MessageRow {
    let changed = false;
    const row = this.#write((tx) => {
      const current = getRow(tx, id);
      if (!current) throw appError('NOT_FOUND', `no message ${id} on this node`);
      if (current.deletedAt !== null) return current;
      const at = new Date(this.#now());
      const row = tx
        .update(messages)
        .set({
          content: '',
          contentHash: sha256Hex(''),
          updatedAt: at,
          deletedAt: at,
          hlc: this.#clock.now(),
          syncStatus: 'PENDING',
        })
        .where(eq(messages.id, id))
        .returning()
        .get();
      this.#log(row, 'delete', at);
      changed = true;
      return row;
    });
    if (changed) this.#publish([{ kind: 'changed', message: row, source: 'local' }]);
    return row;
  }

  /**
   * Writes the versions that win over what this node has (see `newerVersion`), all in one
   * transaction with their change-log rows; replays and duplicates change nothing. Throws, writing
   * nothing, when a version is inconsistent or its clock is too far in the future (HlcDriftError).
   */
  applyRemote(versions: readonly RemoteVersion[], options: ApplyRemoteOptions = {}): ApplyResult {
    const events: MessageEvent[] = [];
    const { current: currentStatement, upsertRemote } = this.#statements;
    const result = this.#write((tx) => {
      const written: { version: RemoteVersion; op: ChangeOp }[] = [];
      let refused = 0;
      const at = new Date(this.#now());
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
          lastSyncAttempt:
            current?.last_sync_attempt == null ? null : new Date(current.last_sync_attempt),
        };
        const op: ChangeOp = !current
          ? 'create'
          : version.deletedAt !== null && !currentDeleted
            ? 'delete'
            : 'update';
        this.#log(row, op, at);
        events.push({ kind: current ? 'changed' : 'added', message: row, source: 'remote' });
        written.push({ version, op });
      }
      const applied = written.length;
      const result = { applied, skipped: versions.length - applied - refused, written };
      options.inTransaction?.(tx, result);
      return result;
    });
    this.#publish(events);
    return result;
  }

  page(roomId: string, query: PageQuery): Page {
    const inRoom = eq(messages.roomId, roomId);
    const range: SQL[] = [inRoom];
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
    return this.#db.transaction(body, { behavior: 'immediate' });
  }

  /** Appends the change-log row of a write; called inside that write's transaction. */
  #log(row: MessageRow, op: ChangeOp, at: Date): void {
    this.#statements.appendChange.run(
      row.id,
      row.roomId,
      op,
      row.hlc,
      decodeHlc(row.hlc).node,
      row.contentHash,
      at.getTime(),
    );
  }

  #publish(events: readonly MessageEvent[]): void {
    for (const event of events) this.#events.publish(event);
  }
}

function getRow(db: NodeQueryable, id: string): MessageRow | undefined {
  return db.select().from(messages).where(eq(messages.id, id)).get();
}

function requireLive(db: NodeQueryable, id: string): MessageRow {
  const row = getRow(db, id);
  if (!row) throw appError('NOT_FOUND', `no message ${id} on this node`);
  if (row.deletedAt !== null)
    throw appError('CONFLICT', `message ${id} was deleted and can no longer be edited`);
  return row;
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
