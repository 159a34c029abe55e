// A node's live reports during a rolling upgrade: its central may be of the previous release,
// which has no batch endpoint (404 for SYNC_LIVE_REPORTS_PATH, as for any unknown path). The
// reports then go one request each to SYNC_LIVE_REPORT_PATH, with each one's result as the batch
// would give it (recorded, or refused with its status), and the batch is not tried again on every
// round. A real central (PostgreSQL) behind a pass-through that answers the batch path as the old
// release did; the node's real central client.
import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorBody } from '../../lib/errors.ts';
import { createLogger } from '../../lib/log.ts';
import {
  SYNC_LIVE_REPORT_PATH,
  SYNC_LIVE_REPORTS_PATH,
  type LiveReport,
} from '../../lib/syncProtocol.ts';
import { createCentralClient } from '../../subgraphs/node/centralClient.ts';
import { liveReportSender } from '../../subgraphs/node/sync/liveReportSender.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let t: TestCentral;
let a: { id: string; apiKey: string };
let b: { id: string; apiKey: string };
let room: string;
let alice: { id: string; token: string };
let oldCentralUrl: string;
/** The paths the node called, in order. */
const called: string[] = [];

/** A central of the previous release in front of the real one: no batch endpoint. */
async function startOldCentral(upstream: string): Promise<string> {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    called.push(req.url ?? '');
    if (req.url === SYNC_LIVE_REPORTS_PATH) {
      req.resume();
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(errorBody('NOT_FOUND', `no internal endpoint POST ${SYNC_LIVE_REPORTS_PATH}`));
      return;
    }
    const forward = httpRequest(
      {
        host: target.hostname,
        port: target.port,
        method: req.method,
        path: req.url,
        headers: { ...req.headers, host: target.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  leftovers.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000 });
  a = await t.registerNode('upgrade-a', 'http://127.0.0.1:1/a');
  b = await t.registerNode('upgrade-b', 'http://127.0.0.1:1/b');
  for (const [node, url] of [
    [a, 'http://127.0.0.1:1/a'],
    [b, 'http://127.0.0.1:1/b'],
  ] as const)
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
  alice = await t.createUser('alice');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      t.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "upgrade", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: a.id, r: [b.id] },
      { token: alice.token },
    ),
  ).createRoom.id;
  oldCentralUrl = await startOldCentral(t.url);
});

function report(sequence: number, windowId = uuidv7()): LiveReport {
  const at = Date.now();
  return {
    windowId,
    sourceNodeId: a.id,
    sequence,
    final: false,
    cursorBefore: 0,
    cursor: sequence,
    sourceHeadSeq: sequence,
    applied: [
      {
        messageId: uuidv7(),
        roomId: room,
        senderId: alice.id,
        contentHash: 'b'.repeat(64),
        originNode: a.id,
        createdAt: at,
        updatedAt: at,
        deleted: false,
        action: 'CREATE',
      },
    ],
  };
}

describe('live reports to a central of the previous release', () => {
  it('go one by one after its 404, each with its result, and the batch is not asked again at once', async () => {
    const lines: string[] = [];
    const send = liveReportSender(
      createCentralClient({ centralUrl: oldCentralUrl, apiKey: b.apiKey }),
      createLogger('node', { write: (line) => lines.push(line) }),
    );
    const first = report(1);
    const gap = report(3);
    expect(await send([first, gap])).toEqual([
      { windowId: first.windowId, sequence: 1, recorded: true },
      {
        windowId: gap.windowId,
        sequence: 3,
        error: { code: 'HTTP 409', message: expect.stringMatching(/expects report 1/) },
      },
    ]);
    expect(called).toEqual([SYNC_LIVE_REPORTS_PATH, SYNC_LIVE_REPORT_PATH, SYNC_LIVE_REPORT_PATH]);
    expect(lines.filter((line) => /one by one/.test(line))).toHaveLength(1);

    // The next round: straight to the single reports; a retry of a recorded one records nothing.
    called.length = 0;
    const next = report(2, first.windowId);
    expect(await send([first, next])).toEqual([
      { windowId: first.windowId, sequence: 1, recorded: false },
      { windowId: first.windowId, sequence: 2, recorded: true },
    ]);
    expect(called).toEqual([SYNC_LIVE_REPORT_PATH, SYNC_LIVE_REPORT_PATH]);
  });

  it('go in one request to a central that has the batch endpoint', async () => {
    called.length = 0;
    const send = liveReportSender(
      createCentralClient({ centralUrl: t.url, apiKey: b.apiKey }),
      createLogger('node', { write: () => {} }),
    );
    const one = report(1);
    const two = report(1);
    expect(await send([one, two])).toEqual([
      { windowId: one.windowId, sequence: 1, recorded: true },
      { windowId: two.windowId, sequence: 1, recorded: true },
    ]);
    // Not through the old central at all.
    expect(called).toEqual([]);
  });
});
