// The node's messages. Every write (post, edit, delete, or a batch applied from a peer) changes the
// message row and appends its change-log row in ONE SQLite transaction, then, once it committed,
// publishes the event subscriptions and sync listen to. Permission checks are the caller's: this
// module keeps the data consistent, whoever asks.
import { createHash } from 'node:crypto';
import { and, asc, desc, eq, gt, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { appError } from '../../lib/errors.ts';
import type { NodeDatabase, NodeQueryable } from './db/open.ts';
import { changeLog, messages, type ChangeOp, type MessageRow } from './db/schema.ts';
import { decodeHlc, type HybridLogicalClock } from './hlc.ts';
import type { MessageEvent, MessageEvents } from './messageEvents.ts';

export function sha256Hex(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

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

export interface ApplyRemoteOptions {
  /**
   * Runs inside the batch's transaction, after the versions are written: sync stores the pair's
   * cursor here, so the cursor moves if and only if the batch committed.
   */
  readonly inTransaction?: (db: NodeQueryable) => void;
}

export interface ApplyResult {
  /** Versions that won and were written (each with a change-log row). */
  readonly applied: number;
  /** Versions this node already had, or that lost to the version it has. */
  readonly skipped: number;
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

/**
 * Which of two versions of a message wins when they meet. A tombstone beats any live version (a
 * delete is never undone by an edit made concurrently elsewhere); otherwise the greater HLC wins,
 * its node id being the final tie-break. A total order, so every node converges on the same one.
 */
export function newerVersion(
  candidate: Pick<MessageRow, 'hlc' | 'deletedAt'>,
  current: Pick<MessageRow, 'hlc' | 'deletedAt'>,
): boolean {
  const candidateDeleted = candidate.deletedAt !== null;
  if (candidateDeleted !== (current.deletedAt !== null)) return candidateDeleted;
  return candidate.hlc > current.hlc;
}

/**
 * The statements a sync batch runs once per version, built and prepared once: building a drizzle
 * query and preparing it in SQLite for every row cost more than the write itself (a FULL sync
 * profile: ~50% of the target's time). They run on the store's one connection, so inside its
 * transactions too.
 */
function prepareStatements(db: NodeDatabase) {
  const p = (name: string) => sql.placeholder(name);
  // `deletedAt` is bound raw (ms or null): drizzle's timestamp encoder does not take null.
  const remoteFields = {
    roomId: p('roomId'),
    senderId: p('senderId'),
    content: p('content'),
    contentHash: p('contentHash'),
    createdAt: p('createdAt'),
    updatedAt: p('updatedAt'),
    deletedAt: sql`${p('deletedAtMs')}`,
    hlc: p('hlc'),
    originNode: p('originNode'),
    // Another node holds this version: it came from there.
    syncStatus: sql`'SYNCED'`,
  };
  return {
    getRow: db
      .select()
      .from(messages)
      .where(eq(messages.id, p('id')))
      .prepare(),
    upsertRemote: db
      .insert(messages)
      .values({ id: p('id'), ...remoteFields })
      .onConflictDoUpdate({
        target: messages.id,
        // Every column but the id and lastSyncAttempt takes the incoming version's value.
        set: Object.fromEntries(
          Object.keys(remoteFields).map((key) => {
            const column = messages[key as keyof typeof remoteFields];
            return [key, sql.raw(`excluded.${column.name}`)];
          }),
        ),
      })
      .returning()
      .prepare(),
    appendChange: db
      .insert(changeLog)
      .values({
        messageId: p('messageId'),
        roomId: p('roomId'),
        op: p('op'),
        hlc: p('hlc'),
        originNode: p('originNode'),
        contentHash: p('contentHash'),
        at: p('at'),
      })
      .prepare(),
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

  post(input: NewMessage): MessageRow {
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
      this.#log(tx, row, 'create', at);
      return row;
    });
    this.#publish([{ kind: 'added', message: row, source: 'local' }]);
    return row;
  }

  /** A new version with new content. NOT_FOUND for an unknown id, CONFLICT for a deleted message. */
  edit(id: string, content: string): MessageRow {
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
      this.#log(tx, row, 'update', at);
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
      this.#log(tx, row, 'delete', at);
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
    const { getRow: getRowStatement, upsertRemote } = this.#statements;
    const result = this.#write((tx) => {
      let applied = 0;
      for (const version of versions) {
        checkVersion(version);
        const current = getRowStatement.get({ id: version.id });
        if (current && !newerVersion(version, current)) continue;
        // Merging the remote clock keeps every later local write newer than what was seen here.
        this.#clock.receive(version.hlc);
        const row = upsertRemote.get({
          id: version.id,
          roomId: version.roomId,
          senderId: version.senderId,
          content: version.content,
          contentHash: version.contentHash,
          createdAt: version.createdAt,
          updatedAt: version.updatedAt,
          deletedAtMs: version.deletedAt?.getTime() ?? null,
          hlc: version.hlc,
          originNode: version.originNode,
        });
        if (!row) throw new Error(`message ${version.id} was not written`);
        const op: ChangeOp = !current
          ? 'create'
          : row.deletedAt !== null && current.deletedAt === null
            ? 'delete'
            : 'update';
        this.#log(tx, row, op, new Date(this.#now()));
        events.push({ kind: current ? 'changed' : 'added', message: row, source: 'remote' });
        applied += 1;
      }
      options.inTransaction?.(tx);
      return { applied, skipped: versions.length - applied };
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
  #log(_tx: NodeQueryable, row: MessageRow, op: ChangeOp, at: Date): void {
    this.#statements.appendChange.run({
      messageId: row.id,
      roomId: row.roomId,
      op,
      hlc: row.hlc,
      originNode: decodeHlc(row.hlc).node,
      contentHash: row.contentHash,
      at,
    });
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

function checkVersion(version: RemoteVersion): void {
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
