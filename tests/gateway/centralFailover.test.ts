// A gateway and two nodes given two centrals (`--central-url a,b`, one PostgreSQL database): they
// keep working (login, posts, sync sessions and their syncSessionUpdated events) when the first
// central stops, move back when it returns and the second stops, and when none answers the
// gateway says so within seconds (/ready 503 naming both, central_connected 0) and its
// syncSessionUpdated subscribers get a CENTRAL_UNAVAILABLE notice, then CENTRAL_AVAILABLE and live
// events once a central is back. In-process: real servers on port 0, real PostgreSQL.
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { createLogger, silentLogger } from '../../lib/log.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';
import { wsClient } from '../helpers/subscriptions.ts';
import { ADMIN_PASSWORD } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';

const METRICS_TOKEN = 'metrics-token-for-failover-tests';
const leftovers = new Leftovers();
const log = () => (process.env['SWITCHBOARD_TEST_LOG'] ? createLogger('test') : silentLogger);
let databaseUrl: string;
const centrals: { a?: TestCentral; b?: TestCentral } = {};
let urlA: string;
let urlB: string;
let gateway: GatewayServer;
let nodeA: NodeServer;
let nodeB: NodeServer;
let roomId: string;

async function startCentralAt(port = 0): Promise<TestCentral> {
  return startTestCentral(leftovers, {
    databaseUrl,
    port,
    logger: log(),
  });
}

async function node(name: string, apiKey: string): Promise<NodeServer> {
  return leftovers.add(
    await startNode({
      name,
      dataDir: await leftovers.tempDir('switchboard-failover-'),
      centralUrl: `${urlA},${urlB}`,
      apiKey,
      logger: log(),
    }),
    (n) => n.close(),
  );
}

async function login(): Promise<string> {
  return ok(
    await gql<{ login: { token: string } }>(
      gateway.url,
      'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
      { p: ADMIN_PASSWORD },
    ),
  ).login.token;
}

