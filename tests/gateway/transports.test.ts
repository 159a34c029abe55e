// The gateway's transports other than a plain POST, against a real central, a real node and the
// real gateway in this process: queries and mutations on the graphql-ws socket (the same answers,
// limits and codes as over HTTP), and subscriptions over HTTP with Apollo's multipart protocol.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { silentLogger } from '../../lib/log.ts';
import { startNode, type NodeOptions, type NodeServer } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';

const leftovers = new Leftovers();
let central: TestCentral;
let gateway: GatewayServer;
let alice: { id: string; token: string };
let bob: { id: string; token: string };
let room: string;
let nodeOptions: NodeOptions;
let node: NodeServer | undefined;

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  const registered = await central.registerNode('node-a');
  nodeOptions = {
    name: 'node-a',
    dataDir: await leftovers.tempDir('switchboard-transports-'),
    centralUrl: central.url,
    apiKey: registered.apiKey,
    logger: silentLogger,
    // With its job stream, as in production: the node acknowledges a member's removal at once,
    // where without it every leaveRoom waited out central's deadline (5 s) for it.
    sync: true,
  };
  node = await startNode(nodeOptions);
  leftovers.defer(() => node?.close());
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
  await until(
    () =>
      gateway.routing.report().nodes.some((n) => n.status === 'ONLINE' && n.schema.state === 'ok'),
    (routable) => routable,
    'the gateway to route to the node',
    30_000,
  );
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

const MULTIPART_ACCEPT =
  'multipart/mixed;boundary="graphql";subscriptionSpec="1.0",application/json';

interface Stream {
  readonly status: number;
  readonly contentType: string | null;
  /** Every part's JSON, in order; the string END once the closing boundary came. */
  readonly parts: unknown[];
  /** Resolves with the first part matching `check` (already received or future). */
  until(check: (part: unknown) => boolean): Promise<unknown>;
  abort(): void;
}

