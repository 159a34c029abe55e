// The batch validator: a valid batch passes unchanged; each malformed field is refused with a
// message naming the field, its place and what is wrong.
import { describe, expect, it } from 'vitest';
import type { WireVersion } from '../../lib/syncProtocol.ts';
import { encodeHlc } from '../../subgraphs/node/hlc.ts';
import { sha256Hex } from '../../subgraphs/node/messageStore.ts';
import {
  examineChangeBatch,
  InvalidBatchError,
  validateChangeBatch,
  type BatchExpectations,
} from '../../subgraphs/node/sync/validateBatch.ts';

const NOW = 1_750_000_000_000;
const ID_1 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b';
const ID_2 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c';

function version(overrides: Partial<Record<keyof WireVersion, unknown>> = {}): WireVersion {
  return {
    seq: 1,
    op: 'create',
    id: ID_1,
    roomId: 'room-1',
    senderId: 'user-1',
    content: 'hello',
    contentHash: sha256Hex('hello'),
    createdAt: NOW - 1000,
    updatedAt: NOW - 1000,
    deletedAt: null,
    hlc: encodeHlc({ physical: NOW - 1000, logical: 0, node: 'node-a' }),
    originNode: 'node-a',
    ...overrides,
  } as WireVersion;
}

function batch(versions: unknown[], overrides: Record<string, unknown> = {}): unknown {
  return { sourceNodeId: 'node-a', versions, nextAfter: 10, headSeq: 12, ...overrides };
}

const expected: BatchExpectations = {
  sourceNodeId: 'node-a',
  after: 0,
  limit: 100,
  roomIds: ['room-1'],
  maxDriftMs: 60_000,
  now: NOW,
};

function refusal(value: unknown, expectations?: BatchExpectations): string {
  try {
    validateChangeBatch(value, expectations);
  } catch (error) {
    expect(error).toBeInstanceOf(InvalidBatchError);
    return (error as Error).message;
  }
  throw new Error('the batch was accepted');
}

