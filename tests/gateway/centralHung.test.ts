// A central that hangs (accepts, never answers: a TCP proxy that stalls) keeps the gateway's event
// stream open, so an open stream alone does not prove the gateway follows central. The gateway
// probes the central in use when nothing answered for a second: with only that central, /ready
// turns 503 and central_connected 0 within seconds, and back once it answers; with a second
// central listed, the gateway moves to it and stays ready. Two in-process centrals on one
// PostgreSQL database, the first behind the proxy.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { silentLogger } from '../../lib/log.ts';
import { TcpProxy } from '../faults/tcpProxy.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { sharedCentralDatabase } from '../helpers/centralData.ts';
import { TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { wsClient } from '../helpers/subscriptions.ts';
import { startPostgres } from '../helpers/postgres.ts';

const METRICS_TOKEN = 'metrics-token-for-hung-central-tests';
const leftovers = new Leftovers();
let proxy: TcpProxy;
let first: TestCentral;
let second: TestCentral;

async function gatewayOn(centralUrl: string[]): Promise<GatewayServer> {
  return leftovers.add(
    await startGateway({
      centralUrl,
      gatewaySecret: TEST_GATEWAY_SECRET,
      metricsToken: METRICS_TOKEN,
      centralTimeoutMs: 2000,
      // Lost after 3 s without an answer (5 s by default), the hung one probed for 1.5 s: still
      // far beyond what a central answers in here, even on a loaded machine.
      centralStaleMs: 3000,
      logger: silentLogger,
    }),
    (g) => g.close(),
  );
}

async function ready(
  gateway: GatewayServer,
): Promise<{ status: number; reason: string | undefined; current: string | undefined }> {
  const response = await fetch(`${gateway.url}/ready`, {
    headers: { authorization: `Bearer ${METRICS_TOKEN}` },
  });
  const body = (await response.json()) as {
    reason?: string;
    centrals: Array<{ url: string; current: boolean }>;
  };
  return {
    status: response.status,
    reason: body.reason,
    current: body.centrals.find((c) => c.current)?.url,
  };
}

async function gauge(gateway: GatewayServer): Promise<string | undefined> {
  const text = await (await fetch(`${gateway.url}/metrics`)).text();
  return /^switchboard_gateway_central_connected (\d)$/m.exec(text)?.[1];
}

beforeAll(async () => {
  const postgres = await startPostgres();
  leftovers.defer(() => postgres.stop());
  const databaseUrl = await sharedCentralDatabase(postgres, 'central_hung');
  first = await startTestCentral(leftovers, { databaseUrl, logger: silentLogger });
  second = await startTestCentral(leftovers, { databaseUrl, logger: silentLogger });
  proxy = await TcpProxy.start(first.central.port);
  leftovers.defer(() => proxy.close());
}, 120_000);

afterAll(() => leftovers.dispose());

describe('a central that hangs', () => {
  it('makes a gateway with no other central unready within seconds, and ready again after', async () => {
    proxy.heal();
    const gateway = await gatewayOn([proxy.url]);
    await expect.poll(async () => (await ready(gateway)).status, { timeout: 30_000 }).toBe(200);
    expect(await gauge(gateway)).toBe('1');
    // A subscriber to a central field: its feed stays open through the stall, silent.
    const codes: string[] = [];
    let ended = false;
    wsClient(leftovers, gateway.url, first.adminToken).subscribe(
      { query: 'subscription { nodeStatusChanged { id status } }' },
      {
        next: (result) => {
          const code = result.errors?.[0]?.extensions?.['code'];
          codes.push(typeof code === 'string' ? code : 'event');
        },
        error: () => (ended = true),
        complete: () => (ended = true),
      },
    );
    await expect.poll(() => gateway.subscriptions.stats().upstream).toBe(1);
    proxy.stall();
    try {
      await expect.poll(async () => (await ready(gateway)).status, { timeout: 20_000 }).toBe(503);
      expect(await gauge(gateway)).toBe('0');
      expect((await ready(gateway)).reason).toContain(proxy.url);
      await expect.poll(() => codes, { timeout: 20_000 }).toEqual(['CENTRAL_UNAVAILABLE']);
    } finally {
      proxy.heal();
    }
    await expect.poll(async () => (await ready(gateway)).status, { timeout: 20_000 }).toBe(200);
    expect(await gauge(gateway)).toBe('1');
    await expect
      .poll(() => codes, { timeout: 20_000 })
      .toEqual(['CENTRAL_UNAVAILABLE', 'CENTRAL_AVAILABLE']);
    expect(ended).toBe(false);
    await gateway.close();
  });

  it('is left for the next central, and the gateway stays ready', async () => {
    proxy.heal();
    const gateway = await gatewayOn([proxy.url, second.url]);
    await expect.poll(async () => (await ready(gateway)).status, { timeout: 30_000 }).toBe(200);
    expect((await ready(gateway)).current).toBe(proxy.url);
    proxy.stall();
    try {
      await expect
        .poll(async () => (await ready(gateway)).current, { timeout: 20_000 })
        .toBe(second.url);
      await expect.poll(async () => (await ready(gateway)).status, { timeout: 20_000 }).toBe(200);
      expect(await gauge(gateway)).toBe('1');
    } finally {
      proxy.heal();
    }
    await gateway.close();
  });
});