async function ready(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${gateway.url}/ready`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function connectedGauge(): Promise<string | undefined> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return /^switchboard_gateway_central_connected (\d)$/m.exec(text)?.[1];
}

/** Everything a subscription delivers, events and notices alike, in order. */
function listen(client: Client, query: string, variables: Record<string, unknown>) {
  const results: Array<{ data?: unknown; errors?: Array<{ extensions?: { code?: string } }> }> = [];
  let ended = false;
  client.subscribe(
    { query, variables },
    {
      next: (result) => void results.push(result as unknown as (typeof results)[number]),
      error: () => (ended = true),
      complete: () => (ended = true),
    },
  );
  return {
    results,
    ended: () => ended,
    codes: () => results.map((r) => r.errors?.[0]?.extensions?.code ?? 'event'),
  };
}

beforeAll(async () => {
  const postgres = await startPostgres();
  leftovers.defer(() => postgres.stop());
  databaseUrl = await sharedCentralDatabase(postgres, 'central_failover');
  centrals.a = await startCentralAt();
  centrals.b = await startCentralAt();
  urlA = centrals.a.url;
  urlB = centrals.b.url;
  const a = await centrals.a.registerNode('node-a');
  const b = await centrals.a.registerNode('node-b');
  [nodeA, nodeB] = await Promise.all([node('node-a', a.apiKey), node('node-b', b.apiKey)]);
  gateway = leftovers.add(
    await startGateway({
      centralUrl: [urlA, urlB],
      gatewaySecret: TEST_GATEWAY_SECRET,
      metricsToken: METRICS_TOKEN,
      // The default deadline (10 s), not a tighter one: the centrals below stop (refused at once),
      // they do not hang, and on a loaded machine a living central took over 3 s to answer a login,
      // which counted it as down and told the shared subscriber CENTRAL_UNAVAILABLE.
      logger: log(),
    }),
    (g) => g.close(),
  );
  // A hook, where expect.poll is not allowed: vi.waitFor retries the same way.
  await vi.waitFor(
    () =>
      expect(
        gateway.routing
          .report()
          .nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok').length,
        'the gateway never routed to both nodes',
      ).toBe(2),
    { timeout: 60_000, interval: 50 },
  );
  roomId = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation($h: ID, $r: [ID!]) { createRoom(name: "failover", homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { h: nodeA.nodeId, r: [nodeB.nodeId] },
      { token: await login() },
    ),
  ).createRoom.id;
}, 120_000);

afterAll(() => leftovers.dispose());

/** Login, a post through the gateway, a FULL sync to node-b and its session's last event. */
async function worksEndToEnd(sub: ReturnType<typeof listen>, content: string): Promise<void> {
  const token = await login();
  const posted = ok(
    await gql<{ postMessage: { id: string } }>(
      gateway.url,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: roomId, c: content },
      { token },
    ),
  ).postMessage.id;
  const sessions = ok(
    await gql<{ triggerSync: Array<{ id: string }> }>(
      gateway.url,
      'mutation($n: ID) { triggerSync(nodeId: $n, syncType: FULL) { id } }',
      { n: nodeB.nodeId },
      { token },
    ),
  ).triggerSync.map((s) => s.id);
  expect(sessions.length).toBeGreaterThan(0);
  // Replicated to node-b (by its live stream or the session), and the sessions' ends delivered.
  await expect.poll(() => nodeB.store.get(posted)?.content, { timeout: 30_000 }).toBe(content);
  await expect
    .poll(
      () =>
        sessions.every((id) =>
          sub.results.some((r) => {
            const s = (r.data as { syncSessionUpdated?: { id: string; status: string } } | null)
              ?.syncSessionUpdated;
            return s?.id === id && ['COMPLETED', 'FAILED'].includes(s.status);
          }),
        ),
      { timeout: 30_000 },
    )
    .toBe(true);
}

describe('two centrals behind one --central-url', () => {
  let sub: ReturnType<typeof listen>;

  it('works through the first central', async () => {
    const client = wsClient(leftovers, gateway.url, await login());
    sub = listen(client, 'subscription($n: ID) { syncSessionUpdated(nodeId: $n) { id status } }', {
      n: nodeB.nodeId,
    });
    await expect.poll(() => gateway.subscriptions.stats().upstream).toBe(1);
    await worksEndToEnd(sub, 'both centrals up');
    expect((await ready()).status).toBe(200);
  });

  it('keeps working on the second central once the first stops', async () => {
    await centrals.a?.central.close();
    await worksEndToEnd(sub, 'first central stopped');
    const { status, body } = await ready();
    expect(status).toBe(200);
    const current = (body['centrals'] as Array<{ url: string; current: boolean }>).find(
      (c) => c.current,
    );
    expect(current?.url).toBe(urlB);
    // Another central was there all along: subscribers were not told anything.
    expect(sub.codes().filter((c) => c !== 'event')).toEqual([]);
    expect(sub.ended()).toBe(false);
  });

  it('moves back to the first central when it returns and the second stops', async () => {
    centrals.a = await startCentralAt(Number(new URL(urlA).port));
    await centrals.b?.central.close();
    await worksEndToEnd(sub, 'second central stopped');
    const { status, body } = await ready();
    expect(status).toBe(200);
    expect(
      (body['centrals'] as Array<{ url: string; current: boolean }>).find((c) => c.current)?.url,
    ).toBe(urlA);
    expect(sub.codes().filter((c) => c !== 'event')).toEqual([]);
  });

  it('says so within seconds when no central answers, and carries on once one is back', async () => {
    await centrals.a?.central.close();
    // /ready and the gauge: not ready, with a reason naming both centrals (to the metrics token).
    await expect.poll(async () => (await ready()).status, { timeout: 20_000 }).toBe(503);
    const down = (await ready()).body;
    expect(down['status']).toBe('waiting for central');
    expect(down['reason']).toContain(urlA);
    expect(down['reason']).toContain(urlB);
    const anonymous = (await (await fetch(`${gateway.url}/ready`)).json()) as { reason: string };
    expect(anonymous.reason).toBe('no central answers (2 tried)');
    expect(await connectedGauge()).toBe('0');
    // The subscriber is told, and stays subscribed.
    await expect
      .poll(() => sub.codes().includes('CENTRAL_UNAVAILABLE'), { timeout: 20_000 })
      .toBe(true);
    const notice = sub.results.find((r) => r.errors?.[0]?.extensions?.code !== undefined);
    expect(notice?.data).toBeNull();
    expect(sub.ended()).toBe(false);

    centrals.a = await startCentralAt(Number(new URL(urlA).port));
    await expect.poll(async () => (await ready()).status, { timeout: 20_000 }).toBe(200);
    expect(await connectedGauge()).toBe('1');
    await expect
      .poll(() => sub.codes().includes('CENTRAL_AVAILABLE'), { timeout: 20_000 })
      .toBe(true);
    const before = sub.results.length;
    await worksEndToEnd(sub, 'first central back');
    expect(sub.results.length).toBeGreaterThan(before);
    // One notice each way, and the subscription never ended. The gateway's link to central may
    // still wait to reopen its own event stream after the subscription's feed is back; it then
    // counts as down, but the feed's central answers, so subscribers are not told otherwise.
    expect(sub.codes().filter((c) => c !== 'event')).toEqual([
      'CENTRAL_UNAVAILABLE',
      'CENTRAL_AVAILABLE',
    ]);
    expect(sub.ended()).toBe(false);
  });
});
