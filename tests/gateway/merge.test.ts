// Unit tests of the router's merge rules, on the shapes nodes really answer with.
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { mergeConnections, newestVersion, stripInjected } from '../../gateway/merge.ts';
import { OperationPreparer, splitRootField } from '../../gateway/operations.ts';

const nodeSdl = readFileSync(new URL('../../schema/node.graphql', import.meta.url), 'utf8');
const preparer = new OperationPreparer(buildSubgraphSchema(parse(nodeSdl)));

const entitiesQuery =
  'query($representations:[_Any!]!){_entities(representations:$representations){...on Room{messages(last:3){edges{node{content}}pageInfo{hasPreviousPage startCursor}}}}}';

const id = (n: number) => `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`;
const edge = (n: number, hlc: string, content = `m${n}`) => ({
  _sb_cursor: `c${n}`,
  node: { content, _sb_id: id(n), _sb_hlc: hlc },
});

describe('OperationPreparer', () => {
  it('asks every Message for its id and HLC, and every page for its cursors and page info', () => {
    const prepared = preparer.prepare(entitiesQuery);
    expect(prepared.text).toContain('_sb_id: id');
    expect(prepared.text).toContain('_sb_hlc: hlc');
    expect(prepared.text).toContain('_sb_cursor: cursor');
    expect(prepared.text).toContain('_sb_pageInfo: pageInfo');
    expect(prepared.roomMessages).toHaveLength(1);
    expect(prepared.roomMessages[0]?.edgesKeys).toEqual(['edges']);
  });

  it('adds a node to edges that lack one, so every edge names its message', () => {
    const prepared = preparer.prepare(
      'query($r:[_Any!]!){_entities(representations:$r){...on Room{messages(first:2){edges{cursor}}}}}',
    );
    expect(prepared.text).toMatch(
      /edges \{\s*cursor\s*_sb_cursor: cursor\s*node \{\s*_sb_id: id\s*_sb_hlc: hlc/,
    );
  });

  it('splits root fields keeping only the variables and fragments each uses', () => {
    const prepared = preparer.prepare(
      'mutation($a: ID!, $b: ID!, $c: String!) { x: editMessage(id: $a, content: $c) { ...F } y: deleteMessage(id: $b) { id } } fragment F on Message { content }',
    );
    const [x, y] = prepared.rootFields;
    const first = splitRootField(prepared, x!, { a: '1', b: '2', c: 'hi' });
    expect(first.variables).toEqual({ a: '1', c: 'hi' });
    expect(first.query).toContain('fragment F on Message');
    expect(first.query).not.toContain('deleteMessage');
    const second = splitRootField(prepared, y!, { a: '1', b: '2', c: 'hi' });
    expect(second.variables).toEqual({ b: '2' });
    expect(second.query).not.toContain('fragment F');
    expect(second.query).not.toContain('$c');
  });
});

describe('merging answers of several nodes', () => {
  const plan = preparer.prepare(entitiesQuery).roomMessages[0]!;

  it('keeps one edge per message, the newest version, and the newest page', () => {
    const a = {
      edges: [edge(1, '1:a'), edge(2, '5:a', 'edited'), edge(4, '4:a')],
      pageInfo: { hasPreviousPage: false, startCursor: 'c1' },
      _sb_pageInfo: { hasNextPage: false, hasPreviousPage: false },
    };
    const b = {
      edges: [edge(2, '2:b', 'old'), edge(3, '3:b'), edge(5, '6:b')],
      pageInfo: { hasPreviousPage: false, startCursor: 'c2' },
      _sb_pageInfo: { hasNextPage: false, hasPreviousPage: false },
    };
    const merged = mergeConnections([a, b], plan, { last: 3 }) as any;
    expect(merged.edges.map((e: any) => e.node.content)).toEqual(['m3', 'm4', 'm5']);
    expect(merged.pageInfo).toEqual({ hasPreviousPage: true, startCursor: 'c3' });
    const all = mergeConnections([a, b], plan, { last: 10 }) as any;
    expect(all.edges.map((e: any) => e.node.content)).toEqual(['m1', 'edited', 'm3', 'm4', 'm5']);
    expect(all.pageInfo.hasPreviousPage).toBe(false);
  });

  it('pages forwards from the oldest with first/after', () => {
    const a = {
      edges: [edge(1, '1:a'), edge(3, '3:a')],
      _sb_pageInfo: { hasNextPage: true, hasPreviousPage: false },
    };
    const b = {
      edges: [edge(2, '2:b'), edge(4, '4:b')],
      _sb_pageInfo: { hasNextPage: false, hasPreviousPage: false },
    };
    const merged = mergeConnections([a, b], plan, { first: 3 }) as any;
    expect(merged.edges.map((e: any) => e.node.content)).toEqual(['m1', 'm2', 'm3']);
  });

  it('picks the newest version of a message, whatever the order of the answers', () => {
    const older = { content: 'old', _sb_hlc: '000000000000001:00000000:a' };
    const newer = { content: 'new', _sb_hlc: '000000000000002:00000000:a' };
    expect(newestVersion([older, newer])).toBe(newer);
    expect(newestVersion([newer, null, older])).toBe(newer);
    expect(newestVersion([null, null])).toBeNull();
  });

  it('removes every injected key', () => {
    const value = { a: [{ _sb_id: 1, b: { _sb_hlc: 2, c: 3 } }], _sb_pageInfo: {} };
    stripInjected(value);
    expect(value).toEqual({ a: [{ b: { c: 3 } }] });
  });
});
