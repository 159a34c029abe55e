// A target asks central for a session from one source (versions it deferred for their clock came
// due): central queues a CHANGE-triggered INCREMENTAL session of that pair if the two share a
// room and the source is ONLINE, none otherwise, and refuses a malformed body with
// BAD_USER_INPUT. A real central; the nodes are its HTTP API called with their keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SYNC_PULL_REQUEST_PATH } from '../../lib/syncProtocol.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat, postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let t: TestCentral;
const nodes: Record<string, { id: string; apiKey: string }> = {};

beforeAll(async () => {
  // Nodes heartbeat once here; a long interval keeps them ONLINE for the whole file.
  t = await startTestCentral(leftovers, { heartbeatIntervalMs: 600_000 });
  for (const name of ['pr-a', 'pr-b', 'pr-c', 'pr-off']) {
    const url = `http://127.0.0.1:1/${name}`;
    nodes[name] = await t.registerNode(name, url);
    if (name !== 'pr-off') {
      expect((await heartbeat(t.url, nodes[name].apiKey, url)).status).toBe(200);
    }
  }
  // A and B share a room; C shares none with A; pr-off shares one with A but never came online.
  for (const [home, replica] of [
    ['pr-a', 'pr-b'],
    ['pr-c', 'pr-c'],
    ['pr-a', 'pr-off'],
  ] as const) {
    ok(
      await gql(
        t.url,
        'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
        {
          n: `room-${home}-${replica}`,
          h: nodes[home]?.id,
          r: home === replica ? [] : [nodes[replica]?.id],
        },
        { token: t.adminToken },
      ),
    );
  }
});

const ask = (from: string, body: unknown) =>
  postAsNode(t.url, nodes[from]?.apiKey, SYNC_PULL_REQUEST_PATH, body);

describe('POST SYNC_PULL_REQUEST_PATH', () => {
  it('queues one INCREMENTAL CHANGE session from the source to the caller', async () => {
    const answer = await ask('pr-a', { sourceNodeId: nodes['pr-b']?.id });
    expect(answer.status).toBe(200);
    const ids = answer.body.sessionIds as string[];
    expect(ids).toHaveLength(1);
    const session = ok(
      await gql<{
        syncSession: {
          trigger: string;
          syncType: string;
          sourceNode: { id: string };
          targetNode: { id: string };
        };
      }>(
        t.url,
        'query($id: ID!) { syncSession(id: $id) { trigger syncType sourceNode { id } targetNode { id } } }',
        { id: ids[0] },
        { token: t.adminToken },
      ),
    ).syncSession;
    expect(session).toEqual({
      trigger: 'CHANGE',
      syncType: 'INCREMENTAL',
      sourceNode: { id: nodes['pr-b']?.id },
      targetNode: { id: nodes['pr-a']?.id },
    });
  });

  it('queues nothing from a node that shares no room, is not ONLINE, or is unknown', async () => {
    for (const source of [nodes['pr-c']?.id, nodes['pr-off']?.id, 'no-such-node']) {
      const answer = await ask('pr-a', { sourceNodeId: source });
      expect(answer.status).toBe(200);
      expect(answer.body).toEqual({ sessionIds: [] });
    }
  });

  it('refuses a malformed body with BAD_USER_INPUT, and a caller without a key', async () => {
    for (const body of [{}, { sourceNodeId: 42 }, { sourceNodeId: '' }, 'not json']) {
      const answer = await ask('pr-a', body);
      expect(answer.status).toBe(400);
      expect(answer.body.errors[0].extensions.code).toBe('BAD_USER_INPUT');
    }
    const anonymous = await postAsNode(t.url, undefined, SYNC_PULL_REQUEST_PATH, {
      sourceNodeId: nodes['pr-b']?.id,
    });
    expect(anonymous.status).toBe(401);
  });
});
