// The gateway's /ready and /metrics (issue 14, finding 7): anonymous callers and MEMBER tokens get
// a summary with no node id, name or URL; an ADMIN token or the configured metrics token gets the
// details; a bad token is refused with a code. In-process: central, one node, two gateways.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';

const leftovers = new Leftovers();
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
let central: TestCentral;
let node: NodeServer;
let nodeId: string;
let gateway: GatewayServer;
let member: { id: string; token: string };

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  const registered = await central.registerNode('node-secretive');
  nodeId = registered.id;
  node = leftovers.add(
    await startNode({
      name: 'node-secretive',
      dataDir: await leftovers.tempDir('switchboard-status-'),
      centralUrl: central.url,
      apiKey: registered.apiKey,
      logger: silentLogger,
      sync: false,
    }),
    (n) => n.close(),
  );
  gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      metricsToken: METRICS_TOKEN,
      logger: silentLogger,
    }),
    (g) => g.close(),
  );
  await until(
    () =>
      gateway.routing.report().nodes.some((n) => n.status === 'ONLINE' && n.schema.state === 'ok'),
    (routable) => routable,
    'the gateway to route to the node',
    60_000,
  );
  member = await central.createUser('mallory');
  // One routed request, so that the per-node series have a sample.
  const room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation { createRoom(name: "status") { id } }',
      {},
      { token: member.token },
    ),
  ).createRoom.id;
  ok(
    await gql(
      gateway.url,
      'mutation($r: ID!) { postMessage(roomId: $r, content: "hello") { id } }',
      { r: room },
      { token: member.token },
    ),
  );
}, 120_000);

afterAll(() => leftovers.dispose());

async function get(
  url: string,
  token?: string,
): Promise<{ status: number; text: string; json: () => Record<string, unknown> }> {
  const response = await fetch(url, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  });
  const text = await response.text();
  return { status: response.status, text, json: () => JSON.parse(text) as Record<string, unknown> };
}

/** Nothing in `text` names the node: not its id, name, URL or port. */
function expectNoNodeDetails(text: string): void {
  expect(text).not.toContain(nodeId);
  expect(text).not.toContain('node-secretive');
  expect(text).not.toContain(node.url);
  expect(text).not.toContain(`:${new URL(node.url).port}`);
}

describe('/ready', () => {
  it('tells an anonymous caller only whether it is ready and how many nodes are in which state', async () => {
    const answer = await get(`${gateway.url}/ready`);
    expect(answer.status).toBe(200);
    expect(answer.json()).toEqual({
      status: 'ready',
      routableNodes: 1,
      nodeCounts: { ONLINE: 1 },
    });
    expectNoNodeDetails(answer.text);
  });

  it('tells a MEMBER the same summary', async () => {
    const answer = await get(`${gateway.url}/ready`, member.token);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.json()).sort()).toEqual(['nodeCounts', 'routableNodes', 'status']);
    expectNoNodeDetails(answer.text);
  });

  it('lists the nodes for an ADMIN token and for the metrics token', async () => {
    for (const token of [central.adminToken, METRICS_TOKEN]) {
      const answer = await get(`${gateway.url}/ready`, token);
      expect(answer.status).toBe(200);
      expect(answer.json()).toMatchObject({
        status: 'ready',
        routableNodes: 1,
        nodeCounts: { ONLINE: 1 },
        subscriptions: { upstream: expect.any(Number) as number },
        nodes: [{ id: nodeId, name: 'node-secretive', url: node.url, status: 'ONLINE' }],
      });
    }
  });

  it('refuses a token that is neither a valid user token nor the metrics token', async () => {
    for (const header of ['Bearer not-the-metrics-token', 'Basic abc']) {
      const response = await fetch(`${gateway.url}/ready`, { headers: { authorization: header } });
      expect(response.status).toBe(401);
      const body = (await response.json()) as { errors: Array<{ extensions: { code: string } }> };
      expect(body.errors[0]?.extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('keeps 503 for a gateway without central, anonymous or not', async () => {
    const orphan = leftovers.add(
      await startGateway({
        centralUrl: 'http://127.0.0.1:1',
        gatewaySecret: TEST_GATEWAY_SECRET,
        metricsToken: METRICS_TOKEN,
        logger: silentLogger,
      }),
      (g) => g.close(),
    );
    const anonymous = await get(`${orphan.url}/ready`);
    expect(anonymous.status).toBe(503);
    // Why, without the central's address: that is for the details.
    expect(anonymous.json()).toEqual({
      status: 'waiting for central',
      reason: 'no central answers (1 tried)',
      routableNodes: 0,
      nodeCounts: {},
    });
    const scraper = await get(`${orphan.url}/ready`, METRICS_TOKEN);
    expect(scraper.status).toBe(503);
    expect(scraper.json()).toMatchObject({ status: 'waiting for central', nodes: [] });
    expect(scraper.json()['reason']).toContain('http://127.0.0.1:1');
  });
});

describe('/metrics', () => {
  const perNode = 'switchboard_gateway_node_request_duration_seconds_count{node="node-secretive"';

  it('serves anonymous callers and MEMBERs no series labelled per node', async () => {
    for (const token of [undefined, member.token]) {
      const answer = await get(`${gateway.url}/metrics`, token);
      expect(answer.status).toBe(200);
      expect(answer.text).toContain('switchboard_gateway_nodes{status="ONLINE",routable="true"} 1');
      expect(answer.text).toContain('switchboard_gateway_operations_total');
      expect(answer.text).not.toContain('node_request_duration_seconds');
      expect(answer.text).not.toMatch(/\bnode="/);
      expectNoNodeDetails(answer.text);
    }
  });

  it('serves the per-node series to an ADMIN token and to the metrics token', async () => {
    for (const token of [central.adminToken, METRICS_TOKEN]) {
      const answer = await get(`${gateway.url}/metrics`, token);
      expect(answer.status).toBe(200);
      expect(answer.text).toContain(perNode);
      expect(answer.text).toContain('switchboard_gateway_nodes{status="ONLINE",routable="true"} 1');
    }
  });

  it('refuses a wrong metrics token with 401', async () => {
    const answer = await get(`${gateway.url}/metrics`, `${METRICS_TOKEN}x`);
    expect(answer.status).toBe(401);
    expect(answer.text).not.toContain('switchboard_gateway');
  });
});
