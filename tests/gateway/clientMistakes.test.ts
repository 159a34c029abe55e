// The gateway as a client meets it when it gets something wrong: a corpus of malformed and odd
// requests (bodies, content types, methods, operation names, variables, values) sent to a real
// gateway over HTTP, each answered with a 4xx (or a 200 with a coded error inside data) and a code
// from lib/errors.ts, never a 5xx; and the cases a client may rightly expect to work (urql's GET
// with Authorization, cost of a full page, pageInfo cursors alone).
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCodes, isErrorCode } from '../../lib/errors.ts';
import { createLogger, silentLogger } from '../../lib/log.ts';
import { startGateway, type GatewayServer } from '../../gateway/server.ts';
import { startNode } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { codes, gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';

const leftovers = new Leftovers();
let central: TestCentral;
let gateway: GatewayServer;
let alice: { id: string; token: string };
let room: string;
/** Every `extensions.code` the corpus produced, checked against the registry at the end. */
const seen = new Set<string>();
/** The gateway's error lines: a client's mistake must not log as a server failure. */
const errorLines: string[] = [];

beforeAll(async () => {
  central = await startTestCentral(leftovers);
  // Two nodes, both storing the room: reads are merged from both (as in the demo).
  for (const name of ['node-a', 'node-b']) {
    const registered = await central.registerNode(name);
    leftovers.add(
      await startNode({
        name,
        dataDir: await leftovers.tempDir('switchboard-mistakes-'),
        centralUrl: central.url,
        apiKey: registered.apiKey,
        logger: silentLogger,
        sync: false,
      }),
      (n) => n.close(),
    );
  }
  gateway = leftovers.add(
    await startGateway({
      centralUrl: central.url,
      gatewaySecret: TEST_GATEWAY_SECRET,
      logger: createLogger('gateway', { level: 'error', write: (line) => errorLines.push(line) }),
      nodeTimeoutMs: 10_000,
      maxBodyBytes: 64 * 1024,
    }),
    (g) => g.close(),
  );
  await until(
    () =>
      gateway.routing.report().nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok')
        .length,
    (routable) => routable === 2,
    'the gateway to route to both nodes',
    30_000,
  );
  alice = await central.createUser('alice');
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      gateway.url,
      'mutation { createRoom(name: "mistakes") { id } }',
      {},
      { token: alice.token },
    ),
  ).createRoom.id;
  for (const content of ['one', 'two', 'three']) {
    ok(
      await gql(
        gateway.url,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: room, c: content },
        { token: alice.token },
      ),
    );
  }
}, 60_000);

afterAll(() => leftovers.dispose());

interface Mistake {
  readonly name: string;
  readonly method?: string;
  /** Appended to `/graphql`. */
  readonly search?: string;
  readonly headers?: Record<string, string>;
  readonly body?: string;
  /** Sent with alice's token. @default true */
  readonly auth?: boolean;
  /** The status expected, when the case pins one. */
  readonly status?: number;
  /** The code expected on the first error, when the case pins one. */
  readonly code?: string;
}

const json = { 'content-type': 'application/json' };
const post = (body: unknown, extra: Partial<Mistake> = {}): Partial<Mistake> => ({
  method: 'POST',
  headers: json,
  body: typeof body === 'string' ? body : JSON.stringify(body),
  ...extra,
});

