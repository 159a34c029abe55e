// A message's sync fields read the same on both copies (issue 15): central, two chat nodes and the
// gateway as real processes. The same question is asked through the gateway several times and of
// each node directly (as the gateway would, with its assertion); every answer must be identical,
// after a change-triggered sync, after an edit, and after a FULL sync sent every version again.
// Sessions count what they applied (`messagesSynced`) apart from what they examined
// (`messagesChecked`). Nothing waits on a fixed delay: every wait polls real state.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster, type ClusterNode } from '../helpers/cluster.ts';
import { registerTestGateway, type TestGateway } from '../helpers/gatewayAssertions.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { until } from '../helpers/until.ts';

interface SyncFields {
  readonly content: string;
  readonly syncStatus: string;
  readonly lastSyncAttempt: string | null;
}

interface Session {
  readonly id: string;
  readonly status: string;
  readonly syncType: string;
  readonly messagesSynced: number;
  readonly messagesChecked: number;
  readonly messagesTotal: number | null;
  readonly sourceNode: { readonly id: string };
  readonly targetNode: { readonly id: string };
}

const FIELDS = 'content syncStatus lastSyncAttempt';
const SESSION =
  'id status syncType messagesSynced messagesChecked messagesTotal sourceNode { id } targetNode { id }';

describe('per-message sync fields across two copies', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let cluster: Cluster;
  let toNodes: TestGateway;
  let a: ClusterNode;
  let b: ClusterNode;
  let token: string;
  let room: string;

  const central = <T>(query: string, variables: Record<string, unknown> = {}) =>
    gql<T>(cluster.centralUrl, query, variables, { token: cluster.adminToken });
  const viaGateway = async (id: string) =>
    ok(
      await gql<{ message: SyncFields | null }>(
        cluster.gatewayUrl,
        `query($id: ID!) { message(id: $id) { ${FIELDS} } }`,
        { id },
        { token, gatewaySecret: null },
      ),
    ).message;
  const direct = async (node: ClusterNode, id: string) =>
    ok(
      await toNodes.gql<{ message: SyncFields | null }>(
        { url: node.url, nodeId: node.id },
        `query($id: ID!) { message(id: $id) { ${FIELDS} } }`,
        { id },
        { token },
      ),
    ).message;
  /** Both copies, read from their nodes directly. */
  const copies = (id: string) => Promise.all([direct(a, id), direct(b, id)]);
  const sessions = async () =>
    ok(await central<{ syncSessions: Session[] }>(`{ syncSessions(last: 50) { ${SESSION} } }`))
      .syncSessions;

  /** Every way of asking, several times: one answer. */
  async function expectOneAnswer(id: string): Promise<SyncFields> {
    const answers: Array<SyncFields | null> = [];
    for (let i = 0; i < 4; i += 1) {
      answers.push(await viaGateway(id), await direct(a, id), await direct(b, id));
    }
    const [first] = answers;
    expect(first).not.toBeNull();
    for (const answer of answers) expect(answer).toEqual(first);
    return first as SyncFields;
  }

  beforeAll(async () => {
    cluster = await Cluster.start(leftovers, { nodes: ['node-a', 'node-b'] });
    toNodes = await registerTestGateway(cluster.centralUrl);
    [a, b] = [cluster.node('node-a'), cluster.node('node-b')];
    ok(
      await central(
        'mutation { createUser(username: "fields", password: "pw-fields-secret") { id } }',
      ),
    );
    token = ok(
      await gql<{ login: { token: string } }>(
        cluster.centralUrl,
        'mutation { login(username: "fields", password: "pw-fields-secret") { token } }',
      ),
    ).login.token;
    room = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($h: ID, $r: [ID!]) { createRoom(name: "fields", homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { h: a.id, r: [b.id] },
        { token },
      ),
    ).createRoom.id;
  });

  it('a post, an edit and a FULL sync: both copies and the gateway give the same fields', async () => {
    const id = ok(
      await gql<{ postMessage: { id: string; syncStatus: string; lastSyncAttempt: null } }>(
        cluster.gatewayUrl,
        'mutation($r: ID!) { postMessage(roomId: $r, content: "one") { id syncStatus lastSyncAttempt } }',
        { r: room },
        { token, gatewaySecret: null },
      ),
    ).postMessage.id;

    // Change detection moves it to B; B's acknowledgement makes A's copy SYNCED, with the time A
    // sent it, which B keeps from the batch.
    await until(
      () => copies(id),
      ([onA, onB]) => onA?.syncStatus === 'SYNCED' && onB?.syncStatus === 'SYNCED',
      'both copies SYNCED',
    );
    const synced = await expectOneAnswer(id);
    expect(synced).toMatchObject({ content: 'one', syncStatus: 'SYNCED' });
    expect(synced.lastSyncAttempt).toEqual(expect.any(String));

    // The session that carried it is recorded at central off the path: it may still be open.
    const moved = await until(
      async () =>
        (await sessions()).filter(
          (s) => s.sourceNode.id === a.id && s.targetNode.id === b.id && s.status === 'COMPLETED',
        ),
      (list) => list.some((s) => s.messagesSynced === 1 && s.messagesChecked === 1),
      'the session that moved it to B to be COMPLETED',
    );
    expect(moved.map((s) => [s.messagesSynced, s.messagesChecked])).toContainEqual([1, 1]);

    // An edit is a new version (PENDING and never sent until B holds it: tests/node/sync.test.ts).
    ok(
      await gql(
        cluster.gatewayUrl,
        'mutation($id: ID!) { editMessage(id: $id, content: "two") { id } }',
        { id },
        { token, gatewaySecret: null },
      ),
    );
    await until(
      () => copies(id),
      ([onA, onB]) =>
        onB?.content === 'two' && onA?.syncStatus === 'SYNCED' && onB.syncStatus === 'SYNCED',
      'the edit on B and both copies SYNCED',
    );
    const edited = await expectOneAnswer(id);
    expect(edited.lastSyncAttempt! > synced.lastSyncAttempt!).toBe(true);

    // A FULL sync both ways sends the version again: each copy takes the newest send.
    const full = ok(
      await central<{ triggerSync: Session[] }>(
        `mutation($n: ID) { triggerSync(nodeId: $n, syncType: FULL) { ${SESSION} } }`,
        { n: b.id },
      ),
    ).triggerSync;
    expect(full).toHaveLength(2);
    const done = await until(
      sessions,
      (list) => full.every((f) => list.some((s) => s.id === f.id && s.status === 'COMPLETED')),
      'both FULL sessions COMPLETED',
    );
    // Nothing changed either target, and each examined the one version of the room.
    for (const f of full) {
      expect(done.find((s) => s.id === f.id)).toMatchObject({
        syncType: 'FULL',
        messagesSynced: 0,
        messagesChecked: 1,
      });
    }
    const resent = await expectOneAnswer(id);
    expect(resent.syncStatus).toBe('SYNCED');
    expect(resent.lastSyncAttempt! > edited.lastSyncAttempt!).toBe(true);
  });
});
