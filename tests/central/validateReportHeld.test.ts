// The `held` list of a FULL session's report (index-only versions): checked like `applied`, minus
// the action, and optional so that older nodes' reports still pass.
import { describe, expect, it } from 'vitest';
import {
  InvalidSyncReportError,
  validateSyncReport,
} from '../../subgraphs/central/sync/validateReport.ts';

const version = {
  messageId: 'm1',
  roomId: 'r1',
  senderId: 'u1',
  contentHash: 'a'.repeat(64),
  originNode: 'n1',
  createdAt: 1_700_000_000_000,
  updatedAt: 1_700_000_000_000,
  deleted: false,
  hlc: '001700000000000:00000000:n1',
};
const report = {
  sessionId: '0190f0a0-0000-7000-8000-000000000000',
  status: 'IN_PROGRESS',
  messagesSynced: 1,
  applied: [],
  cursor: 1,
};

describe('SyncReport.held', () => {
  it('is optional, and kept without an action when present', () => {
    expect(validateSyncReport(report).held).toBeUndefined();
    expect(validateSyncReport({ ...report, held: [version] }).held).toEqual([version]);
  });

  it('refuses a held version with a bad field, naming it', () => {
    expect(() =>
      validateSyncReport({ ...report, held: [{ ...version, contentHash: 'nope' }] }),
    ).toThrow(
      new InvalidSyncReportError(
        'held[0].contentHash must be a lowercase hex SHA-256 (64 characters)',
      ),
    );
    expect(() => validateSyncReport({ ...report, held: {} })).toThrow(InvalidSyncReportError);
  });
});