function corpus(): Mistake[] {
  return [
    { name: 'bad JSON', ...post('{"query": '), status: 400, code: 'BAD_USER_INPUT' },
    { name: 'JSON null body', ...post('null'), status: 400, code: 'BAD_REQUEST' },
    { name: 'JSON string body', ...post('"{ me { id } }"'), status: 400, code: 'BAD_REQUEST' },
    { name: 'empty JSON body', ...post(''), status: 400, code: 'BAD_REQUEST' },
    { name: 'missing query', ...post({ variables: {} }), status: 400, code: 'BAD_REQUEST' },
    { name: 'query not a string', ...post({ query: 42 }), status: 400, code: 'BAD_REQUEST' },
    {
      name: 'text/plain body (CSRF-able)',
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ query: '{ me { id } }' }),
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'form body',
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'query=%7B%20me%20%7B%20id%20%7D%20%7D',
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'XML body',
      method: 'POST',
      headers: { 'content-type': 'application/xml' },
      body: '<query>{ me { id } }</query>',
      status: 400,
      code: 'BAD_REQUEST',
    },
    { name: 'no content type', method: 'POST', body: '{"query":"{ me { id } }"}', status: 400 },
    {
      name: 'batch',
      ...post([{ query: '{ me { id } }' }, { query: '{ me { id } }' }]),
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'unknown operationName',
      ...post({ query: '{ rooms { id } }', operationName: 'Login' }),
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
    },
    {
      name: 'several operations, no operationName',
      ...post({ query: 'query A { me { id } } query B { rooms { id } }' }),
      status: 400,
      code: 'OPERATION_RESOLUTION_FAILURE',
    },
    {
      name: 'operationName not a string',
      ...post({ query: '{ me { id } }', operationName: 7 }),
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'subscription over POST',
      ...post({ query: `subscription { messageAdded(roomId: "${room}") { id } }` }),
      status: 400,
      code: 'SUBSCRIPTION_OVER_HTTP',
    },
    {
      name: 'subscription chosen by operationName over POST',
      ...post({
        query: `query Q { me { id } } subscription S { messageAdded(roomId: "${room}") { id } }`,
        operationName: 'S',
      }),
      status: 400,
      code: 'SUBSCRIPTION_OVER_HTTP',
    },
    {
      name: 'GET mutation',
      method: 'GET',
      search: `?query=${encodeURIComponent('mutation { createRoom(name: "via-get") { id } }')}`,
      status: 405,
      code: 'BAD_REQUEST',
    },
    {
      name: 'GET without preflight header or token',
      auth: false,
      method: 'GET',
      search: `?query=${encodeURIComponent('{ rooms { id } }')}`,
      status: 400,
      code: 'BAD_REQUEST',
    },
    { name: 'GET without query', method: 'GET', search: '', status: 400, code: 'BAD_REQUEST' },
    {
      name: 'GET with variables that are not JSON',
      method: 'GET',
      search: `?query=${encodeURIComponent('{ me { id } }')}&variables=%7B`,
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'PUT',
      method: 'PUT',
      headers: json,
      body: '{"query":"{ me { id } }"}',
      status: 405,
      code: 'BAD_REQUEST',
    },
    { name: 'DELETE', method: 'DELETE', status: 405, code: 'BAD_REQUEST' },
    {
      name: 'variables not an object',
      ...post({ query: '{ me { id } }', variables: 'x' }),
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'variable of the wrong type',
      ...post({
        query:
          'query($r: ID!, $n: Int) { room(id: $r) { messages(last: $n) { edges { cursor } } } }',
        variables: { r: room, n: 'ten' },
      }),
      status: 400,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'variable missing',
      ...post({ query: 'query($r: ID!) { room(id: $r) { id } }', variables: {} }),
      status: 400,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'variable out of Int range',
      ...post({
        query:
          'query($r: ID!, $n: Int) { room(id: $r) { messages(last: $n) { edges { cursor } } } }',
        variables: { r: room, n: 1e12 },
      }),
      status: 400,
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'literal out of Int range',
      ...post({
        query: `{ room(id: "${room}") { messages(last: 99999999999) { edges { cursor } } } }`,
      }),
      status: 400,
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'negative page size',
      ...post({ query: `{ room(id: "${room}") { messages(last: -1) { edges { cursor } } } }` }),
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'page size over the nodes maximum',
      ...post({
        query: `{ room(id: "${room}") { messages(first: 100000) { edges { cursor } } } }`,
      }),
      status: 400,
    },
    {
      name: 'garbage cursor',
      ...post({
        query: `{ room(id: "${room}") { messages(after: "\\u0000💥") { edges { cursor } } } }`,
      }),
      code: 'BAD_USER_INPUT',
    },
    {
      name: 'huge string argument',
      ...post({
        query: 'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        variables: { r: 'no-such-room', c: 'x'.repeat(60_000) },
      }),
    },
    {
      name: 'body over the size limit',
      ...post({ query: `{ me { id } } # ${'x'.repeat(70_000)}` }),
      status: 413,
      code: 'PAYLOAD_TOO_LARGE',
    },
    {
      name: 'deeply nested variables',
      ...post({
        query: '{ me { id } }',
        variables: { deep: JSON.parse('['.repeat(2000) + ']'.repeat(2000)) as unknown },
      }),
    },
    {
      name: 'syntax error',
      ...post({ query: '{ me { id }' }),
      status: 400,
      code: 'GRAPHQL_PARSE_FAILED',
    },
    {
      name: 'unknown field',
      ...post({ query: '{ me { password } }' }),
      status: 400,
      code: 'GRAPHQL_VALIDATION_FAILED',
    },
    {
      name: 'unknown persisted query',
      ...post({
        extensions: { persistedQuery: { version: 1, sha256Hash: 'a'.repeat(64) } },
      }),
      code: 'PERSISTED_QUERY_NOT_FOUND',
    },
    {
      name: 'persisted query with a wrong hash',
      ...post({
        query: '{ me { id } }',
        extensions: { persistedQuery: { version: 1, sha256Hash: 'b'.repeat(64) } },
      }),
      status: 400,
      code: 'BAD_REQUEST',
    },
    {
      name: 'forged token',
      auth: false,
      ...post({ query: '{ me { id } }' }),
      headers: { ...json, authorization: 'Bearer not.a.jwt' },
      status: 401,
      code: 'UNAUTHENTICATED',
    },
    {
      name: 'odd accept header',
      ...post({ query: '{ me { id } }' }),
      headers: { ...json, accept: 'application/xml' },
    },
    {
      name: 'id of nothing',
      ...post({ query: '{ room(id: "does-not-exist") { id messages { edges { cursor } } } }' }),
    },
  ];
}

