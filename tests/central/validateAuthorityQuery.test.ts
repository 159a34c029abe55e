// An authority query's body (SYNC_AUTHORITY_PATH), read by its zod schema: each fault named at its
// field, a sender check's at its index whichever of its fields is wrong, in the words central's
// 400 has always used (nodes and operators read them).
import { describe, expect, it } from 'vitest';
import {
  InvalidAuthorityQueryError,
  validateAuthorityQuery,
} from '../../subgraphs/central/sync/authority.ts';

const check = { roomId: 'r1', userId: 'u1', at: 1_700_000_000_000 };
const query = { roomIds: ['r1'], senders: [check] };
const SENDER = 'must be { roomId, userId, at } with at in epoch milliseconds';

describe('validateAuthorityQuery', () => {
  it('reads a query: unknown fields dropped, the options kept', () => {
    expect(validateAuthorityQuery({ ...query, extra: 1, senders: [{ ...check, x: 2 }] })).toEqual(
      query,
    );
    expect(validateAuthorityQuery({ ...query, intervals: true, roomMembers: true })).toEqual({
      ...query,
      intervals: true,
      roomMembers: true,
    });
    expect(validateAuthorityQuery({ roomIds: [], senders: [] })).toEqual({
      roomIds: [],
      senders: [],
    });
  });

  it.each<[string, unknown, string]>([
    ['not an object', [], 'the query must be a JSON object { roomIds, senders }'],
    ['null', null, 'the query must be a JSON object { roomIds, senders }'],
    [
      'intervals not a boolean (before any other fault)',
      { roomIds: 5, senders: [], intervals: 'yes' },
      'intervals must be a boolean when given',
    ],
    [
      'roomMembers not a boolean',
      { ...query, roomMembers: 1 },
      'roomMembers must be a boolean when given',
    ],
    ['roomIds missing', { senders: [] }, 'roomIds must be an array of at most 1000 room ids'],
    [
      'too many rooms',
      { ...query, roomIds: Array.from({ length: 1001 }, (_, i) => `r${i}`) },
      'roomIds must be an array of at most 1000 room ids',
    ],
    [
      'an empty room id',
      { ...query, roomIds: ['r1', ''] },
      'roomIds[1] must be a string of 1-128 characters',
    ],
    [
      'a room id too long',
      { ...query, roomIds: ['r'.repeat(129)] },
      'roomIds[0] must be a string of 1-128 characters',
    ],
    ['senders missing', { roomIds: [] }, 'senders must be an array of at most 5000 checks'],
    [
      'too many checks',
      { ...query, senders: Array.from({ length: 5001 }, () => check) },
      'senders must be an array of at most 5000 checks',
    ],
    ['a check that is null', { ...query, senders: [check, null] }, `senders[1] ${SENDER}`],
    ['a negative time', { ...query, senders: [{ ...check, at: -1 }] }, `senders[0] ${SENDER}`],
    ['a time not whole', { ...query, senders: [{ ...check, at: 1.5 }] }, `senders[0] ${SENDER}`],
    [
      'an empty user id',
      { ...query, senders: [check, { ...check, userId: '' }] },
      `senders[1] ${SENDER}`,
    ],
    ['a room id missing', { ...query, senders: [{ userId: 'u1', at: 1 }] }, `senders[0] ${SENDER}`],
  ])('refuses %s', (_, value, message) => {
    expect(() => validateAuthorityQuery(value)).toThrow(new InvalidAuthorityQueryError(message));
  });
});
