// The reports of several live windows in one request (SYNC_LIVE_REPORTS_PATH): a target's windows
// from different sources recorded together, each judged on its own. A retry of the request
// records nothing; a gap, a window of another node, a report from the target itself or an invalid
// report is refused in its result with a code, changes nothing, and leaves the others recorded.
// Two windows of one pair in one request (an old window's last report and the next one's first)
// quarantine and release in request order: the later window's effect wins. A real central (on the
// run's PostgreSQL); the targets are its HTTP API called with the nodes' keys, as their reporters
// would.
import { createHash } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_LIVE_REPORTS_PER_REQUEST,
  SYNC_LIVE_REPORTS_PATH,
  type AppliedChange,
  type LiveReport,
  type QuarantinedVersion,
} from '../../lib/syncProtocol.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { createPlacedRoom, onlineNodes, type ProtocolNode } from '../helpers/syncCluster.ts';
import { postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let t: TestCentral;
let a: ProtocolNode;
let b: ProtocolNode;
let c: ProtocolNode;
let room: string;
let alice: { id: string; token: string };

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const hlc = (ms: number, node: string) => `${String(ms).padStart(15, '0')}:00000000:${node}`;

function change(
  messageId: string,
  origin: string,
  at: number,
  action: AppliedChange['action'] = 'CREATE',
): AppliedChange {
  return {
    messageId,
    roomId: room,
    senderId: alice.id,
    contentHash: sha(`${messageId}@${at}`),
    originNode: origin,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000 + at,
    deleted: false,
    action,
    hlc: hlc(1_700_000_000_000 + at, origin),
  };
}

function window(source: ProtocolNode, sequence: number, applied: AppliedChange[]): LiveReport {
  return {
    windowId: uuidv7(),
    sourceNodeId: source.id,
    sequence,
    final: false,
    cursorBefore: 0,
    cursor: sequence * 10,
    sourceHeadSeq: sequence * 10,
    applied,
  };
}

async function rows<T>(query: ReturnType<typeof sql>): Promise<T[]> {
  const result = await t.central.services.db.execute(query);
  return (result as { rows: T[] }).rows;
}

const sessionsOf = (ids: string[]) =>
  rows<{ id: string; status: string; messages_synced: number; live_report_seq: number }>(sql`
    select id, status, messages_synced, live_report_seq from sync_sessions
     where id in (select json_array_elements_text(${JSON.stringify(ids)}::json)) order by id`);

const logged = async () =>
  Number((await rows<{ n: string }>(sql`select count(*) as n from message_sync_log`))[0]?.n);

beforeAll(async () => {
  t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000 });
  [a, b, c] = (await onlineNodes(t, ['batch-a', 'batch-b', 'batch-c'])) as [
    ProtocolNode,
    ProtocolNode,
    ProtocolNode,
  ];
  alice = await t.createUser('alice');
  room = await createPlacedRoom(t, alice, a.id, [b.id, c.id], 'batched');
});

describe('live reports of several windows in one request', () => {
  it('records every window, the index once per message with every holder, and a retry nothing', async () => {
    const shared = uuidv7();
    const fromA = window(a, 1, [change(shared, a.id, 1), change(uuidv7(), a.id, 2)]);
    // c passed the same message on after an edit: the newer version wins in the index.
    const fromC = window(c, 1, [change(uuidv7(), a.id, 3), change(shared, a.id, 5, 'UPDATE')]);
    const before = await logged();

    const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, {
      reports: [fromA, fromC],
    });
    expect(sent).toEqual({
      status: 200,
      body: {
        results: [
          { windowId: fromA.windowId, sequence: 1, recorded: true },
          { windowId: fromC.windowId, sequence: 1, recorded: true },
        ],
      },
    });
    const ids = [fromA.windowId, fromC.windowId].sort();
    expect(await sessionsOf(ids)).toEqual(
      ids.map((id) => ({ id, status: 'IN_PROGRESS', messages_synced: 2, live_report_seq: 1 })),
    );
    expect(await logged()).toBe(before + 4);
    const [indexed] = await rows<{ storage_node_ids: string[]; content_hash: string }>(sql`
      select storage_node_ids, content_hash from distributed_messages where id = ${shared}`);
    expect(indexed).toEqual({
      storage_node_ids: [a.id, b.id, c.id].sort(),
      content_hash: sha(`${shared}@5`),
    });
    const pairs = await rows<{ source_node_id: string; cursor: string }>(sql`
      select source_node_id, cursor::text as cursor from sync_pairs where target_node_id = ${b.id}
       order by source_node_id`);
    expect(pairs).toEqual([a.id, c.id].sort().map((id) => ({ source_node_id: id, cursor: '10' })));

    // The answer was lost: the same request again records nothing.
    const again = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, {
      reports: [fromA, fromC],
    });
    expect(again.body.results.map((r: { recorded: boolean }) => r.recorded)).toEqual([
      false,
      false,
    ]);
    expect(await logged()).toBe(before + 4);
    expect((await sessionsOf(ids)).map((s) => s.messages_synced)).toEqual([2, 2]);
  });

  it('refuses a gap, another node window, a self report and an invalid report each in its result, and records the rest', async () => {
    const open = window(a, 1, [change(uuidv7(), a.id, 10)]);
    const ofC = window(a, 1, [change(uuidv7(), a.id, 11)]);
    expect(
      (await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, { reports: [open] })).status,
    ).toBe(200);
    expect(
      (await postAsNode(t.url, c.apiKey, SYNC_LIVE_REPORTS_PATH, { reports: [ofC] })).status,
    ).toBe(200);
    const before = await logged();

    const next = {
      ...open,
      sequence: 2,
      final: true,
      cursor: 20,
      applied: [change(uuidv7(), a.id, 12)],
    };
    const gap = window(c, 1, [change(uuidv7(), a.id, 13)]);
    const stranger = { ...ofC, sequence: 2, applied: [change(uuidv7(), a.id, 14)] };
    const self = window(b, 1, [change(uuidv7(), a.id, 15)]);
    const invalid = { ...window(c, 1, []), sequence: 0 };
    const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, {
      reports: [{ ...gap, sequence: 3 }, next, stranger, self, invalid],
    });
    expect(sent.status).toBe(200);
    const results = sent.body.results as Array<Record<string, unknown>>;
    expect(
      results.map((r) => (r['error'] as { code: string } | undefined)?.code ?? r['recorded']),
    ).toEqual(['CONFLICT', true, 'FORBIDDEN', 'BAD_USER_INPUT', 'BAD_USER_INPUT']);
    expect(results[4]).toMatchObject({ error: { message: expect.stringMatching(/sequence/) } });
    // Only the next report of the open window was recorded: one log row, the window completed.
    expect(await logged()).toBe(before + 1);
    expect(await sessionsOf([open.windowId, ofC.windowId].sort())).toEqual(
      [
        { id: open.windowId, status: 'COMPLETED', messages_synced: 2, live_report_seq: 2 },
        { id: ofC.windowId, status: 'IN_PROGRESS', messages_synced: 1, live_report_seq: 1 },
      ].sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
    // Neither the gap's nor the refused reports' windows were made.
    expect(await sessionsOf([gap.windowId, self.windowId, invalid.windowId])).toEqual([]);
  });

  it('refuses a body that is not a list of 1 to MAX reports with BAD_USER_INPUT', async () => {
    for (const body of [
      {},
      { reports: [] },
      { reports: 'x' },
      { reports: Array.from({ length: MAX_LIVE_REPORTS_PER_REQUEST + 1 }, () => window(a, 1, [])) },
    ]) {
      const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, body);
      expect(sent.status).toBe(400);
      expect(sent.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    // Without the node's key: nothing is read.
    expect(
      (await postAsNode(t.url, undefined, SYNC_LIVE_REPORTS_PATH, { reports: [] })).status,
    ).toBe(401);
  });
});