describe('validateChangeBatch', () => {
  it('accepts a valid batch and returns it field for field', () => {
    const good = batch([
      version(),
      version({
        seq: 4,
        id: ID_2,
        op: 'delete',
        content: '',
        contentHash: sha256Hex(''),
        deletedAt: NOW,
      }),
    ]);
    expect(validateChangeBatch(good, expected)).toEqual(good);
    const empty = batch([], { nextAfter: 12 });
    expect(validateChangeBatch(empty, expected)).toEqual(empty);
  });

  it('ignores fields it does not know (added later to the protocol) and checks `remaining`', () => {
    const result = validateChangeBatch({ ...(batch([version()]) as object), newField: 'x' });
    expect(result).toEqual(batch([version()]));
    const counted = validateChangeBatch({ ...(batch([version()]) as object), remaining: 3 });
    expect(counted.remaining).toBe(3);
    expect(refusal({ ...(batch([]) as object), remaining: -1 })).toBe(
      'remaining: expected a non-negative integer, got -1',
    );
  });

  it.each<[string, unknown, string]>([
    ['not an object', 'nope', 'batch: expected an object, got string'],
    ['an array', [], 'batch: expected an object, got an array'],
    [
      'no sourceNodeId',
      batch([], { sourceNodeId: undefined }),
      'sourceNodeId: expected a non-empty string of at most 200 characters, got undefined',
    ],
    [
      'a negative nextAfter',
      batch([], { nextAfter: -1 }),
      'nextAfter: expected a non-negative integer, got -1',
    ],
    [
      'a fractional headSeq',
      batch([], { headSeq: 1.5 }),
      'headSeq: expected a non-negative integer, got 1.5',
    ],
    ['headSeq behind nextAfter', batch([], { headSeq: 9 }), 'headSeq 9 is less than nextAfter 10'],
    ['versions missing', batch([], { versions: null }), 'versions: expected an array, got null'],
    ['a version that is not an object', batch([42]), 'versions[0]: expected an object, got number'],
  ])('refuses %s', (_, value, message) => {
    expect(refusal(value)).toBe(message);
  });

  it.each<[string, Partial<Record<keyof WireVersion, unknown>>, string]>([
    ['seq as a string', { seq: '1' }, 'versions[0].seq: expected a non-negative integer, got "1"'],
    ['seq 0', { seq: 0 }, 'versions[0].seq: must be at least 1'],
    [
      'an unknown op',
      { op: 'upsert' },
      'versions[0].op: expected one of create, update, delete, got "upsert"',
    ],
    [
      'an id that is no UUID',
      { id: 'abc' },
      'versions[0].id: expected a lowercase UUID, got "abc"',
    ],
    [
      'an empty roomId',
      { roomId: '' },
      'versions[0].roomId: expected a non-empty string of at most 200 characters, got ""',
    ],
    [
      'a senderId of the wrong type',
      { senderId: 7 },
      'versions[0].senderId: expected a non-empty string of at most 200 characters, got 7',
    ],
    [
      'content missing',
      { content: undefined },
      'versions[0].content: expected a string, got undefined',
    ],
    [
      'a content hash that is not hex',
      { contentHash: 'XYZ' },
      'versions[0].contentHash: expected 64 lowercase hex digits, got "XYZ"',
    ],
    [
      'a content hash of other content',
      { contentHash: sha256Hex('tampered') },
      `versions[0].contentHash: ${sha256Hex('tampered')} is not the SHA-256 of the content`,
    ],
    [
      'createdAt as an ISO string',
      { createdAt: '2025-01-01T00:00:00Z' },
      'versions[0].createdAt: expected epoch milliseconds (a non-negative integer), got "2025-01-01T00:00:00Z"',
    ],
    [
      'a negative updatedAt',
      { updatedAt: -5 },
      'versions[0].updatedAt: expected epoch milliseconds (a non-negative integer), got -5',
    ],
    [
      'deletedAt of the wrong type',
      { deletedAt: true },
      'versions[0].deletedAt: expected epoch milliseconds (a non-negative integer), got true',
    ],
    [
      'a tombstone that still has content',
      { deletedAt: NOW },
      'versions[0].content: a deleted message (deletedAt set) must have empty content',
    ],
    [
      'a delete that is not a tombstone',
      { op: 'delete' },
      'versions[0].deletedAt: op is delete but deletedAt is null',
    ],
    [
      'a malformed HLC',
      { hlc: '12:34:node' },
      'versions[0].hlc: HLC must look like "<15 digits>:<8 digits>:<node id>", got "12:34:node"',
    ],
    [
      'originNode missing',
      { originNode: null },
      'versions[0].originNode: expected a non-empty string of at most 200 characters, got null',
    ],
  ])('refuses a version with %s', (_, overrides, message) => {
    expect(refusal(batch([version(overrides)]))).toBe(message);
  });

  it('refuses seqs out of order, beyond nextAfter, and a message twice', () => {
    expect(refusal(batch([version({ seq: 3 }), version({ seq: 2, id: ID_2 })]))).toBe(
      'versions[1].seq: 2 is not greater than the previous seq 3',
    );
    expect(refusal(batch([version({ seq: 11 })]))).toBe(
      'versions[0].seq: 11 is beyond nextAfter 10',
    );
    expect(refusal(batch([version({ seq: 1 }), version({ seq: 2 })]))).toBe(
      `versions[1].id: message ${ID_1} appears twice in the batch`,
    );
  });

  it('checks what the target expects: source, cursor, size, rooms, clock drift', () => {
    expect(refusal(batch([version()], { sourceNodeId: 'node-x' }), expected)).toBe(
      'sourceNodeId: expected node-a, got "node-x"',
    );
    expect(refusal(batch([], { nextAfter: 4 }), { ...expected, after: 5 })).toBe(
      'nextAfter 4 is less than the cursor 5 it was asked after',
    );
    expect(refusal(batch([version({ seq: 5 })]), { ...expected, after: 5 })).toBe(
      'versions[0].seq: 5 is not greater than the previous seq 5',
    );
    expect(
      refusal(batch([version(), version({ seq: 2, id: ID_2 })]), { ...expected, limit: 1 }),
    ).toBe('versions: 2 versions, but at most 1 were asked for');
    expect(refusal(batch([version({ roomId: 'room-2' })]), expected)).toBe(
      "versions[0].roomId: room room-2 is not one of the session's rooms",
    );
    const future = encodeHlc({ physical: NOW + 60_001, logical: 0, node: 'node-a' });
    expect(refusal(batch([version({ hlc: future })]), expected)).toBe(
      `versions[0].hlc: ${future} is 60001 ms ahead of this node's clock (at most 60000 ms allowed): deferred until it is within the bound`,
    );
    const edge = encodeHlc({ physical: NOW + 60_000, logical: 0, node: 'node-a' });
    expect(validateChangeBatch(batch([version({ hlc: edge })]), expected).versions).toHaveLength(1);
  });

  it('names the first bad version by its index', () => {
    const value = batch([version(), version({ seq: 2, id: ID_2, content: 'changed' })]);
    expect(refusal(value)).toBe(
      `versions[1].contentHash: ${sha256Hex('hello')} is not the SHA-256 of the content`,
    );
  });

  it('refuses content with a lone surrogate even when its hash matches', () => {
    expect(
      refusal(batch([version({ content: 'a\ud800', contentHash: sha256Hex('a\ud800') })])),
    ).toBe(
      'versions[0].content: content is not valid Unicode: lone UTF-16 surrogate \\ud800 at character 2',
    );
  });
});

