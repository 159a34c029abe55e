// The message search syntax (searchMessages): words, "quoted phrases", prefix*, and the filters
// from:username, in:roomname, before:date, after:date. Parsed here into a structure, and the words
// into an FTS5 expression built only of quoted strings, so nothing a user types is ever read as
// FTS5 syntax (no operator, column filter or syntax error reaches MATCH). Shared by the gateway
// (limits, filters it resolves against central) and the nodes (the MATCH expression).
import { appError } from './errors.ts';

/** Longest query, in UTF-16 units. */
export const MAX_QUERY_LENGTH = 256;
/** Most words, phrases and prefixes in one query (each one an FTS5 term to intersect). */
export const MAX_TERMS = 16;
/** Largest `first` of searchMessages. */
export const MAX_SEARCH_PAGE = 100;
/** Most rooms one search reads: the caller's rooms, or the `roomIds` given. */
export const MAX_SEARCH_ROOMS = 500;
/** The shortest prefix a `word*` may have: shorter ones would match most of the index. */
export const MIN_PREFIX_LENGTH = 2;

export interface SearchTerm {
  readonly kind: 'word' | 'phrase' | 'prefix';
  readonly text: string;
}

export interface ParsedSearch {
  readonly terms: readonly SearchTerm[];
  /** Usernames, lowercased: a message from any of them matches. */
  readonly from: readonly string[];
  /** Room names, lowercased: a message in any of them matches. */
  readonly in: readonly string[];
  /** Epoch ms: only messages created before it. */
  readonly before?: number;
  /** Epoch ms: only messages created at or after it. */
  readonly after?: number;
}

const HAS_TOKEN = /[\p{L}\p{N}]/u;
const DAY_MS = 86_400_000;
const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;

function badInput(message: string): never {
  throw appError('BAD_USER_INPUT', message);
}

/** A date filter's value: a day (UTC) or an ISO-8601 instant. */
function parseDate(key: string, value: string): { at: number; dateOnly: boolean } {
  const dateOnly = DATE_ONLY.test(value);
  const at = dateOnly ? Date.parse(`${value}T00:00:00.000Z`) : Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(at))
    badInput(`${key}: needs a date like 2026-11-25 or 2026-11-25T09:00:00Z, got "${value}"`);
  return { at, dateOnly };
}

/** Splits the query into tokens: quoted phrases (an unclosed quote runs to the end) and words. */
function tokens(query: string): Array<{ text: string; quoted: boolean }> {
  const out: Array<{ text: string; quoted: boolean }> = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i] as string;
    if (/\s/u.test(c)) {
      i += 1;
    } else if (c === '"') {
      const end = query.indexOf('"', i + 1);
      const stop = end === -1 ? query.length : end;
      out.push({ text: query.slice(i + 1, stop), quoted: true });
      i = stop + 1;
    } else {
      let j = i;
      while (j < query.length && !/\s/u.test(query[j] as string) && query[j] !== '"') j += 1;
      out.push({ text: query.slice(i, j), quoted: false });
      i = j;
    }
  }
  return out;
}

/**
 * The query as words and filters. Too long, too many terms, a bad date or no word at all is
 * BAD_USER_INPUT; anything else that is not a filter is searched as plain words.
 */
export function parseSearch(raw: string): ParsedSearch {
  if (raw.length > MAX_QUERY_LENGTH)
    badInput(`query must be at most ${MAX_QUERY_LENGTH} characters, got ${raw.length}`);
  const terms: SearchTerm[] = [];
  const from: string[] = [];
  const inRooms: string[] = [];
  let before: number | undefined;
  let after: number | undefined;
  for (const token of tokens(raw.normalize('NFC'))) {
    if (token.quoted) {
      if (HAS_TOKEN.test(token.text)) terms.push({ kind: 'phrase', text: token.text.trim() });
      continue;
    }
    const filter = /^(from|in|before|after):(.+)$/i.exec(token.text);
    if (filter) {
      const key = (filter[1] as string).toLowerCase();
      const value = filter[2] as string;
      if (key === 'from') from.push(value.replace(/^@/, '').toLowerCase());
      else if (key === 'in') inRooms.push(value.replace(/^#/, '').toLowerCase());
      else {
        const date = parseDate(key, value);
        if (key === 'before') before = Math.min(before ?? Infinity, date.at);
        // after:2026-11-25 means from the next day on, as in most chat search.
        else after = Math.max(after ?? -Infinity, date.at + (date.dateOnly ? DAY_MS : 0));
      }
      continue;
    }
    if (!HAS_TOKEN.test(token.text)) continue;
    const prefix = token.text.endsWith('*');
    const text = token.text.replace(/\*+$/, '');
    if (prefix && text.length >= MIN_PREFIX_LENGTH && HAS_TOKEN.test(text))
      terms.push({ kind: 'prefix', text });
    else terms.push({ kind: 'word', text });
  }
  if (terms.length === 0)
    badInput('query needs at least one word to search for (filters alone are not a search)');
  if (terms.length > MAX_TERMS)
    badInput(
      `query may have at most ${MAX_TERMS} words, phrases and prefixes, got ${terms.length}`,
    );
  return {
    terms,
    from,
    in: inRooms,
    ...(before !== undefined ? { before } : {}),
    ...(after !== undefined ? { after } : {}),
  };
}

/** An FTS5 string literal: FTS5 reads everything inside double quotes as text to tokenize. */
const quote = (text: string) => `"${text.replaceAll('"', '""')}"`;

/**
 * The terms as an FTS5 MATCH expression: every term a quoted string (a phrase when it holds
 * several tokens), `*` only after a closing quote, all of them required (implicit AND).
 */
export function ftsExpression(terms: readonly SearchTerm[]): string {
  return terms.map((t) => (t.kind === 'prefix' ? `${quote(t.text)}*` : quote(t.text))).join(' ');
}