async function send(mistake: Mistake): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = { ...mistake.headers };
  if (mistake.auth !== false && !('authorization' in headers))
    headers['authorization'] = `Bearer ${alice.token}`;
  const response = await fetch(`${gateway.url}/graphql${mistake.search ?? ''}`, {
    method: mistake.method ?? 'POST',
    headers,
    ...(mistake.body === undefined ? {} : { body: mistake.body }),
  });
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: response.status, body };
}

function errorCodesOf(body: unknown): string[] {
  const errors = (body as { errors?: Array<{ extensions?: { code?: unknown } }> } | null)?.errors;
  return (errors ?? []).map((e) => String(e.extensions?.code));
}

describe('client mistakes over HTTP', () => {
  it('answers every request of the corpus with a 4xx (or coded errors in a 200), never a 5xx', async () => {
    const roomsBefore = ok(
      await gql(gateway.url, '{ rooms { id name } }', {}, { token: alice.token }),
    );
    const failures: string[] = [];
    errorLines.length = 0;
    for (const mistake of corpus()) {
      const { status, body } = await send(mistake);
      const found = errorCodesOf(body);
      for (const code of found) seen.add(code);
      const problems = [
        status >= 500 && `status ${status}`,
        (status >= 400 || mistake.code) && found.length === 0 && 'no coded error',
        ...found.filter((code) => !isErrorCode(code)).map((code) => `unregistered code ${code}`),
        mistake.status !== undefined && status !== mistake.status && `status ${status}`,
        mistake.code !== undefined && found[0] !== mistake.code && `code ${found[0]}`,
      ].filter(Boolean);
      if (problems.length > 0)
        failures.push(
          `${mistake.name}: ${problems.join(', ')} ${JSON.stringify(body).slice(0, 300)}`,
        );
    }
    expect(failures).toEqual([]);
    expect(errorLines).toEqual([]);
    expect(ok(await gql(gateway.url, '{ rooms { id name } }', {}, { token: alice.token }))).toEqual(
      roomsBefore,
    );
  });

  it('tells a client that sends a subscription over POST how to subscribe', async () => {
    const response = await gql(
      gateway.url,
      `subscription { messageAdded(roomId: "${room}") { id } }`,
      {},
      { token: alice.token },
    );
    expect(response.status).toBe(400);
    expect(codes(response)).toEqual(['SUBSCRIPTION_OVER_HTTP']);
    expect(response.errors?.[0]?.message).toMatch(/graphql-ws/);
    expect(response.errors?.[0]?.message).toContain(
      `${gateway.url.replace(/^http/, 'ws')}/graphql`,
    );
  });

  it('names the operations a document holds when operationName picks none', async () => {
    const response = await send({
      name: 'unknown operationName',
      ...post({
        query: 'query Rooms { rooms { id } } query Me { me { id } }',
        operationName: 'Login',
      }),
    });
    expect(response.status).toBe(400);
    const message = (response.body as { errors: Array<{ message: string }> }).errors[0]?.message;
    expect(message).toMatch(/Login/);
    expect(message).toMatch(/Rooms, Me/);
  });
});

