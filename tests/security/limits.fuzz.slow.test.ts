// A fixed-seed fuzz run against the limits suite's servers (limitsServers.ts): malformed bodies,
// queries, sync-feed requests and graphql-ws frames get only 4xx answers or GraphQL errors with
// known codes, with every process still up and no data changed. Slow: `npm run test:slow`.
import fc from 'fast-check';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { PULL_TOKEN_HEADER } from '../../lib/pullToken.ts';
import { SYNC_CHANGES_PATH, SYNC_DIGESTS_PATH } from '../../lib/syncProtocol.ts';
import { roomMembers, rooms, users } from '../../subgraphs/central/db/schema.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { snapshot } from '../node/helpers.ts';
import {
  alice,
  asGateway,
  central,
  gateway,
  KNOWN_CODES,
  node,
  nodeKey,
  startLimitsServers,
  stopLimitsServers,
} from './limitsServers.ts';

beforeAll(startLimitsServers, 60_000);
afterAll(stopLimitsServers);

async function state(): Promise<unknown> {
  const db = central.central.db.db;
  return {
    users: await db.select().from(users).orderBy(users.id),
    rooms: await db.select().from(rooms).orderBy(rooms.id),
    members: await db.select().from(roomMembers).orderBy(roomMembers.roomId, roomMembers.userId),
    node: snapshot(node.db),
  };
}

/** Sends a raw HTTP request; returns the status and the parsed body (undefined when not JSON). */
async function raw(url: string, init: RequestInit): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, init);
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

function expectHandled(answer: { status: number; body: unknown }, what: string): void {
  expect(answer.status, what).toBeLessThan(500);
  const errors = (
    answer.body as { errors?: Array<{ extensions?: { code?: unknown } }> } | undefined
  )?.errors;
  if (answer.status >= 400) {
    expect(Array.isArray(errors) && errors.length > 0, `${what}: errors in the body`).toBe(true);
  }
  for (const error of errors ?? []) {
    expect(
      KNOWN_CODES.has(String(error.extensions?.code)),
      `${what}: ${String(error.extensions?.code)}`,
    ).toBe(true);
  }
}

const jsonish = fc.oneof(
  fc.string({ maxLength: 200 }),
  fc.json({ maxDepth: 4 }),
  fc.constantFrom(
    '',
    '{',
    '[]',
    'null',
    '{"query":1}',
    '{"query":"{"}',
    '{"query":"{ me { id } }","variables":"x"}',
  ),
);
const queryish = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.constantFrom(
    'mutation { createUser(username: "x", password: "y") { id } }',
    'mutation($r: ID!) { postMessage(roomId: $r, content: "fuzz") { id } }',
    '{ room(id: 5) { id } }',
    'query($r: ID!) { room(id: $r) { messages(first: -1) { edges { node { id } } } } }',
  ),
  fc
    .integer({ min: 1, max: 60 })
    .map((n) => `${'{ rooms { messages { edges { node { room '.repeat(n)}{ id }`),
  fc
    .integer({ min: 1, max: 400 })
    .map((n) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: rooms { id }`).join(' ')} }`),
  fc.integer({ min: 1_000, max: 300_000 }).map((n) => `{ me { id } } # ${'x'.repeat(n)}`),
);
const variablesish = fc.oneof(
  fc.constant(undefined),
  fc.json({ maxDepth: 3 }).map((v) => JSON.parse(v) as unknown),
  fc.record({ r: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string())) }),
);

