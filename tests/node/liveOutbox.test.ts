// The live outbox's rounds (a real SQLite file, a clock the test moves): an open window reports
// once REPORT_GATHER_MS passed since its last report, and then every other window with something
// unreported reports with it, so a node's windows reach central in one request a round rather
// than one each at drifting times. A window with nothing new does not take the others along. The
// versions the node's windows gathered together make a round due sooner: what decides a request
// is the node's rate of changes, not the number of its sources.
import path from 'node:path';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, describe, expect, it } from 'vitest';
import type { AppliedChange } from '../../lib/syncProtocol.ts';
import { openNodeDb } from '../../subgraphs/node/db/open.ts';
import {
  LiveOutbox,
  REPORT_GATHER_MS,
  REPORT_GATHER_VERSIONS,
} from '../../subgraphs/node/sync/liveOutbox.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

function applied(): AppliedChange {
  return {
    messageId: uuidv7(),
    roomId: 'room-1',
    senderId: 'user-1',
    contentHash: 'c'.repeat(64),
    originNode: 'node-a',
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000,
    deleted: false,
    action: 'CREATE',
  };
}

const changes = () => ({ applied: [applied()], quarantined: [], released: [] });

describe('live outbox rounds', () => {
  it('report every window with something new when one is due, and none while none is', async () => {
    const file = path.join(await leftovers.tempDir('switchboard-outbox-'), 'node.sqlite');
    const db = leftovers.add(openNodeDb(file), (d) => d.close());
    let now = 1_000_000;
    const outbox = new LiveOutbox(db, () => now);
    const record = (source: string, cursor: number) =>
      db.sqlite.transaction(() => outbox.record(source, changes(), 0, cursor, cursor))();

    record('node-a', 1);
    // The reporter sees window A first now: its gathering starts.
    expect(outbox.reports()).toEqual([]);
    now += REPORT_GATHER_MS / 2;
    record('node-b', 1);
    record('node-c', 1);
    // B and C are seen half a gathering later; A is not due yet: nothing goes.
    expect(outbox.reports()).toEqual([]);

    now += REPORT_GATHER_MS / 2;
    // A is due: B and C, not due on their own, go with it, in one round.
    const round = outbox.reports();
    expect(round.map((r) => [r.sourceNodeId, r.sequence, r.applied.length])).toEqual([
      ['node-a', 1, 1],
      ['node-b', 1, 1],
      ['node-c', 1, 1],
    ]);
    for (const report of round) outbox.taken(report);

    // Only B gets something new; A and C stay open and quiet. Nothing is due until B's time,
    // and then B alone reports: the quiet windows do not make rounds of their own.
    now += REPORT_GATHER_MS / 2;
    record('node-b', 2);
    expect(outbox.reports()).toEqual([]);
    now += REPORT_GATHER_MS / 2;
    const next = outbox.reports();
    expect(next.map((r) => [r.sourceNodeId, r.sequence])).toEqual([['node-b', 2]]);
    for (const report of next) outbox.taken(report);
    now += REPORT_GATHER_MS * 2;
    expect(outbox.reports()).toEqual([]);
  });

  it('report as soon as the windows together gathered REPORT_GATHER_VERSIONS versions', async () => {
    const file = path.join(await leftovers.tempDir('switchboard-outbox-'), 'node.sqlite');
    const db = leftovers.add(openNodeDb(file), (d) => d.close());
    let now = 1_000_000;
    const outbox = new LiveOutbox(db, () => now);
    let cursor = 0;
    const record = (source: string, count: number) =>
      db.sqlite.transaction(() => {
        for (let i = 0; i < count; i++) {
          cursor += 1;
          outbox.record(source, changes(), 0, cursor, cursor);
        }
      })();

    // Two sources, neither near the count alone, one short of it together: not due yet.
    const half = Math.floor(REPORT_GATHER_VERSIONS / 2);
    record('node-a', half);
    record('node-b', REPORT_GATHER_VERSIONS - half - 1);
    expect(outbox.reports()).toEqual([]);
    now += REPORT_GATHER_MS / 4;
    expect(outbox.reports()).toEqual([]);

    // One more version, well before REPORT_GATHER_MS: both windows report in this round.
    record('node-b', 1);
    const round = outbox.reports();
    expect(round.map((r) => [r.sourceNodeId, r.applied.length])).toEqual([
      ['node-a', half],
      ['node-b', REPORT_GATHER_VERSIONS - half],
    ]);
    for (const report of round) outbox.taken(report);

    // The count starts again from what was reported.
    record('node-a', REPORT_GATHER_VERSIONS - 1);
    expect(outbox.reports()).toEqual([]);
  });
});
