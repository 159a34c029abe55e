// What scheduled sessions applied and central has not taken yet (the `sync_session_outbox`
// table). A session's reports are made up in memory (reportQueue.ts), but the changes they carry
// are committed before central answers: a node killed in between would hold changes that
// central's log and index never hear of, since its cursor is already past them and no later
// session moves them again. So `record` runs inside the transaction that applies a batch, `taken`
// drops what central took, and `leftovers` hands a new process what its predecessor left.
import type Database from 'better-sqlite3';
import type { AppliedChange } from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';

/** A previous process's session with changes central never took. */
export interface LeftoverSession {
  readonly sessionId: string;
  /** In the order they were applied. */
  readonly applied: readonly AppliedChange[];
  /** The pair's cursor after the last of them. */
  readonly cursor: number;
}

export class SessionOutbox {
  readonly #statements;

  constructor(db: NodeDb) {
    const sqlite: Database.Database = db.sqlite;
    this.#statements = {
      insert: sqlite.prepare<[string, string, number]>(
        'INSERT INTO sync_session_outbox (session_id, entry, cursor) VALUES (?, ?, ?)',
      ),
      take: sqlite.prepare<[string, number]>(
        `DELETE FROM sync_session_outbox WHERE seq IN (
           SELECT seq FROM sync_session_outbox WHERE session_id = ? ORDER BY seq LIMIT ?)`,
      ),
      all: sqlite.prepare<[], { session_id: string; entry: string; cursor: number }>(
        'SELECT session_id, entry, cursor FROM sync_session_outbox ORDER BY seq',
      ),
    };
  }

  /** Call inside the transaction that applied the batch. */
  record(sessionId: string, applied: readonly AppliedChange[], cursor: number): void {
    for (const change of applied)
      this.#statements.insert.run(sessionId, JSON.stringify(change), cursor);
  }

  /** Central took the session's first `count` unreported changes (reports go out in order). */
  taken(sessionId: string, count: number): void {
    if (count > 0) this.#statements.take.run(sessionId, count);
  }

  /** Every session with changes not taken, oldest first; read once, when the node starts. */
  leftovers(): LeftoverSession[] {
    const sessions = new Map<string, { applied: AppliedChange[]; cursor: number }>();
    for (const row of this.#statements.all.all()) {
      const session = sessions.get(row.session_id) ?? { applied: [], cursor: 0 };
      session.applied.push(JSON.parse(row.entry) as AppliedChange);
      session.cursor = Math.max(session.cursor, row.cursor);
      sessions.set(row.session_id, session);
    }
    return [...sessions].map(([sessionId, s]) => ({ sessionId, ...s }));
  }
}
