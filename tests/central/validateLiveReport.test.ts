// A live report's body: its own fields (window, source, sequence) and the entries a session
// report has, checked by the same rules; each fault named by its place, as central's 400 says it.
import { describe, expect, it } from 'vitest';
import {
  InvalidLiveReportError,
  validateLiveReport,
} from '../../subgraphs/central/sync/liveReport.ts';

const applied = {
  messageId: 'm1',
  roomId: 'r1',
  senderId: 'u1',
  contentHash: 'a'.repeat(64),
  originNode: 'n1',
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  deleted: false,
  action: 'CREATE',
};
const report = {
  windowId: '0190F0A0-0000-7000-8000-000000000000',
  sourceNodeId: 'n1',
  sequence: 1,
  final: false,
  cursorBefore: 0,
  cursor: 3,
  applied: [applied],
};

describe('validateLiveReport', () => {
  it('reads a report: the window id lowercased, the source head the cursor when absent', () => {
    expect(validateLiveReport({ ...report, quarantined: null, extra: 1 })).toEqual({
      ...report,
      windowId: report.windowId.toLowerCase(),
      sourceHeadSeq: 3,
    });
  });

  it.each<[string, unknown, string]>([
    ['not an object', [], 'the report must be a JSON object'],
    [
      'a window id that is no UUID',
      { ...report, windowId: 'w1' },
      'windowId must be a window id (UUID)',
    ],
    ['sequence 0', { ...report, sequence: 0 }, 'sequence must be a positive integer'],
    ['final missing', { ...report, final: undefined }, 'final must be a boolean'],
    [
      'a negative cursor',
      { ...report, cursor: -1 },
      'cursor must be a non-negative integer, got -1',
    ],
    [
      'an applied change without an action',
      { ...report, applied: [{ ...applied, action: 'MOVE' }] },
      'applied[0].action must be one of CREATE, UPDATE, DELETE',
    ],
    [
      'released ids that are empty',
      { ...report, released: [''] },
      'released[0] must be a message id of 1-128 characters',
    ],
  ])('refuses %s, naming the field', (_name, value, message) => {
    expect(() => validateLiveReport(value)).toThrow(new InvalidLiveReportError(message));
  });
});