describe("two windows of one pair in one request: their quarantine in the request's order", () => {
  const aside = (messageId: string, at: number, seq: number): QuarantinedVersion => ({
    messageId,
    roomId: room,
    hlc: hlc(1_700_000_000_000 + at, a.id),
    seq,
    reason: `refused ${messageId}@${at}`,
  });
  /** The message's quarantine rows of a -> b, oldest first: [hlc, still aside]. */
  const quarantineOf = (messageId: string) =>
    rows<{ hlc: string; open: boolean }>(sql`
      select hlc, released_at is null as open from quarantined_versions
       where message_id = ${messageId} and source_node_id = ${a.id} and target_node_id = ${b.id}
       order by id`);
  /** A window's first report, alone in its request: the old window of each case. */
  async function opened(report: LiveReport): Promise<LiveReport> {
    const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, { reports: [report] });
    expect(sent.status).toBe(200);
    return report;
  }
  /** The old window (reported once already) ends, the next one starts, in one request. */
  async function endAndStart(
    old: LiveReport,
    last: Partial<LiveReport>,
    first: Partial<LiveReport>,
  ): Promise<void> {
    const next = { ...window(a, 1, []), ...first };
    const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, {
      reports: [{ ...old, sequence: 2, final: true, cursor: 20, applied: [], ...last }, next],
    });
    expect(sent.status).toBe(200);
    expect(sent.body.results.map((r: { recorded?: boolean }) => r.recorded)).toEqual([true, true]);
  }

  it('keeps aside what the later window quarantined after the earlier one released it', async () => {
    const m = uuidv7();
    const old = await opened({ ...window(a, 1, []), quarantined: [aside(m, 100, 1)] });
    expect(await quarantineOf(m)).toEqual([{ hlc: aside(m, 100, 1).hlc, open: true }]);

    // The old window applied a valid newer version (released), then the next window met an
    // invalid newer one still: that one is aside.
    await endAndStart(old, { released: [m] }, { quarantined: [aside(m, 200, 2)] });
    expect(await quarantineOf(m)).toEqual([
      { hlc: aside(m, 100, 1).hlc, open: false },
      { hlc: aside(m, 200, 2).hlc, open: true },
    ]);
  });

  it('keeps aside a version the earlier window released and the later one quarantined again', async () => {
    const m = uuidv7();
    const version = aside(m, 300, 3);
    const old = await opened({ ...window(a, 1, []), quarantined: [version] });

    await endAndStart(old, { released: [m] }, { quarantined: [version] });
    // As one statement per window had it: the old row released, the version aside again.
    expect(await quarantineOf(m)).toEqual([
      { hlc: version.hlc, open: false },
      { hlc: version.hlc, open: true },
    ]);
  });

  it('releases what the earlier window quarantined and the later one released', async () => {
    const m = uuidv7();
    const old = await opened(window(a, 1, []));

    await endAndStart(old, { quarantined: [aside(m, 400, 4)] }, { released: [m] });
    expect(await quarantineOf(m)).toEqual([{ hlc: aside(m, 400, 4).hlc, open: false }]);
  });

  it('records a version quarantined twice in one request, before a release, once', async () => {
    const m = uuidv7();
    const version = aside(m, 500, 5);
    const old = await opened({ ...window(a, 1, []), quarantined: [version] });

    // Still aside when the old window names it again (a FULL sync met it): nothing new, and the
    // next window's release releases that one row.
    await endAndStart(old, { quarantined: [version] }, { released: [m] });
    expect(await quarantineOf(m)).toEqual([{ hlc: version.hlc, open: false }]);
  });
});
