// How the dashboard folds query answers, subscription events and mutation results together:
// whatever order they arrive in, a session never moves backwards and the list stays the newest.
import { describe, expect, it } from 'vitest';
import type { Session } from '../../gateway/web/src/dashboard/queries.ts';
import {
  countByTrigger,
  endSessions,
  formatTime,
  laterSession,
  mergeSessions,
  progressOf,
  trackRunning,
  upsertNode,
} from '../../gateway/web/src/dashboard/state.ts';

function session(overrides: Partial<Session> & { id: string }): Session {
  return {
    sourceNode: { id: 'n1', name: 'node-a' },
    targetNode: { id: 'n2', name: 'node-b' },
    status: 'PENDING',
    syncType: 'FULL',
    trigger: 'MANUAL',
    messagesSynced: 0,
    messagesChecked: 0,
    messagesTotal: null,
    startedAt: '2026-01-01T10:00:00.000Z',
    completedAt: null,
    error: null,
    ...overrides,
  };
}

describe('dashboard state', () => {
  it('keeps the later version of a session whichever arrives last', () => {
    const pending = session({ id: 's1' });
    const running = session({
      id: 's1',
      status: 'IN_PROGRESS',
      messagesChecked: 5,
      messagesTotal: 10,
    });
    const further = session({
      id: 's1',
      status: 'IN_PROGRESS',
      messagesChecked: 8,
      messagesTotal: 10,
    });
    const done = session({ id: 's1', status: 'COMPLETED', messagesChecked: 10, messagesTotal: 10 });
    expect(laterSession(pending, running)).toBe(running);
    expect(laterSession(running, pending)).toBe(running);
    expect(laterSession(further, running)).toBe(further);
    expect(laterSession(done, further)).toBe(done);
    const failed = session({ id: 's1', status: 'FAILED', error: 'boom' });
    expect(laterSession(failed, running)).toBe(failed);
  });

  it('merges into the newest N, newest first, without duplicates', () => {
    const list = Array.from({ length: 5 }, (_, i) =>
      session({ id: `s${i}`, startedAt: `2026-01-01T10:00:0${i}.000Z` }),
    );
    const merged = mergeSessions([], list, 3);
    expect(merged.map((s) => s.id)).toEqual(['s4', 's3', 's2']);
    // A stale query answer does not undo an event already shown.
    const completed = session({
      id: 's4',
      status: 'COMPLETED',
      startedAt: '2026-01-01T10:00:04.000Z',
    });
    const afterEvent = mergeSessions(merged, [completed], 3);
    const afterStaleQuery = mergeSessions(afterEvent, list, 3);
    expect(afterStaleQuery.find((s) => s.id === 's4')?.status).toBe('COMPLETED');
    expect(afterStaleQuery).toHaveLength(3);
    const newer = session({ id: 's9', startedAt: '2026-01-01T11:00:00.000Z' });
    expect(mergeSessions(afterStaleQuery, [newer], 3).map((s) => s.id)).toEqual(['s9', 's4', 's3']);
  });

  it('measures progress from messagesChecked / messagesTotal, whatever was applied', () => {
    expect(progressOf(session({ id: 'a' }))).toBeUndefined();
    expect(
      progressOf(
        session({
          id: 'a',
          status: 'IN_PROGRESS',
          messagesSynced: 3,
          messagesChecked: 25,
          messagesTotal: 100,
        }),
      ),
    ).toBe(0.25);
    expect(progressOf(session({ id: 'a', status: 'COMPLETED', messagesTotal: null }))).toBe(1);
    // Nothing to pull is shown as 0 / 0, not as a full bar.
    expect(progressOf(session({ id: 'a', status: 'IN_PROGRESS', messagesTotal: 0 }))).toBeNull();
    expect(progressOf(session({ id: 'a', status: 'COMPLETED', messagesTotal: 0 }))).toBeNull();
    expect(
      progressOf(
        session({ id: 'a', status: 'IN_PROGRESS', messagesChecked: 12, messagesTotal: 10 }),
      ),
    ).toBe(1);
  });

  it('replaces a node by id and keeps the list ordered by name', () => {
    const node = (id: string, name: string, status: 'ONLINE' | 'OFFLINE') => ({
      id,
      name,
      status,
      url: 'http://127.0.0.1:1',
      lastSeenAt: null,
      lastSyncAt: null,
      syncEnabled: true,
      autoSyncInterval: 300,
      clockOffsetMs: null,
      clockMaxDriftMs: null,
      clockSkewed: false,
    });
    const list = upsertNode(
      upsertNode(undefined, node('2', 'node-b', 'ONLINE')),
      node('1', 'node-a', 'ONLINE'),
    );
    expect(list.map((n) => n.name)).toEqual(['node-a', 'node-b']);
    const updated = upsertNode(list, node('2', 'node-b', 'OFFLINE'));
    expect(updated.map((n) => `${n.name}:${n.status}`)).toEqual([
      'node-a:ONLINE',
      'node-b:OFFLINE',
    ]);
  });

  it('formats missing and invalid times readably', () => {
    expect(formatTime(null)).toBe('—');
    expect(formatTime('not a date')).toBe('not a date');
    const now = new Date('2026-03-04T12:00:00Z');
    expect(formatTime('2026-03-04T11:59:00Z', now)).toBe(
      new Date('2026-03-04T11:59:00Z').toLocaleTimeString(),
    );
    expect(formatTime('2025-03-04T11:59:00Z', now)).toBe(
      new Date('2025-03-04T11:59:00Z').toLocaleString(),
    );
  });

  it('keeps the newest sessions of each trigger, so a CHANGE burst leaves the manual ones', () => {
    const manual = session({ id: 'm1', trigger: 'MANUAL', startedAt: '2026-01-01T09:00:00.000Z' });
    const burst = Array.from({ length: 5 }, (_, i) =>
      session({ id: `c${i}`, trigger: 'CHANGE', startedAt: `2026-01-01T10:00:0${i}.000Z` }),
    );
    const merged = mergeSessions([manual], burst, 3);
    expect(merged.map((s) => s.id)).toEqual(['c4', 'c3', 'c2', 'm1']);
    expect(countByTrigger(merged)).toEqual({ MANUAL: 1, SCHEDULE: 0, CHANGE: 3 });
  });

  it("tracks each pair's running session from the events until it ends", () => {
    const pending = session({ id: 'f1', status: 'PENDING' });
    const running = session({ id: 'f1', status: 'IN_PROGRESS', messagesSynced: 3 });
    let map = trackRunning(new Map(), [pending]);
    expect(map.get('n1>n2')?.status).toBe('PENDING');
    map = trackRunning(map, [running]);
    expect(map.get('n1>n2')?.messagesSynced).toBe(3);
    // A second request coalesced into a PENDING one does not hide the IN_PROGRESS one.
    map = trackRunning(map, [session({ id: 'f2', status: 'PENDING' })]);
    expect(map.get('n1>n2')?.id).toBe('f1');
    map = trackRunning(map, [session({ id: 'f1', status: 'COMPLETED' })]);
    expect(map.has('n1>n2')).toBe(false);
  });

  it('drops a request note once every session it started ended', () => {
    const actions = { all: { pending: false, done: '2 sessions requested', waiting: ['a', 'b'] } };
    const one = endSessions(actions, [session({ id: 'a', status: 'COMPLETED' })]);
    expect(one['all']).toEqual({ pending: false, done: '2 sessions requested', waiting: ['b'] });
    expect(endSessions(one, [session({ id: 'b', status: 'IN_PROGRESS' })])).toBe(one);
    expect(endSessions(one, [session({ id: 'b', status: 'FAILED' })])['all']).toEqual({
      pending: false,
    });
  });
});
