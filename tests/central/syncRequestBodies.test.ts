// Bodies of nodes' sync requests to central read by their schemas (lib/syncProtocol.ts): a
// malformed changed-rooms list, pull request, pull-token request or live-reports list is 400
// BAD_USER_INPUT naming the field, and changes nothing; a malformed entry of a live-reports list is
// refused in its own result, naming the entry and its field, and the others are recorded. A real
// central (on the run's PostgreSQL) through its HTTP API with the nodes' keys.
import { sql } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_CHANGED_ROOMS,
  MAX_LIVE_REPORTS_PER_REQUEST,
  SYNC_CHANGED_PATH,
  SYNC_LIVE_REPORTS_PATH,
  SYNC_PULL_REQUEST_PATH,
  SYNC_PULL_TOKEN_PATH,
  type LiveReport,
} from '../../lib/syncProtocol.ts';
import { MAX_PULL_TOKEN_ROOMS } from '../../lib/pullToken.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { createPlacedRoom, onlineNodes, type ProtocolNode } from '../helpers/syncCluster.ts';
import { postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let t: TestCentral;
let a: ProtocolNode;
let b: ProtocolNode;
let room: string;

beforeAll(async () => {
  t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000 });
  [a, b] = (await onlineNodes(t, ['bodies-a', 'bodies-b'])) as [ProtocolNode, ProtocolNode];
  const alice = await t.createUser('alice');
  room = await createPlacedRoom(t, alice, a.id, [b.id], 'bodies');
});

const sessions = async () => {
  const result = await t.central.services.db.execute(
    sql`select count(*)::int as n from sync_sessions`,
  );
  return (result as { rows: Array<{ n: number }> }).rows[0]?.n;
};

/** Posts each body as b and expects 400 BAD_USER_INPUT with the message given for it. */
async function refuses(path: string, cases: ReadonlyArray<[unknown, string]>): Promise<void> {
  const before = await sessions();
  for (const [body, message] of cases) {
    const sent = await postAsNode(t.url, b.apiKey, path, body);
    expect({ body, status: sent.status, error: sent.body.errors[0] }).toEqual({
      body,
      status: 400,
      error: { message, extensions: { code: 'BAD_USER_INPUT' } },
    });
  }
  expect(await sessions()).toBe(before);
}

describe('request bodies of a node', () => {
  it('refuses a malformed changed-rooms list naming the field, and takes a good one', async () => {
    const list = `must be a list of at most ${MAX_CHANGED_ROOMS} room ids`;
    const id = 'must be a string of 1-128 characters';
    await refuses(SYNC_CHANGED_PATH, [
      ['"rooms"', 'invalid rooms changed: the body must be a JSON object'],
      [{}, `invalid rooms changed: roomIds ${list}`],
      [{ roomIds: room }, `invalid rooms changed: roomIds ${list}`],
      [{ roomIds: [room, ''] }, `invalid rooms changed: roomIds[1] ${id}`],
      [{ roomIds: [7] }, `invalid rooms changed: roomIds[0] ${id}`],
      [{ roomIds: ['x'.repeat(129)] }, `invalid rooms changed: roomIds[0] ${id}`],
      [
        { roomIds: Array.from({ length: MAX_CHANGED_ROOMS + 1 }, () => room) },
        `invalid rooms changed: roomIds ${list}`,
      ],
    ]);
    const taken = await postAsNode(t.url, a.apiKey, SYNC_CHANGED_PATH, { roomIds: [room] });
    expect(taken.status).toBe(200);
    expect(taken.body.sessionIds).toHaveLength(1);
  });

  it('refuses a malformed pull request and pull-token request naming the field', async () => {
    const id = 'must be a string of 1-128 characters';
    await refuses(SYNC_PULL_REQUEST_PATH, [
      [null, 'invalid pull request: the body must be a JSON object'],
      [{}, `invalid pull request: sourceNodeId ${id}`],
      [{ sourceNodeId: 42 }, `invalid pull request: sourceNodeId ${id}`],
    ]);
    await refuses(SYNC_PULL_TOKEN_PATH, [
      [
        { sourceNodeId: a.id },
        `invalid pull token request: roomIds must be a list of 1 to ${MAX_PULL_TOKEN_ROOMS} room ids`,
      ],
      [
        { sourceNodeId: a.id, roomIds: [] },
        `invalid pull token request: roomIds must be a list of 1 to ${MAX_PULL_TOKEN_ROOMS} room ids`,
      ],
      [
        { sourceNodeId: `${a.id},x`, roomIds: [room] },
        'invalid pull token request: sourceNodeId must not contain a comma',
      ],
      [
        { sourceNodeId: a.id, roomIds: [room, `${room},x`] },
        'invalid pull token request: roomIds[1] must not contain a comma',
      ],
    ]);
    const token = await postAsNode(t.url, b.apiKey, SYNC_PULL_TOKEN_PATH, {
      sourceNodeId: a.id,
      roomIds: [room],
    });
    expect(token.status).toBe(200);
  });

  it('refuses a malformed live-reports list as a whole, and a malformed entry in its result', async () => {
    const list = `must be a list of 1 to ${MAX_LIVE_REPORTS_PER_REQUEST} live reports`;
    const good: LiveReport = {
      windowId: uuidv7(),
      sourceNodeId: a.id,
      sequence: 1,
      final: false,
      cursorBefore: 0,
      cursor: 0,
      sourceHeadSeq: 0,
      applied: [],
    };
    await refuses(SYNC_LIVE_REPORTS_PATH, [
      [[good], 'invalid live reports: the body must be a JSON object'],
      [{ reports: good }, `invalid live reports: reports ${list}`],
      [{ reports: [] }, `invalid live reports: reports ${list}`],
    ]);

    // Not coerced into a report: refused in its own result, named by what it sent.
    const noWindow = { ...good, windowId: 7, sequence: 2 };
    const badSequence = { ...good, windowId: uuidv7(), sequence: 'two' };
    const sent = await postAsNode(t.url, b.apiKey, SYNC_LIVE_REPORTS_PATH, {
      reports: [noWindow, 'report', good, badSequence],
    });
    expect(sent.status).toBe(200);
    expect(sent.body.results).toEqual([
      {
        windowId: '',
        sequence: 2,
        error: {
          code: 'BAD_USER_INPUT',
          message: 'invalid live report (reports[0]): windowId must be a window id (UUID)',
        },
      },
      {
        windowId: '',
        sequence: 0,
        error: {
          code: 'BAD_USER_INPUT',
          message: 'invalid live report (reports[1]): the report must be a JSON object',
        },
      },
      { windowId: good.windowId, sequence: 1, recorded: true },
      {
        windowId: badSequence.windowId,
        sequence: 0,
        error: {
          code: 'BAD_USER_INPUT',
          message: 'invalid live report (reports[3]): sequence must be a positive integer',
        },
      },
    ]);
    const windows = await t.central.services.db.execute(
      sql`select id from sync_sessions where id = ${badSequence.windowId} or id = ${good.windowId}`,
    );
    expect((windows as { rows: Array<{ id: string }> }).rows).toEqual([{ id: good.windowId }]);
  });
});