describe('GET queries (urql defaults)', () => {
  const query = encodeURIComponent(`{ room(id: "${'ROOM'}") { id name } }`);

  it('accepts a GET query that carries an Authorization bearer token', async () => {
    const response = await fetch(`${gateway.url}/graphql?query=${query.replace('ROOM', room)}`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { data?: { room?: { id: string } } };
    expect(body.data?.room?.id).toBe(room);
  });

  it('still refuses a GET mutation with a token, and changes nothing', async () => {
    const mutation = encodeURIComponent('mutation { createRoom(name: "by-get") { id } }');
    const response = await fetch(`${gateway.url}/graphql?query=${mutation}`, {
      headers: { authorization: `Bearer ${alice.token}` },
    });
    expect(response.status).toBe(405);
    expect(errorCodesOf(await response.json())).toEqual(['BAD_REQUEST']);
    const names = ok(
      await gql<{ rooms: Array<{ name: string }> }>(
        gateway.url,
        '{ rooms { name } }',
        {},
        {
          token: alice.token,
        },
      ),
    ).rooms.map((r) => r.name);
    expect(names).not.toContain('by-get');
  });

  it('runs nothing for a GET whose Authorization a browser could attach by itself (Basic)', async () => {
    const response = await fetch(`${gateway.url}/graphql?query=${query.replace('ROOM', room)}`, {
      headers: { authorization: 'Basic YWxpY2U6cHc=' },
    });
    expect(response.status).toBe(401);
    expect(errorCodesOf(await response.json())).toEqual(['UNAUTHENTICATED']);
  });
});

describe('the cost limit at default settings', () => {
  const readme = (size: string) =>
    `{ rooms { id name homeNode { name } messages(last: ${size}) { edges { node { content sender { displayName } originNode { name } } } } } }`;

  it("accepts the README's selection with a full page of 500 messages, literal or variable", async () => {
    const literal = await gql(gateway.url, readme('500'), {}, { token: alice.token });
    expect(literal.status).toBe(200);
    expect(ok(literal)['rooms']).toHaveLength(1);
    const variable = await gql(
      gateway.url,
      readme('$n').replace('{ rooms', 'query($n: Int) { rooms'),
      { n: 500 },
      { token: alice.token },
    );
    expect(ok(variable)).toEqual(ok(literal));
    ok(
      await gql(
        gateway.url,
        '{ rooms { messages(first: 260) { edges { node { id } } } } }',
        {},
        { token: alice.token },
      ),
    );
  });

  it('refuses a page of messages inside a page, naming the cost and the limit', async () => {
    const nested =
      'query($n: Int) { rooms { messages(last: $n) { edges { node { room { messages(last: $n) { edges { node { id } } } } } } } } }';
    const response = await gql(gateway.url, nested, { n: 500 }, { token: alice.token });
    expect(response.status).toBe(400);
    expect(codes(response)).toEqual(['GRAPHQL_VALIDATION_FAILED']);
    const [error] = response.errors ?? [];
    expect(error?.message).not.toMatch(/Syntax Error/);
    expect(error?.message).toMatch(/^query cost \d+ exceeds the limit of 100000/);
    expect(error?.extensions?.['maxCost']).toBe(100_000);
    expect(error?.extensions?.['cost']).toBeGreaterThan(10 * 500 * 500);
    // The same document with small pages is fine: the cost follows the variables.
    ok(await gql(gateway.url, nested, { n: 5 }, { token: alice.token }));
  });
});

describe('pageInfo', () => {
  it('has start and end cursors when edges are not selected, equal to those with edges', async () => {
    for (const args of ['last: 2', 'first: 2', 'last: 50']) {
      const query = (edges: string) =>
        `query($r: ID!) { room(id: $r) { messages(${args}) { ${edges} pageInfo { startCursor endCursor hasNextPage hasPreviousPage } } } }`;
      type Page = {
        room: {
          messages: {
            edges?: Array<{ cursor: string }>;
            pageInfo: Record<string, unknown>;
          };
        };
      };
      const withEdges = ok(
        await gql<Page>(
          gateway.url,
          query('edges { cursor }'),
          { r: room },
          { token: alice.token },
        ),
      ).room.messages;
      const alone = ok(await gql<Page>(gateway.url, query(''), { r: room }, { token: alice.token }))
        .room.messages;
      expect(withEdges.pageInfo['startCursor'], args).toBe(withEdges.edges?.[0]?.cursor);
      expect(withEdges.pageInfo['endCursor'], args).toBe(withEdges.edges?.at(-1)?.cursor);
      expect(alone, args).toEqual({ pageInfo: withEdges.pageInfo });
    }
  });
});

describe('client mistakes over graphql-ws', () => {
  it('answers parse, validation and limit failures with the codes HTTP clients get', async () => {
    const client = createClient({
      url: `${gateway.url.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${alice.token}` },
    });
    const firstError = (query: string) =>
      new Promise<{ message?: string; extensions?: Record<string, unknown> } | undefined>(
        (resolve) =>
          client.subscribe(
            { query },
            {
              next: () => resolve(undefined),
              error: (errors: unknown) =>
                resolve(Array.isArray(errors) ? (errors[0] as { message?: string }) : undefined),
              complete: () => resolve(undefined),
            },
          ),
      );
    try {
      const parse = await firstError('subscription { messageAdded(roomId: "x") { id }');
      expect(parse?.extensions?.['code']).toBe('GRAPHQL_PARSE_FAILED');
      const unknown = await firstError(`subscription { messageAdded(roomId: "${room}") { nope } }`);
      expect(unknown?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
      const deep = await firstError(
        `subscription { messageAdded(roomId: "${room}") { ${'room { messages { edges { node { '.repeat(4)}id${' } } } }'.repeat(4)} } }`,
      );
      expect(deep?.extensions?.['code']).toBe('GRAPHQL_VALIDATION_FAILED');
      expect(deep?.message).not.toMatch(/Syntax Error/);
      for (const error of [parse, unknown, deep]) seen.add(String(error?.extensions?.['code']));
    } finally {
      await client.dispose();
    }
  });
});

describe('the error-code registry', () => {
  it('holds every code the corpus produced', () => {
    expect(seen.size).toBeGreaterThan(5);
    expect([...seen].filter((code) => !Object.hasOwn(errorCodes, code))).toEqual([]);
  });
});