describe('examineChangeBatch', () => {
  it('keeps the versions that pass and lists the refused ones (the deferred ones marked), with what it could read of them', () => {
    const future = encodeHlc({ physical: NOW + 120_000, logical: 0, node: 'node-a' });
    const ID_3 = '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d';
    const bad = version({ seq: 2, id: ID_2, contentHash: sha256Hex('other') });
    const examined = examineChangeBatch(
      batch([
        version(),
        bad,
        version({ seq: 3, id: 'nope', roomId: 42 }),
        version({ seq: 4, id: ID_3, roomId: 'room-2' }),
        version({ seq: 5, id: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5e', hlc: future }),
      ]),
      expected,
    );
    expect(examined.batch).toEqual(batch([version()]));
    expect(
      examined.refused.map(({ json, ...rest }) => ({ ...rest, json: JSON.parse(json) })),
    ).toEqual([
      {
        index: 1,
        seq: 2,
        messageId: ID_2,
        roomId: 'room-1',
        hlc: bad.hlc,
        reason: `contentHash: ${sha256Hex('other')} is not the SHA-256 of the content`,
        json: bad,
      },
      {
        index: 2,
        seq: 3,
        messageId: 'nope',
        roomId: '',
        hlc: bad.hlc,
        reason: 'id: expected a lowercase UUID, got "nope"',
        json: expect.objectContaining({ roomId: 42 }),
      },
      expect.objectContaining({
        seq: 4,
        reason: "roomId: room room-2 is not one of the session's rooms",
      }),
      // Not refused: deferred until the clock is within the bound of it.
      expect.objectContaining({
        seq: 5,
        reason: `hlc: ${future} is 120000 ms ahead of this node's clock (at most 60000 ms allowed): deferred until it is within the bound`,
        deferUntil: NOW + 60_000,
      }),
    ]);
  });

  it('still refuses the batch whole for faults of the batch itself', () => {
    expect(() =>
      examineChangeBatch(batch([version({ seq: 2 }), version({ seq: 1, id: ID_2 })]), expected),
    ).toThrow('versions[1].seq: 1 is not greater than the previous seq 2');
    expect(() => examineChangeBatch(batch([version({ seq: 'x' })]), expected)).toThrow(
      'versions[0].seq: expected a non-negative integer, got "x"',
    );
    expect(() => examineChangeBatch(batch([42]), expected)).toThrow(
      'versions[0]: expected an object, got number',
    );
    // Order is judged before any version's other fields: these have none.
    expect(() => examineChangeBatch(batch([{ seq: 2 }, { seq: 1 }]), expected)).toThrow(
      'versions[1].seq: 1 is not greater than the previous seq 2',
    );
  });
});
