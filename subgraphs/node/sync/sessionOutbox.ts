// What scheduled sessions applied, quarantined and released and central has not taken yet (the
// `sync_session_outbox` table, one row per applied batch) and each session's report sequence and
// progress (`sync_session_reports`). A batch's cursor commits with the batch, so a node killed
// before central took the report carrying the batch would hold changes central's log and index
// never hear of: no later session moves them again. So `record` runs inside the transaction that
// applies a batch, `assign` gives rows a report's sequence once (a retry sends those rows again,
// and central records nothing of a sequence it recorded), `taken` drops them, and `nextLeftover`
// makes up the reports of sessions no longer running (leftoverReporter.ts).
import type Database from 'better-sqlite3';
import {
  MAX_APPLIED_PER_REPORT,
  type AppliedChange,
  type QuarantinedVersion,
} from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';

export interface OutboxEntries {
  readonly applied: readonly AppliedChange[];
  readonly quarantined: readonly QuarantinedVersion[];
  readonly released: readonly string[];
}

/** A row of the outbox: its id and what it holds. */
export interface OutboxRow extends OutboxEntries {
  readonly seq: number;
}

/** A session's cursor and counters after its latest committed batch. */
export interface SessionProgress {
  readonly cursor: number;
  readonly messagesSynced: number;
  readonly messagesChecked: number;
}

/** A report made up of outbox rows: sent, and sent again, exactly so. */
export interface OutboxReport extends OutboxEntries {
  readonly sequence: number;
}

interface CountedRow {
  seq: number;
  applied_count: number;
  quarantined_count: number;
  released_count: number;
}

/**
 * The first rows (in order) that fit one report: at most MAX_APPLIED_PER_REPORT entries per list,
 * and at least one row (a row never holds more, see `record`).
 */
export function fittingRows<R>(
  rows: readonly R[],
  counts: (row: R) => readonly [number, number, number],
): R[] {
  const taken: R[] = [];
  const sums = [0, 0, 0];
  for (const row of rows) {
    const c = counts(row);
    if (taken.length > 0 && c.some((n, i) => (sums[i] ?? 0) + n > MAX_APPLIED_PER_REPORT)) break;
    c.forEach((n, i) => (sums[i] = (sums[i] ?? 0) + n));
    taken.push(row);
  }
  return taken;
}

export class SessionOutbox {
  readonly #sqlite: Database.Database;
  readonly #statements;