/** A multipart subscription read the way the protocol frames it, by a reader of its own. */
async function multipart(
  query: string,
  variables: Record<string, unknown>,
  token: string | undefined,
): Promise<Stream & { body?: unknown }> {
  const controller = new AbortController();
  leftovers.defer(() => controller.abort());
  const response = await fetch(`${gateway.url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: MULTIPART_ACCEPT,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
    signal: controller.signal,
  });
  const contentType = response.headers.get('content-type');
  const parts: unknown[] = [];
  const waiting = new Set<() => void>();
  const until = (check: (part: unknown) => boolean) =>
    new Promise<unknown>((resolve, reject) => {
      const test = () => {
        const found = parts.find(check);
        if (found !== undefined) {
          waiting.delete(test);
          resolve(found);
        } else if (parts.includes('END') || parts.includes('ABORTED')) {
          waiting.delete(test);
          reject(new Error(`stream ended without it: ${JSON.stringify(parts)}`));
        }
      };
      waiting.add(test);
      test();
    });
  const base = {
    status: response.status,
    contentType,
    parts,
    until,
    abort: () => controller.abort(),
  };
  if (!contentType?.startsWith('multipart/mixed')) return { ...base, body: await response.json() };
  const reader = response.body!.getReader();
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        for (
          let at = buffer.indexOf('\r\n--graphql');
          at >= 0;
          at = buffer.indexOf('\r\n--graphql')
        ) {
          const [, json] = buffer.slice(0, at).split('\r\n\r\n');
          buffer = buffer.slice(at + '\r\n--graphql'.length);
          if (json !== undefined) parts.push(JSON.parse(json));
        }
        if (buffer.startsWith('--')) {
          parts.push('END');
          break;
        }
      }
    } catch {
      parts.push('ABORTED');
    }
    for (const test of [...waiting]) test();
  })().finally(() => {
    for (const test of [...waiting]) test();
  });
  // Parts arrive between reads: wake the waiters on each one.
  const push = parts.push.bind(parts);
  parts.push = (...items: unknown[]) => {
    const length = push(...items);
    for (const test of [...waiting]) test();
    return length;
  };
  return base;
}

const ADDED = 'subscription($r: ID!) { messageAdded(roomId: $r) { id content sender { id } } }';
type Payload = { payload?: { data?: { messageAdded?: { id: string; content: string } } } };
const added = (part: unknown) => (part as Payload).payload?.data?.messageAdded;

async function postMessage(token: string, roomId: string, content: string): Promise<string> {
  return ok(
    await gql<{ postMessage: { id: string } }>(
      gateway.url,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
      { r: roomId, c: content },
      { token },
    ),
  ).postMessage.id;
}

describe('subscriptions over HTTP (multipart/mixed, subscriptionSpec 1.0)', () => {
  it('streams each message once, in order, with heartbeats, and releases the upstream on disconnect', async () => {
    const upstreamBefore = gateway.subscriptions.upstreamCount();
    const stream = await multipart(ADDED, { r: room }, alice.token);
    expect(stream.status).toBe(200);
    expect(stream.contentType).toBe('multipart/mixed;boundary="graphql";subscriptionSpec="1.0"');
    // The first part is a heartbeat, sent once the subscription is in place.
    await stream.until((part) => JSON.stringify(part) === '{}');
    const ids: string[] = [];
    for (const content of ['m1', 'm2', 'm3'])
      ids.push(await postMessage(alice.token, room, content));
    await stream.until((part) => added(part)?.id === ids[2]);
    const heartbeats = () => stream.parts.filter((p) => JSON.stringify(p) === '{}').length;
    const seen = heartbeats();
    await stream.until(() => heartbeats() > seen);
    expect(stream.parts.flatMap((p) => (added(p) ? [added(p)] : []))).toEqual(
      ids.map((id, i) => ({ id, content: `m${i + 1}`, sender: { id: alice.id } })),
    );
    expect(gateway.subscriptions.upstreamCount()).toBeGreaterThan(upstreamBefore);
    stream.abort();
    await expect.poll(() => gateway.subscriptions.upstreamCount()).toBe(upstreamBefore);
    await expect.poll(() => gateway.subscriptions.stats().clients).toBe(0);
  });

  it('refuses before streaming with the codes graphql-ws gives: non-member, no token, invalid, too deep', async () => {
    const forbidden = await multipart(ADDED, { r: room }, bob.token);
    expect(forbidden.status).toBe(200);
    expect(forbidden.body).toEqual({
      errors: [expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })],
    });
    const anonymous = await multipart(ADDED, { r: room }, undefined);
    expect(anonymous.body).toEqual({
      errors: [expect.objectContaining({ extensions: { code: 'UNAUTHENTICATED' } })],
    });
    const invalid = await multipart(
      'subscription($r: ID!) { messageAdded(roomId: $r) { nope } }',
      { r: room },
      alice.token,
    );
    expect(invalid.status).toBe(400);
    expect(
      (invalid.body as { errors: Array<{ extensions: unknown }> }).errors[0]?.extensions,
    ).toEqual({ code: 'GRAPHQL_VALIDATION_FAILED' });
    const deep = await multipart(
      `subscription($r: ID!) { messageAdded(roomId: $r) { ${'room { messages { edges { node { '.repeat(4)}id${' } } } }'.repeat(4)} } }`,
      { r: room },
      alice.token,
    );
    expect(deep.status).toBe(400);
    expect(JSON.stringify(deep.body)).toContain('GRAPHQL_VALIDATION_FAILED');
    const badVariables = await multipart(ADDED, { r: 7.5 }, alice.token);
    expect(JSON.stringify(badVariables.body)).toContain('BAD_USER_INPUT');
    expect(gateway.subscriptions.stats().clients).toBe(0);
  });

  it('ends the stream with the error that ends the subscription (leaving the room: FORBIDDEN)', async () => {
    const leaving = ok(
      await gql<{ createRoom: { id: string } }>(
        gateway.url,
        'mutation { createRoom(name: "leaving") { id } }',
        {},
        { token: alice.token },
      ),
    ).createRoom.id;
    const stream = await multipart(ADDED, { r: leaving }, alice.token);
    await stream.until((part) => JSON.stringify(part) === '{}');
    ok(
      await gql(
        gateway.url,
        'mutation($r: ID!) { leaveRoom(roomId: $r) { id } }',
        { r: leaving },
        { token: alice.token },
      ),
    );
    const ending = await stream.until((part) => (part as { payload?: unknown }).payload === null);
    expect(ending).toEqual({
      payload: null,
      errors: [expect.objectContaining({ extensions: { code: 'FORBIDDEN' } })],
    });
    await stream.until((part) => part === 'END');
  });

  it('answers a query sent with the multipart Accept as usual, in JSON', async () => {
    const response = await fetch(`${gateway.url}/graphql`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: MULTIPART_ACCEPT,
        authorization: `Bearer ${alice.token}`,
      },
      body: JSON.stringify({ query: '{ me { id } }' }),
    });
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await response.json()).toEqual({ data: { me: { id: alice.id } } });
  });
});

describe('room unavailable notices', () => {
  it('tells graphql-ws and multipart subscribers when the room cannot be reached and when it is back, without ending', async () => {
    const noticeRoom = ok(
      await gql<{ createRoom: { id: string } }>(
        gateway.url,
        'mutation { createRoom(name: "notices") { id } }',
        {},
        { token: alice.token },
      ),
    ).createRoom.id;
    // Every result the socket subscription gets, errors included: notices do not end it.
    const results: Array<{
      data?: unknown;
      errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }>;
      extensions?: unknown;
    }> = [];
    let ended: unknown;
    const client = socket(alice.token);
    client.subscribe(
      { query: ADDED, variables: { r: noticeRoom } },
      {
        next: (result) => void results.push(result as (typeof results)[number]),
        error: (error: unknown) => void (ended = error ?? 'error'),
        complete: () => void (ended = 'complete'),
      },
    );
    const stream = await multipart(ADDED, { r: noticeRoom }, alice.token);
    await stream.until((part) => JSON.stringify(part) === '{}');
    await expect.poll(() => gateway.subscriptions.stats().clients).toBe(2);
    const codeOf = (
      result: { errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> } | undefined,
    ) => result?.errors?.[0]?.extensions?.['code'];

    // Back on the same port, as a restarted process would be: the gateway's feed reopens there.
    const port = node?.port;
    await node?.close();
    node = undefined;
    const unavailable = {
      data: null,
      errors: [
        {
          message: expect.stringContaining(noticeRoom) as unknown,
          path: ['messageAdded'],
          extensions: { code: 'NODE_UNAVAILABLE', roomId: noticeRoom },
        },
      ],
      extensions: { roomAvailability: { roomId: noticeRoom, available: false } },
    };
    await expect
      .poll(() => results.find((r) => codeOf(r) === 'NODE_UNAVAILABLE'))
      .toEqual(unavailable);
    expect(
      await stream.until((p) => codeOf((p as { payload?: never }).payload) === 'NODE_UNAVAILABLE'),
    ).toEqual({
      payload: unavailable,
    });
    // A client subscribing while the room is unreachable is told at once.
    const late = await new Promise<unknown>((resolve) => {
      socket(alice.token).subscribe(
        { query: ADDED, variables: { r: noticeRoom } },
        { next: resolve, error: resolve, complete: () => resolve('complete') },
      );
    });
    expect(late).toEqual(unavailable);

    node = await startNode({ ...nodeOptions, ...(port === undefined ? {} : { port }) });
    await expect
      .poll(() => results.find((r) => codeOf(r) === 'ROOM_AVAILABLE'), { timeout: 30_000 })
      .toMatchObject({
        data: null,
        errors: [{ extensions: { code: 'ROOM_AVAILABLE', roomId: noticeRoom } }],
        extensions: { roomAvailability: { roomId: noticeRoom, available: true } },
      });
    await stream.until((p) => codeOf((p as { payload?: never }).payload) === 'ROOM_AVAILABLE');

    const id = await postMessage(alice.token, noticeRoom, 'still here');
    await expect.poll(() => results.some((r) => JSON.stringify(r).includes(id))).toBe(true);
    await stream.until((part) => added(part)?.id === id);
    expect(ended).toBeUndefined();
    expect(results.filter((r) => codeOf(r) !== undefined).map(codeOf)).toEqual([
      'NODE_UNAVAILABLE',
      'ROOM_AVAILABLE',
    ]);
    stream.abort();
  });
});
