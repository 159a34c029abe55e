// A scheduled session's applied changes outlive the process that applied them until central took
// them (sessionOutbox.ts): a target that stopped before central answered reports them when it
// starts again, so central's log and index learn of every change the target holds. Real nodes in
// one process against a real central; the target's central client records the sync reports and
// can refuse them (central away), as in sync.test.ts, and sessions are handed to the puller
// directly.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import type { SyncJob, SyncReport } from '../../lib/syncProtocol.ts';
import { createCentralClient, type CentralClient } from '../../subgraphs/node/centralClient.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
const reports: SyncReport[] = [];
/** Whether central takes reports; while false every report fails as if central were away. */
let centralTakes = true;
const nodeIds: string[] = [];
let source: NodeServer;
let target: { name: string; dataDir: string; apiKey: string; id: string };

function client(apiKey: string): CentralClient {
  const real = createCentralClient({ centralUrl: central.url, apiKey });
  return {
    ...real,
    reportSync(report) {
      if (!centralTakes) return Promise.reject(new Error('central is away'));
      reports.push(report);
      return Promise.resolve({ continue: true });
    },
    syncAuthority(query) {
      return Promise.resolve({
        storageNodes: Object.fromEntries(query.roomIds.map((room) => [room, nodeIds])),
        senders: query.senders.map(() => true),
      });
    },
    async roomsChanged() {},
    openSyncJobs: () => Promise.reject(new Error('not used: sync is off in these tests')),
  };
}

async function startTarget(): Promise<NodeServer> {
  return leftovers.add(
    await startNode({
      name: target.name,
      dataDir: target.dataDir,
      centralUrl: central.url,
      apiKey: target.apiKey,
      central: client(target.apiKey),
      sync: false,
      logger: silentLogger,
    }),
    (n) => n.close(),
  );
}

async function job(to: NodeServer, roomId: string): Promise<SyncJob> {
  const grant = await central.central.services.tokens.signPull({
    sourceNodeId: source.nodeId,
    targetNodeId: to.nodeId,
    roomIds: [roomId],
  });
  return {
    sessionId: randomUUID(),
    syncType: 'INCREMENTAL',
    sourceNodeId: source.nodeId,
    sourceUrl: source.url,
    roomIds: [roomId],
    batchSize: 1000,
    pullToken: grant.token,
    pullTokenExpiresAt: grant.expiresAt,
  };
}

const outboxRows = (node: NodeServer) =>
  (
    node.db.sqlite.prepare('SELECT count(*) AS n FROM sync_session_outbox').get() as {
      n: number;
    }
  ).n;

function posts(roomId: string, count: number): string[] {
  source.held.apply([roomId]);
  return Array.from(
    { length: count },
    (_, i) => source.store.post({ roomId, senderId: 'user-1', content: `m${i}` }).id,
  );
}

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  const a = await central.registerNode('outbox-a');
  const b = await central.registerNode('outbox-b');
  nodeIds.push(a.id, b.id);
  source = leftovers.add(
    await startNode({
      name: 'outbox-a',
      dataDir: await leftovers.tempDir('switchboard-outbox-a-'),
      centralUrl: central.url,
      apiKey: a.apiKey,
      central: client(a.apiKey),
      sync: false,
      logger: silentLogger,
    }),
    (n) => n.close(),
  );
  target = {
    name: 'outbox-b',
    dataDir: await leftovers.tempDir('switchboard-outbox-b-'),
    apiKey: b.apiKey,
    id: b.id,
  };
});

describe('a session whose changes central did not take', () => {
  it('leaves nothing behind once central took its reports', async () => {
    const node = await startTarget();
    try {
      const roomId = `room-${randomUUID()}`;
      const ids = posts(roomId, 3);
      const theJob = await job(node, roomId);
      expect((await node.puller.enqueue(theJob)).status).toBe('COMPLETED');
      const carried = reports
        .filter((r) => r.sessionId === theJob.sessionId)
        .flatMap((r) => r.applied.map((c) => c.messageId));
      expect(carried.sort()).toEqual([...ids].sort());
      expect(outboxRows(node)).toBe(0);
    } finally {
      await node.close();
    }
  });

  it('reports them when the target starts again: FAILED and handed back, every change once', async () => {
    const roomId = `room-${randomUUID()}`;
    const ids = posts(roomId, 5);
    let node = await startTarget();
    const theJob = await job(node, roomId);
    centralTakes = false;
    try {
      // Applied, then its report fails: the session stops and offers itself back to central,
      // which stays away until the node is closed.
      expect((await node.puller.enqueue(theJob)).status).toBe('STOPPED');
      expect(node.store.get(ids[0] ?? '')).toBeDefined();
      expect(outboxRows(node)).toBe(5);
    } finally {
      await node.close();
    }
    centralTakes = true;
    node = await startTarget();
    try {
      await expect
        .poll(() => reports.filter((r) => r.sessionId === theJob.sessionId).length)
        .toBeGreaterThan(0);
      const carrying = reports.filter((r) => r.sessionId === theJob.sessionId);
      expect(carrying).toHaveLength(1);
      expect(carrying[0]).toMatchObject({ status: 'FAILED', resume: true });
      expect(carrying[0]?.applied.map((c) => c.messageId).sort()).toEqual([...ids].sort());
      await expect.poll(() => outboxRows(node)).toBe(0);
    } finally {
      await node.close();
    }
  });
});
