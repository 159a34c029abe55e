// The source side of sync: reads what a peer has not seen yet from the change log, as the
// current version of each changed message, and records the peer's acknowledgement. Transport-free
// (feedApi.ts binds it to HTTP), synchronous, and run in one SQLite transaction per request so the
// batch, `headSeq` and the acknowledgement all see the same state of the log. Serving writes one
// `sync_sends` row per batch, never a row per version: the acknowledgement turns it into the
// messages' sync fields, one statement per served batch.
import type Database from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import type { ChangeBatch, WireVersion } from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';
import { changeOps, type ChangeOp } from '../db/schema.ts';

export interface ChangeRequest {
  /** Serve the changes after this seq. */
  readonly after: number;
  /**
   * Everything up to this seq is on the caller (at most `after`; default `after`). A caller that
   * asks for its next batch while still applying the previous one acknowledges only what it
   * committed.
   */
  readonly acknowledged?: number;
  /** At most this many versions (distinct messages). */
  readonly limit: number;
  readonly roomIds: readonly string[];
  /** The node asking: acknowledgements are tracked per peer. */
  readonly peerNodeId: string;
  /** Also count the distinct messages changed after `after` (costs a scan; asked once per session). */
  readonly countRemaining?: boolean;
  /**
   * Seqs (at most `acknowledged`) of versions the peer refused and quarantined: FAILED here
   * instead of SYNCED, unless the message changed since.
   */
  readonly refused?: readonly number[];
  /**
   * Leave out the versions this node applied from `peerNodeId` (its echoes): the peer sent them,
   * so it holds them or newer. A live stream asks this; a FULL session does not, since it
   * compares and repairs everything.
   */
  readonly skipEchoes?: boolean;
}

/** The cursor names a change this log never had: the log was reset (e.g. a wiped data dir). */
export class CursorAheadError extends Error {
  override readonly name = 'CursorAheadError';
  constructor(
    readonly after: number,
    readonly headSeq: number,
  ) {
    super(
      `cursor ${after} is ahead of this node's change log (newest seq ${headSeq}): the log was ` +
        'reset since the cursor was stored; only a FULL sync (from 0) can recover',
    );
  }
}

export interface ChangeFeedOptions {
  readonly db: NodeDb;
  /** This node's id, sent as `sourceNodeId`. */
  readonly nodeId: string;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Largest batch, in bytes of its versions' JSON; a batch always carries at least one version.
   * With `limit` (versions) it bounds the memory a peer's pull costs this node. @default 8388608
   */
  readonly maxBatchBytes?: number;
}

interface MessageColumns {
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
}

// Room lists travel as one JSON parameter: no limit on SQLite's host parameters, one statement.
const IN_ROOMS = 'room_id IN (SELECT value FROM json_each(?))';

/** Sends a peer never acknowledged (it failed, or left) are forgotten after this long. */
const SEND_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;
/** How many sends are recorded between two prunings of the old ones. */
const PRUNE_EVERY_SENDS = 256;

/**
 * The feed's statements, prepared once: a live stream asks the feed for every batch, and preparing
 * them per request was 4% of a node's CPU in the test suite's cluster files (#18).
 */
