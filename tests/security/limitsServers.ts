// The servers the limits suites share (limits.test.ts and the fuzz in limits.fuzz.slow.test.ts):
// central, one node and a gateway with small limits, in-process. The bindings are live: each
// file calls startLimitsServers() in beforeAll and stopLimitsServers() in afterAll.
import { expect, vi } from 'vitest';
import { errorCodes } from '../../lib/errors.ts';
import { silentLogger } from '../../lib/log.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { startNode, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
export let central: TestCentral;
export let node: NodeServer;
export let nodeKey: string;
export let gateway: GatewayServer;
export let alice: { id: string; token: string };
export let room: string;
/** Calls the node directly as a gateway would. */
export let asGateway: TestGateway;

export const LIMITS = { maxDepth: 6, maxCost: 150, maxAliases: 5, maxTokens: 400 };
export const KNOWN_CODES = new Set<string>(Object.keys(errorCodes));

export async function startLimitsServers(): Promise<void> {
  central = await startTestCentral(leftovers, {
    loginThrottle: {
      maxFailuresPerUsernameAndAddress: 3,
      maxFailuresPerUsername: 3,
      maxFailuresPerAddress: 8,
      windowMs: 60_000,
    },
  });
  asGateway = await registerTestGateway(central.url);
  const registered = await central.registerNode('node-a');
  nodeKey = registered.apiKey;
  node = leftovers.add(
    await startNode({
      name: 'node-a',
      dataDir: await leftovers.tempDir('switchboard-limits-'),
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
      logger: silentLogger,
      nodeTimeoutMs: 10_000,
      queryLimits: LIMITS,
      maxSubscriptionsPerConnection: 2,
      maxWsPayloadBytes: 64 * 1024,
      wsConnectionInitTimeoutMs: 2000,
    }),
    (g) => g.close(),
  );
  // A hook, where expect.poll is not allowed: vi.waitFor retries the same way.
  await vi.waitFor(
    () =>
      expect(
        gateway.routing
          .report()
          .nodes.some((n) => n.status === 'ONLINE' && n.schema.state === 'ok'),
        'the gateway never routed to node-a',
      ).toBe(true),
    { timeout: 30_000 },
  );
  alice = await central.createUser('alice');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation { createRoom(name: "fuzzed") { id } }',
      {},
      { token: alice.token },
    ),
  ).createRoom.id;
  ok(
    await gql(
      gateway.url,
      'mutation($r: ID!) { postMessage(roomId: $r, content: "before the fuzz") { id } }',
      { r: room },
      { token: alice.token },
    ),
  );
}

export function stopLimitsServers(): Promise<void> {
  return leftovers.dispose();
}
