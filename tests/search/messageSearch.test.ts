// The search syntax and one node's full-text index on a real SQLite file: the triggers keep the
// index in step with every write (local and applied by sync), diacritics fold, the parser never
// lets FTS5 syntax through, and cursors page through hits without gaps or repeats.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { ftsExpression, MAX_QUERY_LENGTH, parseSearch } from '../../lib/searchQuery.ts';
import { openNodeDb, type NodeDb } from '../../subgraphs/node/db/open.ts';
import { HybridLogicalClock, encodeHlc } from '../../subgraphs/node/hlc.ts';
import { MessageEvents } from '../../subgraphs/node/messageEvents.ts';
import {
  MessageSearch,
  decodeSearchCursor,
  encodeSearchCursor,
  type SearchPage,
} from '../../subgraphs/node/messageSearch.ts';
import { MessageStore, sha256Hex } from '../../subgraphs/node/messageStore.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const OTHER_ROOM = '0199a6f0-0000-7000-8000-000000000002';
const ALICE = '0199a6f0-0000-7000-8000-0000000000a1';
const BOB = '0199a6f0-0000-7000-8000-0000000000b2';
const NODE = '0199a6f0-0000-7000-8000-00000000000a';
const PEER = '0199a6f0-0000-7000-8000-00000000000b';

async function open(): Promise<{ db: NodeDb; store: MessageStore; search: MessageSearch }> {
  const file = path.join(await leftovers.tempDir('switchboard-search-'), 'node.sqlite');
  const db = leftovers.add(openNodeDb(file), (d) => d.close());
  const clock = new HybridLogicalClock({ nodeId: NODE });
  const store = new MessageStore({ db: db.db, clock, events: new MessageEvents(silentLogger) });
  return { db, store, search: new MessageSearch(db.db.$client) };
}

const ids = (page: SearchPage) => page.hits.map((h) => h.id);

describe('parseSearch', () => {
  it('reads words, phrases, prefixes and filters', () => {
    const parsed = parseSearch(
      'deploy "release notes" rollb* from:@Alice in:#Ops before:2026-02-01 after:2026-01-01',
    );
    expect(parsed.terms).toEqual([
      { kind: 'word', text: 'deploy' },
      { kind: 'phrase', text: 'release notes' },
      { kind: 'prefix', text: 'rollb' },
    ]);
    expect(parsed.from).toEqual(['alice']);
    expect(parsed.in).toEqual(['ops']);
    expect(parsed.before).toBe(Date.parse('2026-02-01T00:00:00Z'));
    expect(parsed.after).toBe(Date.parse('2026-01-02T00:00:00Z'));
  });

  it('quotes every term, so FTS5 operators and columns are only text', () => {
    const parsed = parseSearch('a OR b NOT c content:x NEAR(d e) ^f "g" * -');
    expect(ftsExpression(parsed.terms)).toBe(
      '"a" "OR" "b" "NOT" "c" "content:x" "NEAR(d" "e)" "^f" "g"',
    );
    expect(ftsExpression(parseSearch('say "he said ""hi"""').terms)).toBe('"say" "he said" "hi"');
  });

  it('refuses what cannot be searched with BAD_USER_INPUT', () => {
    const code = (query: string) => {
      try {
        parseSearch(query);
        return 'ok';
      } catch (error) {
        return (error as { extensions?: { code?: string } }).extensions?.code;
      }
    };
    expect(code('x'.repeat(MAX_QUERY_LENGTH + 1))).toBe('BAD_USER_INPUT');
    expect(code('from:alice')).toBe('BAD_USER_INPUT');
    expect(code('*** ""')).toBe('BAD_USER_INPUT');
    expect(code('hello before:yesterday')).toBe('BAD_USER_INPUT');
    expect(code(Array.from({ length: 17 }, (_, i) => `w${i}`).join(' '))).toBe('BAD_USER_INPUT');
    expect(code('"unclosed phrase')).toBe('ok');
  });
});

