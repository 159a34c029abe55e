// The target's record of live replication, kept until central took it: windows (one open at a
// time per source; each is a SyncSession at central) and the outbox of what they applied,
// quarantined and released. `record` runs inside the transaction that applies a batch, so a change
// is in the outbox if and only if it was applied. Reports are made up from the outbox once (the
// rows get the report's sequence) and sent again unchanged until central took them, so a retry
// after a lost answer carries exactly what central may already have recorded.
import type Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import {
  MAX_APPLIED_PER_REPORT,
  type AppliedChange,
  type LiveReport,
  type QuarantinedVersion,
} from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';

/**
 * A window closes after this long without a change from its source (the node's
 * `--sync-live-window-idle-ms`). Each window is a session row at central, opened, reported and
 * closed: a short idle bound makes a window per burst of a quiet pair, and with many nodes (many
 * pairs, each with a few changes a second) that per-window work, not the changes, is what central
 * spends its time on. Measured (bench/replicationScale.ts, 12 nodes, 200 posts/s): 1 s made ~20
 * windows a second and cost central 657 ms of CPU per 1000 changes; 10 s, 403 ms (3 nodes: ~310
 * either way). The price: a window shows IN_PROGRESS for up to this long after its last change.
 */
export const WINDOW_IDLE_MS = 10_000;
/** A window closes once it holds this many versions (the next change opens another). */
export const WINDOW_MAX_VERSIONS = 5000;
/**
 * When the node's open windows report (all together, in one request): once REPORT_GATHER_VERSIONS
 * new versions were gathered across them, or REPORT_GATHER_MS after a window's last report (or
 * after the reporter first saw it) at the latest, or at once when a window closed or filled a
 * report. Central's cost is mostly per request: with the node's rate of changes, not the clock,
 * deciding when a request goes, central's work per change does not grow with the number of nodes
 * the same changes are spread over (a cluster twice the size sends each node's requests half as
 * often), as long as a node gathers REPORT_GATHER_VERSIONS within REPORT_GATHER_MS; below that
 * rate a node sends a request every REPORT_GATHER_MS, each carrying what it has, and a window's
 * progress reaches central (and `syncSessionUpdated`) that much later.
 *
 * A busy node's requests are larger than the count: what arrives while the previous one is in
 * flight adds to it. With 128 / 4 s the 3-node scale benchmark (133 changes/s per node) sent about
 * 195 versions a request and the 12-node one (33/s per node, at the clock's boundary) about 128:
 * 1.5x the requests for the same changes, and central's CPU per change followed
 * (bench/replicationScale.ts). With 256 the count dominates at both sizes and a busy node sends
 * half as many requests; the clock's bound stays at the same rate (32/s), and an open window's
 * progress reaches central at most 8 s late.
 */
export const REPORT_GATHER_MS = 8000;
export const REPORT_GATHER_VERSIONS = 256;

export interface LiveChanges {
  readonly applied: readonly AppliedChange[];
  readonly quarantined: readonly QuarantinedVersion[];
  readonly released: readonly string[];
}

interface WindowRow {
  id: string;
  source_node_id: string;
  cursor_before: number;
  cursor: number;
  source_head_seq: number;
  versions: number;
  closed_at: number | null;
  next_report: number;
  pending_report: number | null;
  pending_final: number;
}

export class LiveOutbox {
  readonly #sqlite: Database.Database;
  readonly #now: () => number;
  readonly #statements;
  /** Per open window: when its last report was made, its versions then, whether it was full. */
  readonly #lastReport = new Map<string, { at: number; versions: number; full: boolean }>();

