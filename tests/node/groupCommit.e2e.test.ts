// Group commit against a real crash: a node process takes concurrent posts through its GraphQL and
// is killed with SIGKILL mid-stream; every post it acknowledged must be in its SQLite file,
// whole (message and change-log row), and the log must have no gap.
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { databaseFile } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startProcess } from '../helpers/processes.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

let central: TestCentral;
beforeAll(async () => {
  central = await startTestCentral(leftovers);
});

it('keeps every post it acknowledged when it is killed mid-stream', async () => {
  const { apiKey, id: nodeId } = await central.registerNode('node-crash');
  const dataDir = await leftovers.tempDir('switchboard-node-crash-');
  const node = startProcess(
    leftovers,
    'node-crash',
    [
      'node',
      '--name',
      'node-crash',
      '--port',
      '0',
      '--data-dir',
      dataDir,
      '--central-url',
      central.url,
      // A wide window: groups are large, so the kill lands amid queued and committing ones.
      '--group-commit-ms',
      '20',
    ],
    { SWITCHBOARD_NODE_API_KEY: apiKey },
  );
  const url = (await node.waitForLine(/ready at (http:\/\/\S+)\/graphql/))[1] as string;
  const user = await central.createUser('crash-user');
  const room = ok(
    await gql<{ createRoom: { id: string } }>(
      central.url,
      'mutation($h: ID) { createRoom(name: "crash", homeNodeId: $h) { id } }',
      { h: nodeId },
      { token: user.token },
    ),
  ).createRoom.id;
  const gateway = await registerTestGateway(central.url);
  const assertion = await gateway.assertionFor(nodeId, user.token);

  const acknowledged: string[] = [];
  let killed: Promise<unknown> | undefined;
  let sent = 0;
  const postOne = async () => {
    const response = await fetch(`${url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-gateway-assertion': assertion },
      body: JSON.stringify({
        query: 'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        variables: { r: room, c: `crash ${sent++}` },
      }),
    });
    const body = (await response.json()) as { data?: { postMessage: { id: string } } };
    if (!body.data) throw new Error('refused');
    acknowledged.push(body.data.postMessage.id);
    // Killed once some are acknowledged, while others are queued, committing or in flight.
    if (acknowledged.length === 100) killed = node.kill('SIGKILL');
  };
  // 32 clients post back to back until the kill cuts their connection: only what was
  // acknowledged counts.
  const clients = await Promise.allSettled(
    Array.from({ length: 32 }, async () => {
      for (;;) await postOne();
    }),
  );
  await killed;
  expect(clients.every((c) => c.status === 'rejected')).toBe(true);
  expect(acknowledged.length).toBeGreaterThanOrEqual(100);

  // Read-write: opening runs SQLite's recovery of the WAL the killed process left.
  const db = leftovers.add(
    new Database(databaseFile(dataDir, 'node-crash')),
    (d) => void d.close(),
  );
  const stored = new Set(
    db.prepare('SELECT id FROM messages WHERE room_id = ?').pluck().all(room) as string[],
  );
  expect(acknowledged.filter((id) => !stored.has(id))).toEqual([]);
  const logged = db.prepare('SELECT message_id FROM change_log').pluck().all() as string[];
  expect(new Set(logged)).toEqual(stored);
  const seqs = db.prepare('SELECT seq FROM change_log ORDER BY seq').pluck().all() as number[];
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => i + 1));
});
