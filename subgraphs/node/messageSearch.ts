// Full-text search over this node's live messages (the messages_fts index, kept by triggers in
// migration 0007). Hits are ordered by bm25 (lower is more relevant), then newest first, then by
// id: a total order, so a cursor naming the last hit's (score, createdAt, id) resumes exactly
// after it, on this node or, merged, across nodes (the gateway uses the same cursor).
import type Database from 'better-sqlite3';
import { appError } from '../../lib/errors.ts';
import { ftsExpression, type SearchTerm } from '../../lib/searchQuery.ts';

/** Where a page of hits resumes: the last hit's sort key. */
export interface SearchPosition {
  readonly score: number;
  readonly createdAt: number;
  readonly id: string;
}

export interface SearchRequest {
  readonly terms: readonly SearchTerm[];
  readonly roomIds: readonly string[];
  readonly senderIds?: readonly string[] | undefined;
  readonly before?: number | undefined;
  readonly after?: number | undefined;
  readonly position?: SearchPosition | undefined;
  readonly limit: number;
}

export interface SearchHighlightMatch {
  readonly start: number;
  readonly length: number;
}

export interface SearchHit extends SearchPosition {
  readonly snippet: string;
  readonly matches: readonly SearchHighlightMatch[];
}

export interface SearchPage {
  readonly hits: readonly SearchHit[];
  readonly hasNextPage: boolean;
  /** Matches on this node when it answered. */
  readonly totalCount: number;
}

const OPEN = '\u0002';
const CLOSE = '\u0003';
const SNIPPET_TOKENS = 24;

export function encodeSearchCursor(position: SearchPosition): string {
  return Buffer.from(JSON.stringify([position.score, position.createdAt, position.id])).toString(
    'base64url',
  );
}

export function decodeSearchCursor(cursor: string): SearchPosition {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 3 &&
      typeof value[0] === 'number' &&
      Number.isFinite(value[0]) &&
      Number.isSafeInteger(value[1]) &&
      typeof value[2] === 'string' &&
      value[2].length <= 64
    )
      return { score: value[0], createdAt: value[1] as number, id: value[2] };
  } catch {
    // Falls through to the error below: a cursor is opaque, whatever broke it.
  }
  throw appError('BAD_USER_INPUT', 'after is not a cursor of searchMessages');
}

/** The snippet without its markers, and where each marked match starts and how long it is. */
export function parseHighlight(marked: string): {
  snippet: string;
  matches: SearchHighlightMatch[];
} {
  let snippet = '';
  const matches: SearchHighlightMatch[] = [];
  let open = -1;
  for (const c of marked) {
    if (c === OPEN) open = snippet.length;
    else if (c === CLOSE && open >= 0) {
      matches.push({ start: open, length: snippet.length - open });
      open = -1;
    } else snippet += c;
  }
  return { snippet, matches };
}

export class MessageSearch {
  readonly #db: Database.Database;

  constructor(db: Database.Database) {
    this.#db = db;
  }

  search(request: SearchRequest): SearchPage {
    if (request.roomIds.length === 0) return { hits: [], hasNextPage: false, totalCount: 0 };
    const match = ftsExpression(request.terms);
    const filters = ['messages_fts MATCH ?', 'm.room_id IN (SELECT value FROM json_each(?))'];
    const params: unknown[] = [match, JSON.stringify(request.roomIds)];
    if (request.senderIds !== undefined) {
      filters.push('m.sender_id IN (SELECT value FROM json_each(?))');
      params.push(JSON.stringify(request.senderIds));
    }
    if (request.before !== undefined) {
      filters.push('m.created_at < ?');
      params.push(request.before);
    }
    if (request.after !== undefined) {
      filters.push('m.created_at >= ?');
      params.push(request.after);
    }
    const matches = `SELECT messages_fts.rowid AS rowid, m.id AS id, m.created_at AS createdAt,
                            bm25(messages_fts) AS score
                       FROM messages_fts JOIN messages m ON m.rowid = messages_fts.rowid
                      WHERE ${filters.join(' AND ')}`;
    const p = request.position;
    // The total comes with the page (a window over the same matches): one FTS pass, not two.
    const rows = this.#db
      .prepare<
        unknown[],
        { rowid: number; id: string; createdAt: number; score: number; total: number }
      >(
        `SELECT rowid, id, createdAt, score, total
           FROM (SELECT *, count(*) OVER () AS total FROM (${matches}))
          ${p ? 'WHERE score > ? OR (score = ? AND (createdAt < ? OR (createdAt = ? AND id < ?)))' : ''}
          ORDER BY score, createdAt DESC, id DESC LIMIT ?`,
      )
      .all(
        ...params,
        ...(p ? [p.score, p.score, p.createdAt, p.createdAt, p.id] : []),
        request.limit + 1,
      );
    // Past the last hit the page is empty and carries no total: count apart.
    const total =
      rows[0]?.total ??
      (p
        ? (this.#db
            .prepare<unknown[], { total: number }>(`SELECT count(*) AS total FROM (${matches})`)
            .get(...params)?.total ?? 0)
        : 0);
    const snippetOf = this.#db.prepare<[string, number], { marked: string }>(
      `SELECT snippet(messages_fts, 0, '${OPEN}', '${CLOSE}', '…', ${SNIPPET_TOKENS}) AS marked
         FROM messages_fts WHERE messages_fts MATCH ? AND rowid = ?`,
    );
    const hits = rows.slice(0, request.limit).map((row) => ({
      score: row.score,
      createdAt: row.createdAt,
      id: row.id,
      ...parseHighlight(snippetOf.get(match, row.rowid)?.marked ?? ''),
    }));
    return { hits, hasNextPage: rows.length > request.limit, totalCount: total };
  }
}
