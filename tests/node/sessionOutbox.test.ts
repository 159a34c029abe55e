// A scheduled session's applied changes reach central's log and index exactly once, whatever
// happens to the reports carrying them: the target stops before central heard of them (they wait
// in the session outbox and go when it starts again), or central recorded a report whose answer
// was lost (sent again, with its sequence, it records nothing twice). Real central on PostgreSQL,
// two real nodes on SQLite files in this process (live replication off: only sessions move
// changes); the target reaches central through a pass-through that can drop its reports or cut
// central's answers to them.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { and, eq, inArray } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../lib/log.ts';
import { SYNC_REPORT_PATH } from '../../lib/syncProtocol.ts';
import {
  distributedMessages,
  messageSyncLog,
  syncSessions,
} from '../../subgraphs/central/db/schema.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { createPlacedRoom, startSyncingNode } from '../helpers/syncCluster.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

/** What the pass-through does with the target's reports: forward, refuse (503), or forward and cut the answer. */
type ReportMode = 'pass' | 'drop' | 'lose';

/** Forwards everything to central; reports as `mode` says. */
class CentralPassThrough {
  mode: ReportMode = 'pass';
  readonly #server: Server;
  url = '';

  constructor(target: string) {
    const upstream = new URL(target);
    this.#server = createServer((req, res) => {
      const isReport = req.method === 'POST' && req.url === SYNC_REPORT_PATH;
      const mode = isReport ? this.mode : 'pass';
      if (mode === 'drop') {
        req.resume();
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ errors: [{ message: 'dropped by the test' }] }));
        return;
      }
      const forwarded = request(
        {
          host: upstream.hostname,
          port: upstream.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          if (mode === 'lose') {
            // Central recorded it; its answer never reaches the target.
            answer.resume();
            answer.on('end', () => req.socket.destroy());
            return;
          }
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forwarded.on('error', () => res.destroy());
      req.pipe(forwarded);
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

let central: TestCentral;
let gateway: TestGateway;
let proxy: CentralPassThrough;
let a: NodeServer;
let b: NodeServer | undefined;
let bKey: string;
let bDataDir: string;
let alice: { id: string; token: string };
let room: string;
const B_NAME = 'outbox-b';

async function startB(): Promise<NodeServer> {
  const node = await startNode({
    name: B_NAME,
    dataDir: bDataDir,
    centralUrl: proxy.url,
    apiKey: bKey,
    liveReplication: false,
    centralTimeoutMs: 2000,
    logger: createLogger(B_NAME, {
      write: (line) => {
        if (process.env['SWITCHBOARD_TEST_LOG']) process.stderr.write(`${line}\n`);
      },
    }),
  });
  b = node;
  return node;
}

/** B's outbox rows, read from its file while it is stopped. */
/** Starts B again and waits until its leftover reports emptied its outbox. */
async function restartBUntilReported(): Promise<void> {
  const restarted = await startB();
  await expect
    .poll(
      () => restarted.db.sqlite.prepare('SELECT count(*) AS n FROM sync_session_outbox').get(),
      { timeout: 60_000 },
    )
    .toEqual({ n: 0 });
}

function outboxOnDisk(): { rows: number; applied: number } {
  const raw = new Database(path.join(bDataDir, `${B_NAME}.sqlite`), { readonly: true });
  try {
    return raw
      .prepare(
        'SELECT count(*) AS rows, coalesce(sum(applied_count), 0) AS applied FROM sync_session_outbox',
      )
      .get() as { rows: number; applied: number };
  } finally {
    raw.close();
  }
}

/** How many log rows central holds per message (every session), and the messages indexed on B. */
async function recorded(ids: readonly string[]) {
  const db = central.central.services.db;
  const rows = await db
    .select({ messageId: messageSyncLog.messageId, sessionId: messageSyncLog.sessionId })
    .from(messageSyncLog)
    .where(inArray(messageSyncLog.messageId, [...ids]));
  const perMessage = ids.map((id) => rows.filter((r) => r.messageId === id).length);
  const indexed = await db
    .select({ id: distributedMessages.id, holders: distributedMessages.storageNodeIds })
    .from(distributedMessages)
    .where(inArray(distributedMessages.id, [...ids]));
  const onB = indexed.filter((m) => b !== undefined && m.holders.includes(b.nodeId)).length;
  return { perMessage, onB, sessions: new Set(rows.map((r) => r.sessionId)) };
}

const active = async () =>
  (
    await central.central.services.db
      .select()
      .from(syncSessions)
      .where(and(eq(syncSessions.sourceNodeId, a.nodeId), eq(syncSessions.targetNodeId, bId())))
  ).filter((s) => s.status === 'PENDING' || s.status === 'IN_PROGRESS');

let bNodeId = '';
const bId = () => bNodeId;

const triggerB = async () =>
  ok(
    await gql(
      central.url,
      'mutation($n: ID) { triggerSync(nodeId: $n, syncType: INCREMENTAL) { id } }',
      { n: bId() },
      { token: central.adminToken },
    ),
  );

const postOnA = async (n: number, what: string) => {
  const ids: string[] = [];
  for (let i = 0; i < n; i += 1) {
    const posted = ok(
      await gateway.gql<{ postMessage: { id: string } }>(
        a,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: room, c: `${what} ${i}` },
        { token: alice.token },
      ),
    );
    ids.push(posted.postMessage.id);
  }
  return ids;
};

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  proxy = leftovers.add(new CentralPassThrough(central.url), (p) => p.close());
  await proxy.listen();
  gateway = await registerTestGateway(central.url);
  a = await startSyncingNode(leftovers, central, 'outbox-a', { liveReplication: false });
  const registered = await central.registerNode(B_NAME);
  bKey = registered.apiKey;
  bNodeId = registered.id;
  bDataDir = await leftovers.tempDir('switchboard-outbox-b-');
  await startB();
  leftovers.defer(() => b?.close());
  alice = await central.createUser('alice');
  room = await createPlacedRoom(central, alice, a.nodeId, [bNodeId]);
  // The pair's catch-up at start is over before the tests play with reports.
  await postOnA(1, 'warm-up');
  await triggerB();
  await vi.waitFor(
    async () => {
      if ((await active()).length > 0) throw new Error('the pair still has a session running');
    },
    { timeout: 60_000, interval: 100 },
  );
});

