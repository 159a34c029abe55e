// A node's client reads central's replies with their schemas instead of trusting them: a
// malformed reply is a CentralUnavailableError that names the path and the field at fault, and
// with two centrals the one that answers well is used. The "centrals" are real HTTP servers on
// port 0 that stand in for a broken central, each answering every request with one body.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { errorBody } from '../../lib/errors.ts';
import { SYNC_AUTHORITY_PATH, type AuthorityQuery } from '../../lib/syncProtocol.ts';
import {
  CentralRefusedError,
  CentralUnavailableError,
  createCentralClient,
} from '../../subgraphs/node/centralClient.ts';

const servers: Server[] = [];

/** A central that answers every request with `status` and `body` (a string as it is). */
async function central(body: unknown, status = 200): Promise<string> {
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () =>
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(typeof body === 'string' ? body : JSON.stringify(body)),
    );
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

afterAll(async () => {
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

const client = (centralUrl: string | string[]) =>
  createCentralClient({ centralUrl, apiKey: 'key', timeoutMs: 5000 });

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error as Error,
  );
  if (outcome === undefined) throw new Error('the malformed reply was accepted');
  return outcome;
}

const query: AuthorityQuery = {
  roomIds: ['r1'],
  senders: [{ roomId: 'r1', userId: 'u1', at: 1 }],
};

describe("central's replies to a node", () => {
  it.each<[string, unknown, (c: ReturnType<typeof client>) => Promise<unknown>, string]>([
    [
      'a heartbeat without a node id',
      { nodeId: '', name: 'node-a', heartbeatIntervalMs: 1000 },
      (c) => c.heartbeat('http://127.0.0.1:1'),
      'central answered /internal/heartbeat malformed: nodeId: expected a non-empty string',
    ],
    [
      'a heartbeat with a zero interval',
      { nodeId: 'n1', name: 'node-a', heartbeatIntervalMs: 0 },
      (c) => c.heartbeat('http://127.0.0.1:1'),
      'central answered /internal/heartbeat malformed: heartbeatIntervalMs: expected a positive number of milliseconds',
    ],
    [
      'a membership answer without `member`',
      { roomExists: true },
      (c) => c.membership('r1', 'u1'),
      'central answered /internal/membership malformed: member: expected a boolean',
    ],
    [
      'storage nodes that are not ids',
      { storageNodes: { r1: ['n1', 5] }, senders: [true] },
      (c) => c.syncAuthority(query),
      `central answered ${SYNC_AUTHORITY_PATH} malformed: storageNodes.r1[1]: expected a node id`,
    ],
    [
      'a membership interval that is not one',
      {
        storageNodes: {},
        senders: [true],
        memberships: [
          { roomId: 'r1', userId: 'u1', intervals: [{ from: 'yesterday', until: null }] },
        ],
        asOf: 1,
        marginMs: 0,
      },
      (c) => c.syncAuthority(query),
      `central answered ${SYNC_AUTHORITY_PATH} malformed: memberships[0].intervals[0].from: expected epoch milliseconds`,
    ],
    [
      'fewer sender answers than asked',
      { storageNodes: {}, senders: [] },
      (c) => c.syncAuthority(query),
      `central answered ${SYNC_AUTHORITY_PATH} with 0 sender answers, not 1`,
    ],
    [
      'histories without asOf',
      { storageNodes: {}, senders: [true], memberships: [] },
      (c) => c.syncAuthority(query),
      `central answered ${SYNC_AUTHORITY_PATH} with memberships but without asOf and marginMs`,
    ],
    [
      'a sync report answer without `continue`',
      { continue: 'yes' },
      (c) =>
        c.reportSync({
          sessionId: 's1',
          status: 'IN_PROGRESS',
          messagesSynced: 0,
          applied: [],
          cursor: 0,
        }),
      'central answered /internal/sync/report malformed: continue: expected a boolean',
    ],
    [
      'a placement that is not a list of rooms',
      { rooms: 'r1' },
      (c) => c.placement(),
      'central answered /internal/placement malformed: rooms: expected an array of room ids',
    ],
    [
      'a body that is not JSON',
      '<html>a proxy page</html>',
      (c) => c.pullToken('n2', ['r1']),
      'central answered /internal/sync/pull-token with a body that is not JSON',
    ],
  ])('refuses %s, naming the field', async (_name, body, request, message) => {
    const error = await failure(request(client(await central(body))));
    expect(error).toBeInstanceOf(CentralUnavailableError);
    expect(error.message).toBe(message);
  });

  it("reads an older central's answers: no visibility, no clock, no histories", async () => {
    const membership = await client(await central({ roomExists: true, member: false })).membership(
      'r1',
      'u1',
    );
    expect(membership).toEqual({ roomExists: true, member: false, private: false });
    const beat = await client(
      await central({ nodeId: 'n1', name: 'node-a', heartbeatIntervalMs: 1000, centralTime: 'x' }),
    ).heartbeat('http://127.0.0.1:1');
    expect(beat).toEqual({ nodeId: 'n1', name: 'node-a', heartbeatIntervalMs: 1000 });
    const answer = await client(
      await central({ storageNodes: { r1: ['n1'] }, senders: [true] }),
    ).syncAuthority(query);
    expect(answer).toEqual({ storageNodes: { r1: ['n1'] }, senders: [true] });
  });

  it('takes the answer of the next central when one answers malformed', async () => {
    const bad = await central({ nodeId: 'n1', name: 'node-a' });
    const good = await central({ nodeId: 'n1', name: 'node-a', heartbeatIntervalMs: 1000 });
    const c = client([bad, good]);
    expect((await c.heartbeat('http://127.0.0.1:1')).heartbeatIntervalMs).toBe(1000);
    expect(c.centralUrl).toBe(good);
  });

  it("passes on the message of central's error body", async () => {
    const error = await failure(
      client(await central(errorBody('BAD_USER_INPUT', 'roomIds: too many'), 400)).pullToken('n2', [
        'r1',
      ]),
    );
    expect(error).toBeInstanceOf(CentralRefusedError);
    expect(error.message).toBe(
      'central answered /internal/sync/pull-token with HTTP 400: roomIds: too many',
    );
  });
});