describe('fuzz (fixed seed, bounded)', () => {
  it('answers malformed HTTP bodies, queries and variables with 4xx or coded GraphQL errors, changing nothing', async () => {
    const before = await state();
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          jsonish.map((body) => ({ body, contentType: 'application/json' })),
          fc.record({ query: queryish, variables: variablesish }).map((b) => ({
            body: JSON.stringify(b),
            contentType: 'application/json',
          })),
          fc.string({ maxLength: 100 }).map((body) => ({ body, contentType: 'text/plain' })),
        ),
        fc.boolean(),
        async (request, withToken) => {
          // Nodes with a gateway's assertion, too: the gateway is not their only shield.
          const credentials: Array<[string, Record<string, string>]> = [
            [gateway.url, withToken ? { authorization: `Bearer ${alice.token}` } : {}],
            [
              node.url,
              {
                'x-gateway-assertion': await asGateway.assertionFor(
                  node.nodeId,
                  withToken ? alice.token : undefined,
                ),
              },
            ],
          ];
          for (const [target, headers] of credentials) {
            const answer = await raw(`${target}/graphql`, {
              method: 'POST',
              headers: { 'content-type': request.contentType, ...headers },
              body: request.body,
            });
            expectHandled(answer, `${target} <- ${request.body.slice(0, 120)}`);
          }
        },
      ),
      { seed: 20261125, numRuns: 150, interruptAfterTimeLimit: 20_000 },
    );
    // Writes that are well-formed and allowed (alice posting) are part of the corpus; what must
    // not change is everything else.
    const after = (await state()) as { users: unknown; rooms: unknown; members: unknown };
    const was = before as typeof after;
    expect({ users: after.users, rooms: after.rooms, members: after.members }).toEqual({
      users: was.users,
      rooms: was.rooms,
      members: was.members,
    });
    ok(await gql(gateway.url, '{ me { id } }', {}, { token: alice.token }));
  }, 90_000);

  it("answers malformed requests on a node's sync feed with 4xx and a code", async () => {
    // A valid token (for one room) lets malformed parameters reach the parser.
    const { token: pullToken } = await central.central.services.tokens.signPull({
      sourceNodeId: node.nodeId,
      targetNodeId: 'a-peer',
      roomIds: ['some-room'],
    });
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(SYNC_CHANGES_PATH, SYNC_DIGESTS_PATH, '/internal/nothing'),
        fc.dictionary(
          fc.constantFrom('after', 'limit', 'rooms', 'count'),
          fc.oneof(
            fc.string({ maxLength: 50 }),
            fc.integer().map(String),
            fc.constant('9'.repeat(40)),
          ),
        ),
        fc.constantFrom<Record<string, string>>(
          {},
          { [NODE_KEY_HEADER]: 'sbk_wrong' },
          { [NODE_KEY_HEADER]: nodeKey },
          { [PULL_TOKEN_HEADER]: 'x'.repeat(6000) },
          { [PULL_TOKEN_HEADER]: pullToken },
        ),
        fc.constantFrom('GET', 'POST', 'PUT'),
        async (path, params, headers, method) => {
          const answer = await raw(`${node.url}${path}?${new URLSearchParams(params).toString()}`, {
            method,
            headers,
          });
          expectHandled(answer, `${method} ${path} ${JSON.stringify(params)}`);
        },
      ),
      { seed: 20261125, numRuns: 120, interruptAfterTimeLimit: 10_000 },
    );
    expect((await fetch(`${node.url}/health`)).status).toBe(200);
  }, 60_000);

  it('survives malformed graphql-ws frames: the connection is closed or errors, the server stays up', async () => {
    const frames = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.json({ maxDepth: 3 }),
      fc.constantFrom(
        '{"type":"subscribe"}',
        '{"type":"subscribe","id":"1","payload":{"query":42}}',
        '{"type":"connection_init","payload":"x"}',
        '{"type":"ping","payload":[1,2]}',
        'x'.repeat(70_000),
      ),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(frames, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (list, init) => {
          const socket = new WebSocket(
            `${gateway.url.replace(/^http/, 'ws')}/graphql`,
            'graphql-transport-ws',
          );
          await new Promise<void>((resolve, reject) => {
            socket.once('open', () => resolve());
            socket.once('error', reject);
          });
          const closed = new Promise<number>((resolve) =>
            socket.once('close', (code) => resolve(code)),
          );
          socket.on('error', () => {});
          if (init) socket.send(JSON.stringify({ type: 'connection_init', payload: {} }));
          for (const frame of list) socket.send(frame);
          // Every sequence here is invalid somewhere, or leaves the connection uninitialised: the
          // server closes it (4400 bad message, 4401 unauthorised, 4408 init timeout, 1009 too big)
          // or, for a valid ping, answers; either way it must not hang forever or crash.
          const code = await Promise.race([
            closed,
            new Promise<number>((resolve) => setTimeout(() => resolve(0), 1000)),
          ]);
          socket.terminate();
          expect(
            [0, 1000, 1005, 1006, 1009, 4400, 4401, 4408, 4409, 4429].includes(code),
            `close ${code}`,
          ).toBe(true);
        },
      ),
      { seed: 20261125, numRuns: 15, interruptAfterTimeLimit: 20_000 },
    );
    expect((await fetch(`${gateway.url}/health`)).status).toBe(200);
  }, 60_000);
});
