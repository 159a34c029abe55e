// A subscriber to syncSessionUpdated never sees a session go back: snapshots published out of
// order (two changes of one session committed concurrently, each publishing after its commit)
// are passed on only when they are not behind one already delivered.
import { describe, expect, it } from 'vitest';
import type { SyncSessionSnapshot } from '../../subgraphs/central/sync/snapshot.ts';
import { latestSnapshots } from '../../subgraphs/central/sync/snapshotOrder.ts';

function snapshot(
  id: string,
  status: SyncSessionSnapshot['status'],
  messagesChecked = 0,
): SyncSessionSnapshot {
  return {
    id,
    sourceNodeId: 'a',
    targetNodeId: 'b',
    status,
    syncType: 'FULL',
    trigger: 'MANUAL',
    messagesSynced: 0,
    messagesChecked,
    messagesTotal: null,
    startedAt: 0,
    dispatchedAt: null,
    completedAt: null,
    error: null,
    cursorBefore: null,
    cursorAfter: null,
    digestsMatch: null,
    messagesQuarantined: 0,
    entriesRefused: 0,
    liveReportSeq: null,
    reportSeq: null,
    ownerInstanceId: null,
    updatedAt: 0,
  };
}

describe('latestSnapshots', () => {
  it('drops a PENDING published after the IN_PROGRESS that followed it, and progress that went back', () => {
    const latest = latestSnapshots();
    const delivered = [
      snapshot('s1', 'IN_PROGRESS', 0),
      snapshot('s1', 'PENDING'), // the upgrade's event, published after the claim's
      snapshot('s1', 'IN_PROGRESS', 500),
      snapshot('s1', 'IN_PROGRESS', 200), // an older report's, late
      snapshot('s1', 'COMPLETED', 1000),
      snapshot('s1', 'IN_PROGRESS', 1000),
    ]
      .filter(latest)
      .map((s) => `${s.status} ${s.messagesChecked}`);
    expect(delivered).toEqual(['IN_PROGRESS 0', 'IN_PROGRESS 500', 'COMPLETED 1000']);
  });

  it('passes repeats of the same state and keeps sessions apart', () => {
    const latest = latestSnapshots();
    expect(latest(snapshot('s1', 'PENDING'))).toBe(true);
    expect(latest(snapshot('s1', 'PENDING'))).toBe(true);
    expect(latest(snapshot('s2', 'FAILED'))).toBe(true);
    expect(latest(snapshot('s1', 'IN_PROGRESS'))).toBe(true);
    expect(latest(snapshot('s2', 'PENDING'))).toBe(false);
    expect(latest(snapshot('s1', 'PENDING'))).toBe(false);
  });
});
