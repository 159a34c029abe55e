// The `quarantined` and `released` lists of a report: optional (older nodes send neither),
// checked field by field when present, bounded like `applied`.
import { describe, expect, it } from 'vitest';
import { MAX_APPLIED_PER_REPORT } from '../../lib/syncProtocol.ts';
import {
  InvalidSyncReportError,
  validateSyncReport,
} from '../../subgraphs/central/sync/validateReport.ts';

const report = {
  sessionId: '0190f0a0-0000-7000-8000-000000000000',
  status: 'IN_PROGRESS',
  messagesSynced: 1,
  applied: [],
  cursor: 1,
};
const quarantined = {
  messageId: 'm1',
  roomId: 'r1',
  hlc: '001700000000000:00000000:n1',
  seq: 7,
  reason: 'senderId u9 was not a member of room r1 at 2023-11-14T22:13:20.000Z',
};

describe('SyncReport.quarantined and released', () => {
  it('are optional, and kept as sent when valid', () => {
    const plain = validateSyncReport(report);
    expect(plain.quarantined).toBeUndefined();
    expect(plain.released).toBeUndefined();
    const full = validateSyncReport({ ...report, quarantined: [quarantined], released: ['m0'] });
    expect(full.quarantined).toEqual([quarantined]);
    expect(full.released).toEqual(['m0']);
  });

  it('cuts an over-long reason instead of refusing the report', () => {
    const long = validateSyncReport({
      ...report,
      quarantined: [{ ...quarantined, reason: 'x'.repeat(5000) }],
    });
    expect(long.quarantined?.[0]?.reason).toHaveLength(2000);
  });

  it('refuses a bad entry, naming the field', () => {
    const bad: Array<[unknown, string]> = [
      [{ quarantined: 'x' }, 'quarantined must be an array when present'],
      [{ quarantined: [1] }, 'quarantined[0] must be an object'],
      [{ quarantined: [{ ...quarantined, hlc: '' }] }, 'quarantined[0].hlc must be a string'],
      [{ quarantined: [{ ...quarantined, seq: -1 }] }, 'quarantined[0].seq must be a non-negative'],
      [{ quarantined: [{ ...quarantined, reason: '' }] }, 'quarantined[0].reason must be'],
      [{ quarantined: [{ ...quarantined, messageId: 5 }] }, 'quarantined[0].messageId must be'],
      [{ quarantined: [{ ...quarantined, roomId: undefined }] }, 'quarantined[0].roomId must be'],
      [{ released: 'm1' }, 'released must be an array when present'],
      [{ released: [''] }, 'released[0] must be a message id'],
      [
        { released: new Array<string>(MAX_APPLIED_PER_REPORT + 1).fill('m') },
        `released must hold at most ${MAX_APPLIED_PER_REPORT}`,
      ],
    ];
    for (const [fields, message] of bad) {
      expect(() => validateSyncReport({ ...report, ...(fields as object) })).toThrow(
        InvalidSyncReportError,
      );
      expect(() => validateSyncReport({ ...report, ...(fields as object) })).toThrow(message);
    }
  });
});
