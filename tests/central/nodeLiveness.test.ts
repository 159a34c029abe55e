// How soon central calls a silent node OFFLINE with its default settings (issue 17: it took
// 16.8 s), and that its own stalls are not counted as the nodes' silence. The silence is set in
// the database rather than waited for, so the test says the same on a loaded machine.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nodes } from '../../subgraphs/central/db/schema.ts';
import { sweepIntervalMs, sweepSilentNodes } from '../../subgraphs/central/nodeLiveness.ts';
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