describe('a scheduled session whose reports do not reach central', () => {
  it('reports what it applied after the target restarts, once', async () => {
    proxy.mode = 'drop';
    const ids = await postOnA(5, 'dropped');
    await triggerB();
    await expect
      .poll(() => ids.every((id) => b?.store.get(id) !== undefined), { timeout: 60_000 })
      .toBe(true);
    // The target stops before central heard of them (as a kill would leave it: the cursor past
    // them, central's log without them).
    await b?.close();
    b = undefined;
    expect(outboxOnDisk().applied).toBe(5);
    expect((await recorded(ids)).perMessage).toEqual([0, 0, 0, 0, 0]);

    proxy.mode = 'pass';
    await restartBUntilReported();
    const after = await recorded(ids);
    expect(after.perMessage).toEqual([1, 1, 1, 1, 1]);
    expect(after.onB).toBe(5);
    // All in the session that applied them, whose counters say so.
    expect(after.sessions.size).toBe(1);
    const [sessionId] = [...after.sessions];
    const [session] = await central.central.services.db
      .select()
      .from(syncSessions)
      .where(eq(syncSessions.id, sessionId as string));
    expect(session?.messagesSynced).toBe(5);
    expect(session?.status).toBe('FAILED');
  });

  it('records a report whose answer was lost once, though the target sends it again', async () => {
    await expect.poll(async () => (await active()).length, { timeout: 60_000 }).toBe(0);
    proxy.mode = 'lose';
    const ids = await postOnA(5, 'answer lost');
    await triggerB();
    await expect
      .poll(async () => (await recorded(ids)).perMessage, { timeout: 60_000 })
      .toEqual([1, 1, 1, 1, 1]);
    await b?.close();
    b = undefined;
    // B never heard central took them: the rows are still there, with their report's sequence.
    expect(outboxOnDisk().applied).toBe(5);

    proxy.mode = 'pass';
    await restartBUntilReported();
    const after = await recorded(ids);
    expect(after.perMessage).toEqual([1, 1, 1, 1, 1]);
    expect(after.onB).toBe(5);
  });
});