  constructor(db: NodeDb) {
    const sqlite = db.sqlite;
    this.#sqlite = sqlite;
    this.#statements = {
      insert: sqlite.prepare<[string, string, string, string, number, number, number]>(
        `INSERT INTO sync_session_outbox (session_id, applied, quarantined, released,
           applied_count, quarantined_count, released_count)
         VALUES (?, ?, ?, ?, ?, ?, ?)`,
      ),
      progress: sqlite.prepare<[string, number, number, number]>(
        `INSERT INTO sync_session_reports (session_id, cursor, messages_synced, messages_checked)
         VALUES (?, ?, ?, ?)
         ON CONFLICT (session_id) DO UPDATE SET cursor = excluded.cursor,
           messages_synced = excluded.messages_synced, messages_checked = excluded.messages_checked`,
      ),
      state: sqlite.prepare<
        [string],
        { next_report: number; cursor: number; messages_synced: number; messages_checked: number }
      >(
        `SELECT next_report, cursor, messages_synced, messages_checked
           FROM sync_session_reports WHERE session_id = ?`,
      ),
      bump: sqlite.prepare<[string]>(
        'UPDATE sync_session_reports SET next_report = next_report + 1 WHERE session_id = ?',
      ),
      assignRow: sqlite.prepare<[number, number]>(
        'UPDATE sync_session_outbox SET report = ? WHERE seq = ?',
      ),
      pending: sqlite.prepare<[string], { report: number }>(
        `SELECT report FROM sync_session_outbox WHERE session_id = ? AND report IS NOT NULL
          ORDER BY seq LIMIT 1`,
      ),
      unassigned: sqlite.prepare<[string], CountedRow>(
        `SELECT seq, applied_count, quarantined_count, released_count FROM sync_session_outbox
          WHERE session_id = ? AND report IS NULL ORDER BY seq`,
      ),
      entries: sqlite.prepare<
        [string, number],
        { applied: string; quarantined: string; released: string }
      >(
        `SELECT applied, quarantined, released FROM sync_session_outbox
          WHERE session_id = ? AND report = ? ORDER BY seq`,
      ),
      drop: sqlite.prepare<[string, number]>(
        'DELETE FROM sync_session_outbox WHERE session_id = ? AND report = ?',
      ),
      anyRow: sqlite.prepare<[string], { one: number }>(
        'SELECT 1 AS one FROM sync_session_outbox WHERE session_id = ? LIMIT 1',
      ),
      forget: sqlite.prepare<[string]>('DELETE FROM sync_session_reports WHERE session_id = ?'),
      sessions: sqlite.prepare<[], { session_id: string }>(
        `SELECT session_id FROM sync_session_reports
         UNION SELECT session_id FROM sync_session_outbox`,
      ),
    };
  }

  /**
   * Call inside the transaction that applied the batch: its entries become one row (more only
   * when a list is longer than a report may carry), and the session's progress is kept. Returns
   * the rows written (none when the batch changed nothing).
   */
  record(sessionId: string, entries: OutboxEntries, progress: SessionProgress): OutboxRow[] {
    const s = this.#statements;
    s.progress.run(sessionId, progress.cursor, progress.messagesSynced, progress.messagesChecked);
    const rows: OutboxRow[] = [];
    const longest = Math.max(
      entries.applied.length,
      entries.quarantined.length,
      entries.released.length,
    );
    for (let from = 0; from < longest; from += MAX_APPLIED_PER_REPORT) {
      const to = from + MAX_APPLIED_PER_REPORT;
      const row = {
        applied: entries.applied.slice(from, to),
        quarantined: entries.quarantined.slice(from, to),
        released: entries.released.slice(from, to),
      };
      const { lastInsertRowid } = s.insert.run(
        sessionId,
        JSON.stringify(row.applied),
        JSON.stringify(row.quarantined),
        JSON.stringify(row.released),
        row.applied.length,
        row.quarantined.length,
        row.released.length,
      );
      rows.push({ seq: Number(lastInsertRowid), ...row });
    }
    return rows;
  }

  /**
   * Entries recorded outside a batch's apply (deferred versions' quarantine rows settled): their
   * own transaction, with `write`, so they are in the outbox if and only if `write` committed.
   */
  recordWith<T>(
    sessionId: string,
    write: () => T,
    entries: (written: T) => OutboxEntries,
    progress: SessionProgress,
  ): { written: T; rows: OutboxRow[] } {
    return this.#sqlite
      .transaction(() => {
        const written = write();
        return { written, rows: this.record(sessionId, entries(written), progress) };
      })
      .immediate();
  }

  /** Gives the rows the session's next report sequence, once; returns it. */
  assign(sessionId: string, rows: readonly number[]): number {
    const s = this.#statements;
    return this.#sqlite
      .transaction(() => {
        const state = s.state.get(sessionId);
        if (!state) throw new Error(`no report state for session ${sessionId}`);
        for (const seq of rows) s.assignRow.run(state.next_report, seq);
        s.bump.run(sessionId);
        return state.next_report;
      })
      .immediate();
  }

  /** Central took (or had already recorded) the report: its rows go. */
  taken(sessionId: string, sequence: number): void {
    this.#statements.drop.run(sessionId, sequence);
  }

  /** The session ended: its state goes unless rows are left (reported later, as leftovers). */
  finish(sessionId: string): boolean {
    const s = this.#statements;
    return this.#sqlite
      .transaction(() => {
        if (s.anyRow.get(sessionId) !== undefined) return false;
        s.forget.run(sessionId);
        return true;
      })
      .immediate();
  }

  /** Sessions with rows or state, other than those `running`. */
  sessions(running: ReadonlySet<string>): string[] {
    return this.#statements.sessions
      .all()
      .map((row) => row.session_id)
      .filter((id) => !running.has(id));
  }

  /**
   * A session no longer running: its report made up earlier and not taken (sent again as it
   * was), else a new one of its first unassigned rows; with the session's progress. Undefined
   * when none is left: the session's state is dropped then.
   */
  nextLeftover(sessionId: string): { report: OutboxReport; progress: SessionProgress } | undefined {
    const s = this.#statements;
    const made = this.#sqlite
      .transaction(() => {
        const state = s.state.get(sessionId);
        let sequence = s.pending.get(sessionId)?.report;
        if (sequence === undefined) {
          const rows = fittingRows(s.unassigned.all(sessionId), (r) => [
            r.applied_count,
            r.quarantined_count,
            r.released_count,
          ]);
          if (rows.length === 0 || !state) {
            // Nothing to report (or rows without state, which `record` never leaves): done.
            s.forget.run(sessionId);
            return undefined;
          }
          sequence = state.next_report;
          for (const row of rows) s.assignRow.run(sequence, row.seq);
          s.bump.run(sessionId);
        }
        const progress: SessionProgress = {
          cursor: state?.cursor ?? 0,
          messagesSynced: state?.messages_synced ?? 0,
          messagesChecked: state?.messages_checked ?? 0,
        };
        return { sequence, progress };
      })
      .immediate();
    if (!made) return undefined;
    const applied: AppliedChange[] = [];
    const quarantined: QuarantinedVersion[] = [];
    const released: string[] = [];
    for (const row of s.entries.all(sessionId, made.sequence)) {
      applied.push(...(JSON.parse(row.applied) as AppliedChange[]));
      quarantined.push(...(JSON.parse(row.quarantined) as QuarantinedVersion[]));
      released.push(...(JSON.parse(row.released) as string[]));
    }
    return {
      report: { sequence: made.sequence, applied, quarantined, released },
      progress: made.progress,
    };
  }
}