function prepareStatements(sqlite: Database.Database) {
  return {
    headSeq: sqlite.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM change_log'),
    // Only each message's newest change: a message changed three times is served once, at its
    // newest seq, even when its older changes lie in earlier batches' range. Skipped rows are
    // covered by that newer row, so everything up to `nextAfter` is served or superseded. Without
    // echoes the rows from the peer are passed over like superseded ones: the cursor still moves
    // past them.
    latest: sqlite.prepare<
      [number, string, string | null, string | null, number],
      { seq: number; message_id: string; op: string }
    >(
      `SELECT c.seq, c.message_id, c.op FROM change_log c
        WHERE c.seq > ? AND c.${IN_ROOMS}
          AND (? IS NULL OR c.received_from IS NOT ?)
          AND c.seq = (SELECT max(l.seq) FROM change_log l WHERE l.message_id = c.message_id)
        ORDER BY c.seq LIMIT ?`,
    ),
    messages: sqlite.prepare<[string], MessageColumns>(
      `SELECT id, room_id, sender_id, content, content_hash, created_at, updated_at,
              deleted_at, hlc, origin_node
         FROM messages WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    // NOT INDEXED: for the DISTINCT, SQLite preferred walking the whole message_id index to the
    // rowid range, so asking what is left after the head cost 70 ms at a million changes (a
    // growing share of every INCREMENTAL session, which asks once); the range reads only the tail.
    remaining: sqlite.prepare<[number, string, string | null, string | null], { n: number }>(
      `SELECT count(DISTINCT message_id) AS n FROM change_log NOT INDEXED
        WHERE seq > ? AND ${IN_ROOMS} AND (? IS NULL OR received_from IS NOT ?)`,
    ),
    insertSend: sqlite.prepare<[string, string, number, number, number]>(
      'INSERT INTO sync_sends (peer_node_id, rooms, after_seq, up_to_seq, sent_at) VALUES (?, ?, ?, ?, ?)',
    ),
    pruneSends: sqlite.prepare<[number]>('DELETE FROM sync_sends WHERE sent_at < ?'),
    sends: sqlite.prepare<[string, number, string], SendRow>(
      `SELECT id, after_seq, up_to_seq, sent_at FROM sync_sends
        WHERE peer_node_id = ? AND up_to_seq <= ? AND rooms = ? ORDER BY sent_at`,
    ),
    markSent: sqlite.prepare<[number, number, number, string, number]>(
      `UPDATE messages
          SET sync_status = CASE sync_status WHEN 'PENDING' THEN 'SYNCED' ELSE sync_status END,
              last_sync_attempt = max(coalesce(last_sync_attempt, 0), ?)
        WHERE id IN (SELECT message_id FROM change_log WHERE seq > ? AND seq <= ? AND ${IN_ROOMS})
          AND NOT EXISTS (SELECT 1 FROM change_log c WHERE c.message_id = messages.id AND c.seq > ?)`,
    ),
    deleteSends: sqlite.prepare<[string]>(
      'DELETE FROM sync_sends WHERE id IN (SELECT value FROM json_each(?))',
    ),
    markUnrecorded: sqlite.prepare<[number, number, string, number]>(
      `UPDATE messages SET sync_status = 'SYNCED'
        WHERE id IN (SELECT message_id FROM change_log WHERE seq > ? AND seq <= ? AND ${IN_ROOMS})
          AND sync_status = 'PENDING'
          AND NOT EXISTS (SELECT 1 FROM change_log c WHERE c.message_id = messages.id AND c.seq > ?)`,
    ),
    markRefused: sqlite.prepare<[string, string]>(
      `UPDATE messages SET sync_status = 'FAILED'
        WHERE id IN (SELECT l.message_id FROM change_log l
                      WHERE l.seq IN (SELECT value FROM json_each(?)) AND l.${IN_ROOMS}
                        AND l.seq = (SELECT max(c.seq) FROM change_log c
                                      WHERE c.message_id = l.message_id))`,
    ),
  };
}

export class ChangeFeed {
  readonly #sqlite: Database.Database;
  readonly #sql: ReturnType<typeof prepareStatements>;
  readonly #read: Database.Transaction<(request: ChangeRequest, rooms: string) => ChangeBatch>;
  readonly #nodeId: string;
  readonly #now: () => number;
  /**
   * The highest cursor each peer acknowledged (for a room set): everything of those rooms up to
   * it was marked, so an acknowledgement only looks at the changes beyond it instead of the whole
   * log. Lost on restart: the first acknowledgement afterwards scans from 0, which is merely
   * slower.
   */
  readonly #acked = new LRUCache<string, number>({ max: 1000 });

  readonly #maxBatchBytes: number;
  #sendsSincePrune = 0;

  constructor(options: ChangeFeedOptions) {
    this.#sqlite = options.db.sqlite;
    this.#sql = prepareStatements(options.db.sqlite);
    this.#read = options.db.sqlite.transaction((request: ChangeRequest, rooms: string) =>
      this.#readBatch(request, rooms),
    );
    this.#nodeId = options.nodeId;
    this.#now = options.now ?? Date.now;
    this.#maxBatchBytes = options.maxBatchBytes ?? 8 * 1024 * 1024;
  }

  /** Reads the batch after `request.after` and acknowledges `request.acknowledged`. */
  read(request: ChangeRequest): ChangeBatch {
    // Sorted: the acknowledgement finds the sends of the same room set by this text.
    const rooms = JSON.stringify([...new Set(request.roomIds)].sort());
    // The read's writes are bookkeeping (the sends to date, the acknowledged versions' sync
    // fields), never a change-log row: losing them to a power cut only leaves versions PENDING
    // (and their `lastSyncAttempt` older) until the peer's next acknowledgement marks them again
    // (#acknowledgeUnrecorded). So that commit skips the fsync every other write of the node pays
    // (db/open.ts), unless it records versions the peer refused: a peer tells those once, and
    // FAILED must not be lost. A live stream reads the feed at every batch: these are a large
    // share of a busy node's commits. In WAL mode the next FULL commit makes these frames durable
    // too, and a torn tail never corrupts the file. (Through exec, not a prepared statement:
    // SQLite applies this pragma when it compiles it.)
    const relaxed = (request.refused?.length ?? 0) === 0;
    const sqlite = this.#sqlite;
    if (relaxed) sqlite.exec('PRAGMA synchronous = NORMAL');
    try {
      return this.#read.immediate(request, rooms);
    } finally {
      if (relaxed) sqlite.exec('PRAGMA synchronous = FULL');
    }
  }

  /** `read`'s work, in its transaction: the batch, `headSeq` and the acknowledgement agree. */
  #readBatch(request: ChangeRequest, rooms: string): ChangeBatch {
    const sql = this.#sql;
    const headSeq = sql.headSeq.get()?.seq ?? 0;
    if (request.after > headSeq) throw new CursorAheadError(request.after, headSeq);
    this.#acknowledge(request, rooms);

    const echoesOf = request.skipEchoes === true ? request.peerNodeId : null;
    const latest = sql.latest.all(request.after, rooms, echoesOf, echoesOf, request.limit);
    // A short batch reached the head: the caller has seen everything up to it.
    let nextAfter = latest.length < request.limit ? headSeq : (latest.at(-1)?.seq ?? headSeq);

    const ids = JSON.stringify(latest.map((change) => change.message_id));
    const rows = sql.messages.all(ids);
    const byId = new Map(rows.map((row) => [row.id, row]));
    const versions: WireVersion[] = [];
    let bytes = 0;
    for (const [index, change] of latest.entries()) {
      const row = byId.get(change.message_id);
      if (!row) continue;
      const version = toWire(row, change.seq, toOp(change.op));
      bytes += Buffer.byteLength(JSON.stringify(version));
      if (versions.length > 0 && bytes > this.#maxBatchBytes) {
        // Cut before this change: the caller resumes from the last one it was sent.
        nextAfter = latest[index - 1]?.seq ?? request.after;
        break;
      }
      versions.push(version);
    }
    const sentAt = this.#now();
    if (versions.length > 0) {
      this.#recordSend(request.peerNodeId, rooms, request.after, nextAfter, sentAt);
    }

    const remaining = request.countRemaining
      ? (sql.remaining.get(request.after, rooms, echoesOf, echoesOf)?.n ?? 0)
      : undefined;
    return {
      sourceNodeId: this.#nodeId,
      versions,
      nextAfter,
      headSeq,
      ...(remaining === undefined ? {} : { remaining }),
      sentAt,
    };
  }

  /** One row for the whole batch: what the acknowledgement needs to date its versions. */
  #recordSend(peer: string, rooms: string, after: number, upTo: number, at: number): void {
    this.#sql.insertSend.run(peer, rooms, after, upTo, at);
    this.#sendsSincePrune += 1;
    if (this.#sendsSincePrune >= PRUNE_EVERY_SENDS) {
      this.#sendsSincePrune = 0;
      this.#sql.pruneSends.run(at - SEND_RETENTION_MS);
    }
  }

  // The peer holds every change up to the acknowledged seq of these rooms: a message whose newest
  // change is among them now exists on another node. Each batch served to the peer within that
  // range dates its versions (`last_sync_attempt` = when it was served, the time the peer keeps
  // too) and makes them SYNCED, in one statement per batch; a message changed after its batch
  // was served keeps its newer version's fields. Then what no recorded send covers (sent before a
  // restart of this node's feed, or to another room set) still turns SYNCED from the log range.
  // The messages are found from the log range (a message never changes room, so the log's room
  // is the message's): filtering `messages` by room instead made SQLite probe its room index once
  // per room and id, 100,000 probes per batch of a 100-room session, which was most of a FULL
  // sync's cost at the source.
  #acknowledge(request: ChangeRequest, rooms: string): void {
    const upTo = Math.min(request.acknowledged ?? request.after, request.after);
    if (upTo <= 0) return;
    const sql = this.#sql;
    const sends = sql.sends.all(request.peerNodeId, upTo, rooms);
    for (const send of sends) {
      sql.markSent.run(send.sent_at, send.after_seq, send.up_to_seq, rooms, send.up_to_seq);
    }
    if (sends.length > 0) {
      sql.deleteSends.run(JSON.stringify(sends.map((send) => send.id)));
    }

    const key = `${request.peerNodeId}|${rooms}`;
    // A lower cursor than the highest one is nothing new: a peer reading the same rooms twice at
    // once (its live stream and a session) acknowledges both cursors in turn. Starting over from 0
    // then, as this once did, scanned the whole log at every other request of a FULL sync: its
    // cost grew with the square of the log.
    const from = this.#acked.get(key) ?? 0;
    // A session's batches follow each other: when its sends cover the whole range, they marked
    // everything already, and a second pass over the range would only read.
    let covered = from;
    for (const send of [...sends].sort((x, y) => x.after_seq - y.after_seq)) {
      if (send.after_seq <= covered) covered = Math.max(covered, send.up_to_seq);
    }
    if (covered < upTo) this.#acknowledgeUnrecorded(from, upTo, rooms);
    if (upTo > from) this.#acked.set(key, upTo);
    this.#refuse(request.refused ?? [], upTo, rooms);
  }

  /** SYNCED for what the acknowledged range holds that no recorded send covers. */
  #acknowledgeUnrecorded(from: number, upTo: number, rooms: string): void {
    this.#sql.markUnrecorded.run(from, upTo, rooms, upTo);
  }

  // A refused version was sent but is not held there: FAILED wins over SYNCED for that version
  // (an operator must see it; the reason is in central's quarantinedVersions). A newer change of
  // the message is a new version, with its own fields.
  #refuse(seqs: readonly number[], upTo: number, rooms: string): void {
    const refused = seqs.filter((seq) => seq > 0 && seq <= upTo);
    if (refused.length > 0) {
      this.#sql.markRefused.run(JSON.stringify(refused), rooms);
    }
  }
}

interface SendRow {
  id: number;
  after_seq: number;
  up_to_seq: number;
  sent_at: number;
}

function toOp(value: string): ChangeOp {
  const op = changeOps.find((known) => known === value);
  if (!op) throw new Error(`change log holds an unknown op "${value}"`);
  return op;
}

function toWire(row: MessageColumns, seq: number, op: ChangeOp): WireVersion {
  return {
    seq,
    op,
    id: row.id,
    roomId: row.room_id,
    senderId: row.sender_id,
    content: row.content,
    contentHash: row.content_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
    hlc: row.hlc,
    originNode: row.origin_node,
  };
}
