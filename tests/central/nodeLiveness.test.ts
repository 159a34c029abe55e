// How soon central calls a silent node OFFLINE with its default settings (issue 17: it took
// 16.8 s), and that its own stalls are not counted as the nodes' silence. The silence is set in
// the database rather than waited for, so the test says the same on a loaded machine.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodes } from '../../subgraphs/central/db/schema.ts';
import {
  flushHeartbeats,
  sweepIntervalMs,
  sweepSilentNodes,
} from '../../subgraphs/central/nodeLiveness.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let t: TestCentral;

beforeAll(async () => {
  t = await startTestCentral(leftovers);
});
afterAll(() => leftovers.dispose());

async function heartbeat(apiKey: string): Promise<{ heartbeatIntervalMs: number }> {
  const response = await fetch(`${t.url}/internal/heartbeat`, {
    method: 'POST',
    headers: { 'x-node-api-key': apiKey, 'content-type': 'application/json' },
    body: JSON.stringify({ url: 'http://127.0.0.1:1' }),
  });
  expect(response.status).toBe(200);
  return (await response.json()) as { heartbeatIntervalMs: number };
}

/** An ONLINE node whose last heartbeat was `silentMs` ago. */
async function nodeSilentFor(name: string, silentMs: number): Promise<string> {
  const node = await t.registerNode(name);
  await heartbeat(node.apiKey);
  await t.central.services.db
    .update(nodes)
    .set({ lastSeenAt: new Date(Date.now() - silentMs) })
    .where(eq(nodes.id, node.id));
  return node.id;
}

async function statusOf(id: string): Promise<string | undefined> {
  const row = await t.central.services.db.query.nodes.findFirst({
    where: (n, { eq: equals }) => equals(n.id, id),
  });
  return row?.status;
}

describe('node liveness defaults', () => {
  it('asks for a heartbeat every 1.5 s and calls a node OFFLINE within 5 s of its last one', async () => {
    const node = await t.registerNode('pace');
    expect((await heartbeat(node.apiKey)).heartbeatIntervalMs).toBe(1500);
    expect(t.central.services.offlineAfterMs).toBe(4500);
    // Threshold plus one sweep period: the latest a silent node is marked.
    const latest = 4500 + sweepIntervalMs(4500);
    expect(latest).toBeLessThanOrEqual(5000);

    const gone = await nodeSilentFor('gone', 4600);
    // Two missed beats and more than a second to spare: not yet OFFLINE.
    const late = await nodeSilentFor('late', 2000);
    await sweepSilentNodes(t.central.services);
    expect(await statusOf(gone)).toBe('OFFLINE');
    expect(await statusOf(late)).toBe('ONLINE');
  });

  it('does not count a stall of central itself as silence of the nodes', async () => {
    // A shorter threshold on a copy of the services: the running sweep keeps the default one.
    const strict = { ...t.central.services, offlineAfterMs: 1000 };
    const id = await nodeSilentFor('stalled-on', 2000);
    await sweepSilentNodes(strict, 1500);
    expect(await statusOf(id)).toBe('ONLINE');
    await sweepSilentNodes(strict);
    expect(await statusOf(id)).toBe('OFFLINE');
  });
});

describe('heartbeats of ONLINE nodes, written together', () => {
  it('writes a kept beat at the next tick, and a node found OFFLINE there comes back', async () => {
    // A central whose own tick is minutes away: the test's call is the tick.
    const c = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000 });
    const heartbeat = async (apiKey: string) => {
      const response = await fetch(`${c.url}/internal/heartbeat`, {
        method: 'POST',
        headers: { 'x-node-api-key': apiKey, 'content-type': 'application/json' },
        body: JSON.stringify({ url: 'http://127.0.0.1:1' }),
      });
      expect(response.status).toBe(200);
    };
    const node = await c.registerNode('batched');
    // The first heartbeat is written at once (a first one is never kept); the second is kept.
    await heartbeat(node.apiKey);
    const row = async () =>
      (await c.central.services.db.select().from(nodes).where(eq(nodes.id, node.id)))[0];
    const first = (await row())?.lastSeenAt;
    await heartbeat(node.apiKey);
    expect(c.central.services.heartbeats.size).toBe(1);
    // Another central marks it OFFLINE meanwhile (its event not here yet): the kept beat, written
    // at this central's tick, finds the row OFFLINE and makes the comeback, told once.
    await c.central.services.db
      .update(nodes)
      .set({ status: 'OFFLINE' })
      .where(eq(nodes.id, node.id));
    const events: string[] = [];
    const unsubscribe = c.central.services.events.subscribe((event) => {
      if (event.type === 'nodeStatusChanged' && event.nodeId === node.id) events.push(event.status);
    });
    try {
      await flushHeartbeats(c.central.services);
      expect(await row()).toMatchObject({ status: 'ONLINE' });
      expect((await row())?.lastSeenAt?.getTime()).toBeGreaterThan(first?.getTime() ?? Infinity);
      expect(events).toEqual(['ONLINE']);
    } finally {
      unsubscribe();
    }
  });
});
