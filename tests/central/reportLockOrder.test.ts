// A report's own pair row is locked in the source's target order, also when the report does not
// raise it (#15). A report raises its source's head on the source's pairs that are behind it,
// locking them in target order (subgraphs/central/sync/reportLocks.ts step 4), and then writes its
// own pair's cursor. When its own pair was already at or past the head (another report raised it
// further) the raise used to skip that row and the cursor's upsert locked it last, after rows of
// greater target ids: a report raising the same source in target order, holding the own pair's
// row and waiting for one of those, closed a cycle, and PostgreSQL answered "deadlock detected"
// (the transaction rolled back and recorded again). reportDeadlock.test.ts met it about once in a
// full suite run; here the other report is a transaction of the test's that locks the source's
// rows in target order, one statement at a time, so the interleaving is the one that deadlocked:
// it holds the lowest target's row while the report (of that pair) runs, and takes the others
// once the report waits for it. Each kind of report is tried: a session's, a live window's, and a
// request of live windows from two sources. A real central on the run's PostgreSQL; the reports
// are its HTTP API called with the target's key.
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import {
  SYNC_LIVE_REPORT_PATH,
  SYNC_LIVE_REPORTS_PATH,
  type LiveReport,
} from '../../lib/syncProtocol.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { createPlacedRoom, onlineNodes, type ProtocolNode } from '../helpers/syncCluster.ts';
import { openJobStream, postAsNode, report } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

/** The heads the pairs start from: the own pair past the report's head, the others behind it. */
const OWN_HEAD = 500;
const OTHERS_HEAD = 100;
const REPORTED_HEAD = 300;
/** What the other report raises the source's pairs to. */
const RAISED_HEAD = 600;

const lines: string[] = [];
let central: TestCentral;
let databaseUrl: string;
let source: ProtocolNode;
/** The source's targets in id order: the report is of the first, whose row is locked first. */
let targets: ProtocolNode[];
let sessionId: string;

beforeAll(async () => {
  databaseUrl = await sharedCentralDatabase(
    leftovers.add(await startPostgres(), (cluster) => cluster.stop()),
    'report_lock_order',
  );
  const logger = createLogger('central', { level: 'warn', write: (line) => lines.push(line) });
  central = await startTestCentral(leftovers, {
    databaseUrl,
    heartbeatIntervalMs: 600_000,
    logger,
  });
  const nodes = await onlineNodes(central, ['n1', 'n2', 'n3', 'n4']);
  source = nodes[0] as ProtocolNode;
  targets = nodes.slice(1).sort((x, y) => (x.id < y.id ? -1 : 1));
  const alice = await central.createUser('alice');
  await createPlacedRoom(
    central,
    alice,
    source.id,
    targets.map((n) => n.id),
  );
  // The session of the source and the first target, dispatched at the catch-up of its stream.
  const stream = await openJobStream(leftovers, central.url, (targets[0] as ProtocolNode).apiKey);
  sessionId = (await stream.waitForJob((j) => j.sourceNodeId === source.id)).sessionId;
});

function liveReport(from: ProtocolNode): LiveReport {
  return {
    windowId: randomUUID(),
    sourceNodeId: from.id,
    sequence: 1,
    final: false,
    cursorBefore: 0,
    cursor: 1,
    sourceHeadSeq: REPORTED_HEAD,
    applied: [],
  };
}

/** The reports, each of the pair (source, first target), sent as its target would. */
const kinds: Record<string, () => Promise<{ status: number; body: unknown }>> = {
  'a session report': () =>
    report(central.url, (targets[0] as ProtocolNode).apiKey, {
      sessionId,
      status: 'IN_PROGRESS',
      messagesSynced: 0,
      applied: [],
      cursor: 1,
      sourceHeadSeq: REPORTED_HEAD,
    }),
  'a live report': () =>
    postAsNode(
      central.url,
      (targets[0] as ProtocolNode).apiKey,
      SYNC_LIVE_REPORT_PATH,
      liveReport(source),
    ),
  // The second source is the last target: its pair with the first target has no row yet.
  'a request of live reports from two sources': () =>
    postAsNode(central.url, (targets[0] as ProtocolNode).apiKey, SYNC_LIVE_REPORTS_PATH, {
      reports: [liveReport(source), liveReport(targets[2] as ProtocolNode)],
    }),
};

describe('a report whose own pair is past its head', () => {
  it.each(Object.keys(kinds))(
    'waits for its pair row in target order, without a deadlock: %s',
    async (kind) => {
      const other = new pg.Client({ connectionString: databaseUrl });
      await other.connect();
      leftovers.defer(() => other.end());
      const [first, ...rest] = targets.map((n) => n.id);
      await other.query('delete from sync_pairs');
      await other.query(
        `insert into sync_pairs (source_node_id, target_node_id, source_head_seq)
         select $1, t, case when t = $2 then $3::bigint else $4::bigint end
           from unnest($5::text[]) as t`,
        [source.id, first, OWN_HEAD, OTHERS_HEAD, targets.map((n) => n.id)],
      );
      const logged = lines.length;

      // The other report raising the source's head: the rows in target order, the first now.
      await other.query('begin');
      const pid = Number(
        (await other.query<{ pid: number }>('select pg_backend_pid() as pid')).rows[0]?.pid,
      );
      const lockInOrder = (ids: string[]) =>
        other.query(
          `select target_node_id from sync_pairs
            where source_node_id = $1 and target_node_id = any($2::text[])
            order by target_node_id for no key update`,
          [source.id, ids],
        );
      expect((await lockInOrder([first ?? ''])).rowCount).toBe(1);

      const sent = kinds[kind]?.();
      // The report's transaction waits for the other's: on the own pair's row, once fixed; on it
      // too before, but with the rows of the greater targets already locked.
      await expect
        .poll(async () => {
          const { rows } = await other.query<{ n: string }>(
            'select count(*) as n from pg_stat_activity where $1 = any(pg_blocking_pids(pid))',
            [pid],
          );
          return Number(rows[0]?.n);
        })
        .toBe(1);

      // The other report goes on in target order: it never waits for the report, which holds
      // none of the rows after the one it waits for.
      expect((await lockInOrder(rest)).rowCount).toBe(rest.length);
      await other.query(
        'update sync_pairs set source_head_seq = greatest(source_head_seq, $2) where source_node_id = $1',
        [source.id, RAISED_HEAD],
      );
      await other.query('commit');

      const answer = await sent;
      expect(answer?.status).toBe(200);
      // Recorded once, not rolled back for a deadlock and recorded again.
      expect(
        lines.slice(logged).filter((l) => /deadlock|recording it again|failed/i.test(l)),
      ).toEqual([]);
      const { rows } = await other.query<{ target: string; head: string; cursor: string }>(
        `select target_node_id as target, source_head_seq as head, cursor from sync_pairs
          where source_node_id = $1 order by target_node_id`,
        [source.id],
      );
      expect(rows).toEqual(
        targets.map((n, i) => ({
          target: n.id,
          head: String(RAISED_HEAD),
          cursor: i === 0 ? '1' : '0',
        })),
      );
    },
  );
});
