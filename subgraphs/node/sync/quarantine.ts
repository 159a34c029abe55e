// Versions a source sent that this node would not apply, kept aside with why (table
// `sync_quarantine`) so one bad version never stops the rest of its batch, and nothing is dropped
// without a trace. Both writes run inside the transaction that applies the batch and moves the
// cursor: a batch's quarantine rows exist if and only if the batch committed.
//
// A version whose only fault is an HLC too far ahead of this node's clock is DEFERRED, not
// refused: its row carries `deferred_until`, and the puller applies it (writer checks and all)
// on the first batch from its source once that time has come (sync/deferredVersions.ts asks for
// that batch when no one else does).
import type Database from 'better-sqlite3';
import type { QuarantinedVersion } from '../../../lib/syncProtocol.ts';
import { eq } from 'drizzle-orm';
import type { NodeDb, NodeQueryable } from '../db/open.ts';
import { syncQuarantine, type SyncQuarantineRow } from '../db/schema.ts';

/** A refused version as the quarantine keeps it. */
export interface Refusal extends QuarantinedVersion {
  /** The version as received, JSON. */
  readonly json: string;
  /** Deferred (an HLC too far ahead) until this time, not refused. */
  readonly deferUntil?: number;
}

/** A deferred version whose time has come. */
export interface DueVersion {
  readonly seq: number;
  /** As received. */
  readonly version: unknown;
}

export class Quarantine {
  readonly #insert: Database.Statement<
    [string, number, string, string, string, string, string, number, number | null]
  >;
  readonly #anyFrom: Database.Statement<[string], { one: number }>;
  readonly #release: Database.Statement<[string, string, number]>;
  readonly #due: Database.Statement<[string, number], { seq: number; version: string }>;
  readonly #settle: Database.Statement<[string, number], { message_id: string }>;
  readonly #dueSources: Database.Statement<[number], { source_node_id: string }>;
  readonly #deferredCount: Database.Statement<[], { n: number }>;
  readonly #db: NodeQueryable;

  constructor(db: NodeDb) {
    this.#db = db.db;
    // A replayed batch refuses the same versions again: their rows exist already and stay as
    // they are. Another version at a seq already kept (the source's log was reset) replaces it.
    this.#insert = db.sqlite.prepare(
      `INSERT INTO sync_quarantine
         (source_node_id, seq, message_id, room_id, hlc, reason, version, quarantined_at,
          deferred_until)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (source_node_id, seq) DO UPDATE SET
         message_id = excluded.message_id, room_id = excluded.room_id, hlc = excluded.hlc,
         reason = excluded.reason, version = excluded.version,
         quarantined_at = excluded.quarantined_at, deferred_until = excluded.deferred_until
       WHERE version <> excluded.version OR reason <> excluded.reason
         OR deferred_until IS NOT excluded.deferred_until`,
    );
    this.#due = db.sqlite.prepare(
      `SELECT seq, version FROM sync_quarantine
       WHERE source_node_id = ? AND deferred_until IS NOT NULL AND deferred_until <= ?
       ORDER BY seq`,
    );
    this.#settle = db.sqlite.prepare(
      `DELETE FROM sync_quarantine
       WHERE source_node_id = ? AND seq = ? AND deferred_until IS NOT NULL RETURNING message_id`,
    );
    this.#dueSources = db.sqlite.prepare(
      `SELECT DISTINCT source_node_id FROM sync_quarantine
       WHERE deferred_until IS NOT NULL AND deferred_until <= ?`,
    );
    this.#deferredCount = db.sqlite.prepare(
      'SELECT count(*) AS n FROM sync_quarantine WHERE deferred_until IS NOT NULL',
    );
    this.#anyFrom = db.sqlite.prepare(
      'SELECT 1 AS one FROM sync_quarantine WHERE source_node_id = ? LIMIT 1',
    );
    this.#release = db.sqlite.prepare(
      // A deferred version is not released by a later one: it goes through the apply when due,
      // where HLC order (newerVersion) decides, as the source's own order may not.
      'DELETE FROM sync_quarantine WHERE source_node_id = ? AND message_id = ? AND seq <= ? AND deferred_until IS NULL',
    );
  }

  /** Keeps the refusals aside; returns the ones not already kept as they are (a replay adds nothing). */
  keep(sourceNodeId: string, refusals: readonly Refusal[], at: number): QuarantinedVersion[] {
    const added: QuarantinedVersion[] = [];
    for (const r of refusals) {
      const { changes } = this.#insert.run(
        sourceNodeId,
        r.seq,
        r.messageId,
        r.roomId,
        r.hlc,
        r.reason,
        r.json,
        at,
        r.deferUntil ?? null,
      );
      if (changes > 0) {
        added.push({
          messageId: r.messageId,
          roomId: r.roomId,
          hlc: r.hlc,
          seq: r.seq,
          reason: r.reason,
        });
      }
    }
    return added;
  }

  /**
   * A version of each message that came from the source at `seq` and applied replaces whatever
   * that source sent of the message before (or the same version, now accepted): its quarantined
   * versions up to `seq` go. Returns the messages released. One lookup per batch when the source
   * has nothing quarantined, which is the usual case.
   */
  release(
    sourceNodeId: string,
    applied: readonly { readonly messageId: string; readonly seq: number }[],
  ): string[] {
    if (applied.length === 0 || this.#anyFrom.get(sourceNodeId) === undefined) return [];
    const released: string[] = [];
    for (const { messageId, seq } of applied) {
      if (this.#release.run(sourceNodeId, messageId, seq).changes > 0) released.push(messageId);
    }
    return released;
  }

  /**
   * The source's deferred versions within the bound at `now` (the reference clock), in seq
   * order, of the given rooms only (a session applies nothing outside its rooms).
   */
  due(sourceNodeId: string, roomIds: readonly string[], now: number): DueVersion[] {
    const rooms = new Set(roomIds);
    const due: DueVersion[] = [];
    for (const row of this.#due.all(sourceNodeId, now)) {
      const version = JSON.parse(row.version) as { roomId?: unknown };
      if (typeof version.roomId === 'string' && rooms.has(version.roomId)) {
        due.push({ seq: row.seq, version });
      }
    }
    return due;
  }

  /**
   * Ends the deferral of these versions, once they went through an apply: applied, lost to a newer
   * version, or refused and quarantined (then their row is a quarantine row: kept). Returns the
   * messages whose deferred version is gone.
   */
  settle(sourceNodeId: string, seqs: readonly number[]): string[] {
    const settled: string[] = [];
    for (const seq of seqs) {
      const row = this.#settle.get(sourceNodeId, seq);
      if (row) settled.push(row.message_id);
    }
    return settled;
  }

  /** Sources with a deferred version within the bound at `now`. */
  sourcesDue(now: number): string[] {
    return this.#dueSources.all(now).map((row) => row.source_node_id);
  }

  /** How many versions are deferred, for /metrics. */
  deferredCount(): number {
    return this.#deferredCount.get()?.n ?? 0;
  }

  /** What is kept aside, in the order it came; of one source when given. */
  list(sourceNodeId?: string): SyncQuarantineRow[] {
    const query = this.#db.select().from(syncQuarantine);
    const rows =
      sourceNodeId === undefined
        ? query
        : query.where(eq(syncQuarantine.sourceNodeId, sourceNodeId));
    return rows.orderBy(syncQuarantine.quarantinedAt, syncQuarantine.seq).all();
  }
}
