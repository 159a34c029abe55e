// Many sync reports at once on real PostgreSQL, through two centrals sharing the database: the
// sessions of every ordered pair of four nodes and a live window per pair (half of the targets
// sending all their windows' reports in one request), all applying the same
// messages in shuffled orders and raising the same sources' heads. Each report's transaction used
// to lock index rows in the report's order and the source's sync_pairs rows after its own pair's,
// and PostgreSQL answered "deadlock detected" (a 500 to the target); later, rarely, its own pair's
// row last when it was past the report's head (#15: reportLockOrder.test.ts makes that interleaving
// happen every time). Now every report locks in one order (subgraphs/central/sync/reportLocks.ts):
// all are taken, none is rolled back, and every log row and index row is there exactly once. The nodes are real HTTP clients speaking the protocol
// (tests/sync/nodeSide.ts).
import { createHash, randomUUID } from 'node:crypto';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import {
  SYNC_LIVE_REPORT_PATH,
  SYNC_LIVE_REPORTS_PATH,
  type AppliedChange,
  type SyncJob,
} from '../../lib/syncProtocol.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { createPlacedRoom, onlineNodes, type ProtocolNode } from '../helpers/syncCluster.ts';
import { openJobStream, postAsNode, report } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

/** Reports per session, messages per report, live reports per window, messages per live report. */
const REPORTS = 8;
const PER_REPORT = 20;
const LIVE_REPORTS = 3;
const PER_LIVE_REPORT = 6;

const lines: string[] = [];
let one: TestCentral;
let two: TestCentral;
let nodes: ProtocolNode[];
let room: string;
let sender: string;
const messages = Array.from({ length: REPORTS * PER_REPORT }, () => randomUUID());
const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const hlc = (ms: number, counter: number, node: string) =>
  `${String(ms).padStart(15, '0')}:${String(counter).padStart(8, '0')}:${node}`;

function shuffled<T>(items: readonly T[]): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i -= 1) {
    const j = Math.floor(Math.random() * (i + 1));
    [copy[i], copy[j]] = [copy[j] as T, copy[i] as T];
  }
  return copy;
}

function change(messageId: string, action: AppliedChange['action'], at: number): AppliedChange {
  const origin = nodes[0]?.id ?? '';
  return {
    messageId,
    roomId: room,
    senderId: sender,
    contentHash: sha(`${messageId}@${at}`),
    originNode: origin,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000 + at,
    deleted: false,
    action,
    hlc: hlc(1_700_000_000_000 + at, 0, origin),
  };
}

beforeAll(async () => {
  const databaseUrl = await sharedCentralDatabase(
    leftovers.add(await startPostgres(), (cluster) => cluster.stop()),
    'report_deadlock',
  );
  // Warnings and errors of both centrals: a report rolled back and run again says so.
  const logger = createLogger('central', { level: 'warn', write: (line) => lines.push(line) });
  const options = { databaseUrl, heartbeatIntervalMs: 600_000, logger };
  one = await startTestCentral(leftovers, options);
  two = await startTestCentral(leftovers, options);
  // Half of the nodes beat through each central.
  nodes = await onlineNodes(one, ['n1', 'n2', 'n3', 'n4'], [one, two]);
  const alice = await one.createUser('alice');
  sender = alice.id;
  room = await createPlacedRoom(
    one,
    alice,
    (nodes[0] as ProtocolNode).id,
    nodes.slice(1).map((n) => n.id),
  );
});