describe('the full-text index', () => {
  let f: Awaited<ReturnType<typeof open>>;
  beforeEach(async () => {
    f = await open();
  });

  const find = (query: string, rooms = [ROOM]) =>
    f.search.search({ terms: parseSearch(query).terms, roomIds: rooms, limit: 20 });

  it('follows posts, edits and deletes in the same transaction, tombstones left out', () => {
    const m = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'the Café opens at nine' });
    expect(ids(find('cafe'))).toEqual([m.id]);
    expect(find('cafe').hits[0]?.snippet).toBe('the Café opens at nine');
    expect(find('cafe').hits[0]?.matches).toEqual([{ start: 4, length: 4 }]);
    f.store.edit(m.id, 'the bakery opens at nine');
    expect(ids(find('cafe'))).toEqual([]);
    expect(ids(find('bakery'))).toEqual([m.id]);
    f.store.delete(m.id);
    expect(ids(find('bakery'))).toEqual([]);
    expect(ids(find('opens'))).toEqual([]);
  });

  it('indexes versions applied by sync, and their edits and deletes', () => {
    const at = new Date(Date.now() - 1000);
    const version = (content: string, hlcMs: number, deletedAt: Date | null = null) => ({
      id: '0199a6f0-0000-7000-8000-0000000000f1',
      roomId: ROOM,
      senderId: BOB,
      content,
      contentHash: sha256Hex(content),
      createdAt: at,
      updatedAt: at,
      deletedAt,
      originNode: PEER,
      hlc: encodeHlc({ physical: hlcMs, logical: 0, node: PEER }),
      lastSyncAttempt: null,
    });
    const base = Date.now() - 5000;
    f.store.applyRemote([version('remote pineapple', base)]);
    expect(ids(find('pineapple'))).toHaveLength(1);
    f.store.applyRemote([version('remote mango', base + 1)]);
    expect(ids(find('pineapple'))).toEqual([]);
    expect(ids(find('mango'))).toHaveLength(1);
    f.store.applyRemote([version('', base + 2, new Date())]);
    expect(ids(find('mango'))).toEqual([]);
  });

  it('searches only the rooms asked for, with filters', () => {
    const a = f.store.post({ roomId: ROOM, senderId: ALICE, content: 'lunch plans' });
    const b = f.store.post({ roomId: OTHER_ROOM, senderId: BOB, content: 'lunch is late' });
    expect(ids(find('lunch'))).toEqual([a.id]);
    expect(ids(find('lunch', [ROOM, OTHER_ROOM])).sort()).toEqual([a.id, b.id].sort());
    const bySender = f.search.search({
      terms: parseSearch('lunch').terms,
      roomIds: [ROOM, OTHER_ROOM],
      senderIds: [BOB],
      limit: 20,
    });
    expect(ids(bySender)).toEqual([b.id]);
    const before = f.search.search({
      terms: parseSearch('lunch').terms,
      roomIds: [ROOM, OTHER_ROOM],
      before: a.createdAt.getTime(),
      limit: 20,
    });
    expect(ids(before)).toEqual([]);
  });

  it('pages by cursor through every hit once, most relevant then newest first', () => {
    const posted = Array.from({ length: 7 }, (_, i) =>
      f.store.post({ roomId: ROOM, senderId: ALICE, content: `standup note ${i}` }),
    );
    const seen: string[] = [];
    let page = f.search.search({ terms: parseSearch('standup').terms, roomIds: [ROOM], limit: 3 });
    seen.push(...ids(page));
    while (page.hasNextPage) {
      const last = page.hits.at(-1);
      if (!last) break;
      page = f.search.search({
        terms: parseSearch('standup').terms,
        roomIds: [ROOM],
        limit: 3,
        position: decodeSearchCursor(encodeSearchCursor(last)),
      });
      seen.push(...ids(page));
    }
    expect(seen).toEqual(posted.map((m) => m.id).reverse());
    expect(page.totalCount).toBe(7);
  });

  it('rebuilds the index for messages written before the migration', async () => {
    const file = path.join(await leftovers.tempDir('switchboard-search-'), 'node.sqlite');
    const db = openNodeDb(file);
    const store = new MessageStore({
      db: db.db,
      clock: new HybridLogicalClock({ nodeId: NODE }),
      events: new MessageEvents(silentLogger),
    });
    const m = store.post({ roomId: ROOM, senderId: ALICE, content: 'older message' });
    db.close();
    // Back to the schema before the search migration: no index, no later column or table, and
    // neither it nor the migrations after it recorded as applied (drizzle records each by its
    // journal time).
    const journal = JSON.parse(
      await readFile(
        new URL('../../subgraphs/node/migrations/meta/_journal.json', import.meta.url),
        'utf8',
      ),
    ) as { entries: { tag: string; when: number }[] };
    const searchMigration = journal.entries.find((e) => e.tag === '0008_message_search');
    expect(searchMigration).toBeDefined();
    const raw = new Database(file);
    for (const t of ['insert', 'update', 'delete']) raw.exec(`DROP TRIGGER messages_fts_${t}`);
    raw.exec('DROP TABLE messages_fts');
    raw.exec('ALTER TABLE change_log DROP COLUMN received_from');
    raw.exec('DROP TABLE sync_session_outbox');
    raw.exec('DROP TABLE sync_session_reports');
    raw
      .prepare('DELETE FROM __drizzle_migrations WHERE created_at >= ?')
      .run(searchMigration?.when);
    raw.close();
    const reopened = leftovers.add(openNodeDb(file), (d) => d.close());
    const search = new MessageSearch(reopened.db.$client);
    expect(
      ids(search.search({ terms: parseSearch('older').terms, roomIds: [ROOM], limit: 5 })),
    ).toEqual([m.id]);
  });
});
