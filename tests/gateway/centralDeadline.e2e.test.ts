// A stalled central must not hold the gateway's clients: every request the gateway sends to central
// has a deadline (--central-timeout-ms), after which the fields that needed central fail with
// CENTRAL_UNAVAILABLE and whatever the nodes answered is still delivered; and a whole operation
// has a deadline too (--operation-timeout-ms, 504 OPERATION_TIMEOUT). The gateways under test
// reach central through a TCP proxy that can turn into a black hole (accepts, never answers).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TcpProxy } from '../faults/tcpProxy.ts';
import { Cluster } from '../helpers/cluster.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startProcess } from '../helpers/processes.ts';
import { until } from '../helpers/until.ts';

const TIMEOUT_MS = 1000;
const OPERATION_TIMEOUT_MS = 500;
const leftovers = new Leftovers();
let cluster: Cluster;
let proxy: TcpProxy;
let gatewayUrl: string;
let wholeDeadlineUrl: string;
let roomId: string;
let messageId: string;

async function gatewayViaProxy(env: Record<string, string>): Promise<string> {
  const gateway = startProcess(
    leftovers,
    'gateway-via-proxy',
    ['gateway', '--port', '0', '--central-url', proxy.url],
    { SWITCHBOARD_GATEWAY_SECRET: cluster.secret, ...env },
  );
  const url = (await gateway.waitForLine(/ready at (http:\/\/[^\s]+)\/graphql/))[1] as string;
  // Routing comes from central's event stream; wait until this gateway routes to node-a.
  await until(
    async () => (await readyNodes(url)).some((n) => n.name === 'node-a' && n.status === 'ONLINE'),
    (routed) => routed,
    'the gateway behind the proxy to route to node-a',
    30_000,
  );
  return url;
}

async function readyNodes(url: string): Promise<Array<{ name: string; status: string }>> {
  const response = await fetch(`${url}/ready`, {
    headers: { authorization: `Bearer ${cluster.adminToken}` },
  });
  return ((await response.json()) as { nodes: Array<{ name: string; status: string }> }).nodes;
}

beforeAll(async () => {
  // No gateway of the cluster's own: the two behind the proxy are the ones under test. The room is
  // made at central itself: through the first gateway it had only that gateway's 1 s deadline
  // for central, which a loaded machine overran before any test ran (CENTRAL_UNAVAILABLE in
  // beforeAll, #18). The message goes through the first gateway, as only a gateway posts.
  cluster = await Cluster.start(leftovers, { nodes: ['node-a'], gateway: false });
  proxy = await TcpProxy.start(Number(new URL(cluster.centralUrl).port));
  leftovers.defer(() => proxy.close());
  [gatewayUrl, wholeDeadlineUrl] = await Promise.all([
    gatewayViaProxy({ SWITCHBOARD_CENTRAL_TIMEOUT_MS: String(TIMEOUT_MS) }),
    // Central's own deadline left at its default (10 s): the whole-operation deadline ends first.
    gatewayViaProxy({ SWITCHBOARD_OPERATION_TIMEOUT_MS: String(OPERATION_TIMEOUT_MS) }),
  ]);

  roomId = ok(
    await gql<{ createRoom: { id: string } }>(
      cluster.centralUrl,
      'mutation($h: ID) { createRoom(name: "deadline", homeNodeId: $h) { id } }',
      { h: cluster.node('node-a').id },
      { token: cluster.adminToken },
    ),
  ).createRoom.id;
  messageId = ok(
    await gql<{ postMessage: { id: string } }>(
      gatewayUrl,
      'mutation($r: ID!) { postMessage(roomId: $r, content: "still here") { id } }',
      { r: roomId },
      { token: cluster.adminToken },
    ),
  ).postMessage.id;
});

afterAll(() => leftovers.dispose());

const messageQuery = 'query($id: ID!) { message(id: $id) { content sender { displayName } } }';

describe('gateway with a stalled central', () => {
  it('answers through the proxy while central is healthy', async () => {
    const data = ok(
      await gql<{ message: { content: string; sender: { displayName: string } } }>(
        gatewayUrl,
        messageQuery,
        { id: messageId },
        { token: cluster.adminToken },
      ),
    );
    expect(data.message).toEqual({
      content: 'still here',
      sender: { displayName: 'Administrator' },
    });
  });

  it('fails central fields with CENTRAL_UNAVAILABLE after the deadline, keeping node data', async () => {
    proxy.stall();
    try {
      const rooms = await gql(gatewayUrl, '{ rooms { id } }', {}, { token: cluster.adminToken });
      expect(codes(rooms)).toEqual(['CENTRAL_UNAVAILABLE']);
      expect(rooms.errors?.[0]?.message).toBe(`central did not answer within ${TIMEOUT_MS} ms`);

      // In one request: the message comes from node-a (routing already known) and is delivered;
      // only the central field is null, with the error.
      const mixed = await gql<{ message: { content: string } | null; room: unknown }>(
        gatewayUrl,
        'query($id: ID!, $r: ID!) { message(id: $id) { content } room(id: $r) { name } }',
        { id: messageId, r: roomId },
        { token: cluster.adminToken },
      );
      expect(mixed.data?.message?.content).toBe('still here');
      expect(codes(mixed)).toEqual(['CENTRAL_UNAVAILABLE']);
      expect(mixed.data?.room).toBeNull();
    } finally {
      proxy.heal();
    }
  });

  it('answers 504 OPERATION_TIMEOUT when the whole operation outlasts --operation-timeout-ms', async () => {
    proxy.stall();
    try {
      const response = await gql(
        wholeDeadlineUrl,
        '{ rooms { id } }',
        {},
        { token: cluster.adminToken },
      );
      expect(response.status).toBe(504);
      expect(codes(response)).toEqual(['OPERATION_TIMEOUT']);
    } finally {
      proxy.heal();
    }
  });

  it('serves central fields again once central answers', async () => {
    const data = ok(
      await gql<{ rooms: Array<{ id: string }> }>(
        gatewayUrl,
        '{ rooms { id } }',
        {},
        { token: cluster.adminToken },
      ),
    );
    expect(data.rooms.map((r) => r.id)).toContain(roomId);
  });
});