  constructor(db: NodeDb, now: () => number = Date.now) {
    this.#sqlite = db.sqlite;
    this.#now = now;
    const sqlite = db.sqlite;
    this.#statements = {
      open: sqlite.prepare<[string], { id: string; versions: number }>(
        'SELECT id, versions FROM sync_live_windows WHERE source_node_id = ? AND closed_at IS NULL',
      ),
      insertWindow: sqlite.prepare<[string, string, number, number, number, number, number]>(
        `INSERT INTO sync_live_windows (id, source_node_id, cursor_before, cursor, source_head_seq,
           versions, opened_at, last_change_at)
         VALUES (?, ?, ?, ?, ?, 0, ?, ?)`,
      ),
      insertEntry: sqlite.prepare<[string, string, string]>(
        'INSERT INTO sync_live_outbox (window_id, kind, entry) VALUES (?, ?, ?)',
      ),
      grow: sqlite.prepare<[number, number, number, number, number, number, string]>(
        `UPDATE sync_live_windows SET versions = versions + ?, last_change_at = ?, cursor = ?,
           source_head_seq = ?,
           closed_at = CASE WHEN versions + ? >= ${WINDOW_MAX_VERSIONS} THEN ? ELSE NULL END
         WHERE id = ?`,
      ),
      advance: sqlite.prepare<[number, number, string]>(
        `UPDATE sync_live_windows SET cursor = max(cursor, ?), source_head_seq = ?
         WHERE source_node_id = ? AND closed_at IS NULL`,
      ),
      closeIdle: sqlite.prepare<[number, number]>(
        'UPDATE sync_live_windows SET closed_at = ? WHERE closed_at IS NULL AND last_change_at <= ?',
      ),
      closeOf: sqlite.prepare<[number, string]>(
        'UPDATE sync_live_windows SET closed_at = ? WHERE closed_at IS NULL AND source_node_id = ?',
      ),
      windows: sqlite.prepare<[], WindowRow>(
        `SELECT id, source_node_id, cursor_before, cursor, source_head_seq, versions, closed_at,
                next_report, pending_report, pending_final
           FROM sync_live_windows ORDER BY opened_at, id`,
      ),
      openCount: sqlite.prepare<[], { n: number }>('SELECT count(*) AS n FROM sync_live_windows'),
      assign: sqlite.prepare<[number, string, number]>(
        `UPDATE sync_live_outbox SET report = ? WHERE seq IN (
           SELECT seq FROM sync_live_outbox WHERE window_id = ? AND report IS NULL
            ORDER BY seq LIMIT ?)`,
      ),
      unassigned: sqlite.prepare<[string], { one: number }>(
        'SELECT 1 AS one FROM sync_live_outbox WHERE window_id = ? AND report IS NULL LIMIT 1',
      ),
      pend: sqlite.prepare<[number, number, number, string]>(
        `UPDATE sync_live_windows SET pending_report = ?, pending_final = ?, next_report = ?
         WHERE id = ?`,
      ),
      entries: sqlite.prepare<[string, number], { kind: string; entry: string }>(
        'SELECT kind, entry FROM sync_live_outbox WHERE window_id = ? AND report = ? ORDER BY seq',
      ),
      dropEntries: sqlite.prepare<[string, number]>(
        'DELETE FROM sync_live_outbox WHERE window_id = ? AND report = ?',
      ),
      dropWindow: sqlite.prepare<[string]>('DELETE FROM sync_live_windows WHERE id = ?'),
      settle: sqlite.prepare<[string]>(
        'UPDATE sync_live_windows SET pending_report = NULL, pending_final = 0 WHERE id = ?',
      ),
    };
  }

  /**
   * Call inside the transaction that applied the batch: its changes go to the source's open
   * window (opened now if none is). A batch that changed nothing only moves the open window's
   * cursor. Returns whether anything was recorded.
   */
  record(
    sourceNodeId: string,
    changes: LiveChanges,
    cursorBefore: number,
    cursor: number,
    sourceHeadSeq: number,
  ): boolean {
    const s = this.#statements;
    const count = changes.applied.length + changes.quarantined.length + changes.released.length;
    if (count === 0) {
      s.advance.run(cursor, sourceHeadSeq, sourceNodeId);
      return false;
    }
    const now = this.#now();
    let window = s.open.get(sourceNodeId);
    if (!window) {
      window = { id: uuidv7(), versions: 0 };
      s.insertWindow.run(window.id, sourceNodeId, cursorBefore, cursor, sourceHeadSeq, now, now);
    }
    for (const change of changes.applied)
      s.insertEntry.run(window.id, 'applied', JSON.stringify(change));
    for (const q of changes.quarantined)
      s.insertEntry.run(window.id, 'quarantined', JSON.stringify(q));
    for (const id of changes.released) s.insertEntry.run(window.id, 'released', JSON.stringify(id));
    const versions = changes.applied.length + changes.quarantined.length;
    s.grow.run(versions, now, cursor, sourceHeadSeq, versions, now, window.id);
    return true;
  }

  /** Closes the windows without a change for `idleMs`. */
  closeIdle(idleMs = WINDOW_IDLE_MS): void {
    const now = this.#now();
    this.#statements.closeIdle.run(now, now - idleMs);
  }

  /** Closes the source's open window (its stream stopped: the next change opens a new one). */
  closeOf(sourceNodeId: string): void {
    this.#statements.closeOf.run(this.#now(), sourceNodeId);
  }

  /** Whether any window is still to be reported (open, or closed without its last report taken). */
  get pending(): boolean {
    return (this.#statements.openCount.get()?.n ?? 0) > 0;
  }

  /**
   * The next report of every window that has one: its report made up earlier and not taken yet,
   * or a new one of its unreported entries (at most MAX_APPLIED_PER_REPORT), final once the window
   * is closed and nothing else is left. Oldest windows first.
   */
  reports(): LiveReport[] {
    const s = this.#statements;
    const reports: LiveReport[] = [];
    const now = this.#now();
    const windows = s.windows.all();
    // One window due takes the others along: they go to central in the same request (the
    // reporter sends a round's reports together), so a node's requests follow its rounds, not
    // its windows, whose gathering times would otherwise drift apart.
    let anyDue = false;
    let gathered = 0;
    for (const window of windows) {
      if (window.pending_report !== null) continue;
      let previous = this.#lastReport.get(window.id);
      if (!previous) {
        previous = { at: now, versions: 0, full: false };
        this.#lastReport.set(window.id, previous);
      }
      if (window.closed_at !== null) {
        anyDue = true;
        continue;
      }
      // A quiet window past its time is not due: it would take the others along every round.
      if (s.unassigned.get(window.id) === undefined) continue;
      if (previous.full || now - previous.at >= REPORT_GATHER_MS) anyDue = true;
      gathered += window.versions - previous.versions;
    }
    if (gathered >= REPORT_GATHER_VERSIONS) anyDue = true;
    for (const window of windows) {
      let sequence = window.pending_report;
      let final = window.pending_final === 1;
      if (sequence === null) {
        if (!anyDue) continue;
        const made = this.#sqlite
          .transaction(() => {
            const assigned = s.assign.run(window.next_report, window.id, MAX_APPLIED_PER_REPORT);
            const closed = window.closed_at !== null;
            const last = closed && s.unassigned.get(window.id) === undefined;
            if (assigned.changes === 0 && !last) return undefined;
            s.pend.run(window.next_report, last ? 1 : 0, window.next_report + 1, window.id);
            return {
              sequence: window.next_report,
              final: last,
              full: assigned.changes >= MAX_APPLIED_PER_REPORT,
            };
          })
          .immediate();
        if (!made) continue;
        this.#lastReport.set(window.id, { at: now, versions: window.versions, full: made.full });
        ({ sequence, final } = made);
      }
      const applied: AppliedChange[] = [];
      const quarantined: QuarantinedVersion[] = [];
      const released: string[] = [];
      for (const row of s.entries.all(window.id, sequence)) {
        const entry = JSON.parse(row.entry) as unknown;
        if (row.kind === 'applied') applied.push(entry as AppliedChange);
        else if (row.kind === 'quarantined') quarantined.push(entry as QuarantinedVersion);
        else released.push(entry as string);
      }
      reports.push({
        windowId: window.id,
        sourceNodeId: window.source_node_id,
        sequence,
        final,
        cursorBefore: window.cursor_before,
        cursor: window.cursor,
        sourceHeadSeq: Math.max(window.source_head_seq, window.cursor),
        applied,
        ...(quarantined.length === 0 ? {} : { quarantined }),
        ...(released.length === 0 ? {} : { released }),
      });
    }
    return reports;
  }

  /** Central took the report (or had it already): its entries go, and with the last the window. */
  taken(report: Pick<LiveReport, 'windowId' | 'sequence' | 'final'>): void {
    const s = this.#statements;
    this.#sqlite
      .transaction(() => {
        s.dropEntries.run(report.windowId, report.sequence);
        if (report.final) {
          s.dropWindow.run(report.windowId);
          this.#lastReport.delete(report.windowId);
        } else s.settle.run(report.windowId);
      })
      .immediate();
  }
}