describe('sync reports recorded at once through two centrals on PostgreSQL', () => {
  it('take no deadlock and record every log and index row exactly once', async () => {
    // Each node's job stream on one of the two centrals: the catch-up at connect runs a session of
    // every ordered pair, dispatched by either central.
    const sessions: Array<{ job: SyncJob; target: ProtocolNode; central: TestCentral }> = [];
    for (const [i, target] of nodes.entries()) {
      const central = i % 2 === 0 ? one : two;
      const stream = await openJobStream(leftovers, central.url, target.apiKey);
      for (const source of nodes.filter((n) => n !== target))
        sessions.push({
          job: await stream.waitForJob((j) => j.sourceNodeId === source.id),
          target,
          central,
        });
    }
    expect(sessions).toHaveLength(12);

    const heads = new Map<string, number>();
    const sessionReports = sessions.flatMap(({ job, target }, s) =>
      Array.from({ length: REPORTS }, (_, k) => {
        const head = 1000 + k * 10 + s;
        heads.set(job.sourceNodeId, Math.max(heads.get(job.sourceNodeId) ?? 0, head));
        const batch = messages.slice(k * PER_REPORT, (k + 1) * PER_REPORT);
        return () =>
          // Each report through either central, whichever dispatched the session.
          report(((s + k) % 2 === 0 ? one : two).url, target.apiKey, {
            sessionId: job.sessionId,
            status: 'IN_PROGRESS',
            messagesSynced: (k + 1) * PER_REPORT,
            applied: shuffled(batch).map((m) => change(m, 'CREATE', s * 100 + k)),
            cursor: k * 10,
            sourceHeadSeq: head,
          });
      }),
    );
    // A live window per pair beside its session: its reports go in order, the windows at once.
    // Half the targets send their windows' reports all in one request (the batch endpoint,
    // shuffled: the locks follow their keys, not the request's order), the others one by one.
    const targets = nodes.map((target) =>
      sessions.flatMap((session, s) => (session.target === target ? [{ ...session, s }] : [])),
    );
    const windows = targets.map((pairs, t) => async () => {
      const target = nodes[t] as ProtocolNode;
      const ids = pairs.map(() => randomUUID());
      // Distinct messages across a window's reports: each is logged once in it.
      const picked = pairs.map(() => shuffled(messages));
      const answers: Array<{ status: number; body: unknown }> = [];
      for (let sequence = 1; sequence <= LIVE_REPORTS; sequence += 1) {
        const reports = pairs.map(({ job, s }, k) => {
          const head = 2000 + sequence * 10 + s;
          heads.set(job.sourceNodeId, Math.max(heads.get(job.sourceNodeId) ?? 0, head));
          return {
            windowId: ids[k],
            sourceNodeId: job.sourceNodeId,
            sequence,
            final: sequence === LIVE_REPORTS,
            cursorBefore: 0,
            cursor: sequence,
            sourceHeadSeq: head,
            applied: (picked[k] ?? [])
              .slice((sequence - 1) * PER_LIVE_REPORT, sequence * PER_LIVE_REPORT)
              .map((m) => change(m, 'UPDATE', 10_000 + s * 100 + sequence)),
          };
        });
        const url = (t + sequence) % 2 === 0 ? one.url : two.url;
        if (t % 2 === 0) {
          const sent = await postAsNode(url, target.apiKey, SYNC_LIVE_REPORTS_PATH, {
            reports: shuffled(reports),
          });
          const results = (sent.body as { results?: Array<{ recorded?: boolean }> }).results ?? [];
          expect(results).toHaveLength(reports.length);
          for (const result of results)
            answers.push({ status: sent.status, body: { recorded: result.recorded } });
        } else {
          const sent = await Promise.all(
            reports.map((body) => postAsNode(url, target.apiKey, SYNC_LIVE_REPORT_PATH, body)),
          );
          answers.push(...sent);
        }
      }
      return answers;
    });
    const [answers, liveAnswers] = await Promise.all([
      Promise.all(shuffled(sessionReports).map((send) => send())),
      Promise.all(windows.map((run) => run())),
    ]);
    expect(answers.map((a) => a.status)).toEqual(answers.map(() => 200));
    expect(answers.every((a) => (a.body as { continue: boolean }).continue)).toBe(true);
    expect(liveAnswers.flat().map((a) => a.body)).toEqual(
      liveAnswers.flat().map(() => ({ recorded: true })),
    );

    // The ends at once too: each sets both nodes' lastSyncAt.
    const ends = await Promise.all(
      sessions.map(({ job, target }, s) =>
        report((s % 2 === 0 ? two : one).url, target.apiKey, {
          sessionId: job.sessionId,
          status: 'COMPLETED',
          messagesSynced: REPORTS * PER_REPORT,
          applied: [],
          cursor: REPORTS * 10,
        }),
      ),
    );
    expect(ends.map((e) => [e.status, e.body])).toEqual(ends.map(() => [200, { continue: false }]));

    const db = one.central.services.db;
    const rows = <T>(query: ReturnType<typeof sql>) =>
      db.execute(query).then((result) => (result as { rows: T[] }).rows);
    // Every log row once: a session's messages, and each window's.
    const logged = await rows<{ n: string; distinct: string }>(sql`
      select count(*) as n, count(distinct (session_id, message_id)) as distinct
        from message_sync_log`);
    const expected =
      sessions.length * REPORTS * PER_REPORT + sessions.length * LIVE_REPORTS * PER_LIVE_REPORT;
    expect(logged[0]).toEqual({ n: String(expected), distinct: String(expected) });
    const perSession = await rows<{ session_id: string; n: string }>(sql`
      select session_id, count(*) as n from message_sync_log group by session_id`);
    for (const { job } of sessions)
      expect(perSession.find((r) => r.session_id === job.sessionId)?.n).toBe(
        String(REPORTS * PER_REPORT),
      );
    // Every index row once, held by every node.
    const indexed = await rows<{ id: string; storage_node_ids: string[] }>(sql`
      select id, storage_node_ids from distributed_messages`);
    expect(indexed.map((r) => r.id).sort()).toEqual([...messages].sort());
    const everyNode = nodes.map((n) => n.id).sort();
    for (const row of indexed) expect(row.storage_node_ids).toEqual(everyNode);
    // Each source's head is the greatest any report said, on all its pairs.
    const pairs = await rows<{ source_node_id: string; source_head_seq: string }>(sql`
      select source_node_id, source_head_seq from sync_pairs`);
    expect(pairs).toHaveLength(12);
    for (const pair of pairs)
      expect(Number(pair.source_head_seq)).toBe(heads.get(pair.source_node_id));
    // Nothing was rolled back to be run again, nor failed.
    expect(
      lines.filter((line) => /deadlock|serializ|recording it again|failed/i.test(line)),
    ).toEqual([]);
  });
});
