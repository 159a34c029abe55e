// Central down is not chat down (issue 17), with real processes: central is killed; a member who
// posted shortly before keeps posting and reading through the gateway (nodes trust central's last
// "member" answer for --membership-stale-ms, the gateway routes from its last known placement),
// while a member the node never asked about, and a room the gateway never routed, get
// CENTRAL_UNAVAILABLE rather than INTERNAL_SERVER_ERROR.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

describe('central down', () => {
  const leftovers = new Leftovers();
  afterAll(() => leftovers.dispose());
  let cluster: Cluster;
  const tokens = new Map<string, string>();
  let room: string;
  let unrouted: string;

  const central = <T>(query: string, variables: Record<string, unknown> = {}, token?: string) =>
    gql<T>(cluster.centralUrl, query, variables, { token: token ?? cluster.adminToken });

  const post = (roomId: string, user: string, content: string) =>
    gql<{ postMessage: { id: string; content: string } }>(
      cluster.gatewayUrl,
      'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id content } }',
      { r: roomId, c: content },
      { token: tokens.get(user) as string },
    );

  beforeAll(async () => {
    cluster = await Cluster.start(leftovers);
    for (const user of ['alice', 'bob']) {
      ok(
        await central(
          'mutation($u: String!) { createUser(username: $u, password: "pw-secret-1") { id } }',
          {
            u: user,
          },
        ),
      );
      tokens.set(
        user,
        ok(
          await gql<{ login: { token: string } }>(
            cluster.centralUrl,
            'mutation($u: String!) { login(username: $u, password: "pw-secret-1") { token } }',
            { u: user },
          ),
        ).login.token,
      );
    }
    const create = async (name: string) =>
      ok(
        await central<{ createRoom: { id: string } }>(
          'mutation($n: String!, $h: ID) { createRoom(name: $n, homeNodeId: $h) { id } }',
          { n: name, h: cluster.node('node-a').id },
          tokens.get('alice'),
        ),
      ).createRoom.id;
    room = await create('stays up');
    unrouted = await create('never routed');
    ok(
      await central(
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: room },
        tokens.get('bob'),
      ),
    );
    ok(await post(room, 'alice', 'before'));
    await cluster.central.kill('SIGKILL');
  });

  it('lets a member central confirmed before keep posting and reading through the gateway', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 5; n++)
      ids.push(ok(await post(room, 'alice', `while down ${n}`)).postMessage.id);
    for (const [n, id] of ids.entries()) {
      const read = ok(
        await gql<{ message: { content: string } | null }>(
          cluster.gatewayUrl,
          'query($id: ID!) { message(id: $id) { content } }',
          { id },
          { token: tokens.get('alice') as string },
        ),
      );
      expect(read.message?.content).toBe(`while down ${n}`);
    }
  });

  it('answers CENTRAL_UNAVAILABLE for a member the node never asked about, and for a room it never routed', async () => {
    const bob = await post(room, 'bob', 'unknown to the node');
    expect(codes(bob)).toEqual(['CENTRAL_UNAVAILABLE']);
    const other = await post(unrouted, 'alice', 'no placement known');
    expect(codes(other)).toEqual(['CENTRAL_UNAVAILABLE']);
  });
});
