// The demo's first-run content, written through the gateway like any client would: members, rooms
// homed on different nodes (so the routing and sync are visible at once), a few messages, and one
// direct conversation (alice & bob), which carol does not see.
import { graphqlRequest } from './graphqlRequest.ts';

export interface DemoUser {
  readonly username: string;
  readonly displayName: string;
}

const USERS: readonly DemoUser[] = [
  { username: 'alice', displayName: 'Alice' },
  { username: 'bob', displayName: 'Bob' },
  { username: 'carol', displayName: 'Carol' },
];

/** Room name, home node, the other nodes storing it, who creates it, and its first messages. */
const ROOMS = [
  {
    name: 'general',
    home: 'node-a',
    replicas: ['node-b', 'node-c'],
    creator: 'alice',
    messages: [
      ['alice', 'Welcome to Switchboard! This room lives on node-a, with copies on b and c.'],
      ['bob', 'Hi all: I am reading this through the gateway, whatever node holds it.'],
    ],
  },
  {
    name: 'design',
    home: 'node-b',
    replicas: ['node-c'],
    creator: 'bob',
    messages: [
      ['bob', 'Design review at 3pm. This room is homed on node-b.'],
      ['carol', 'I will bring the sync dashboard mock-ups.'],
    ],
  },
  {
    name: 'random',
    home: 'node-c',
    replicas: ['node-a'],
    creator: 'carol',
    messages: [['carol', 'node-c says hello. Edit or delete me and watch the sync log.']],
  },
] as const;

export async function seedDemo(gatewayUrl: string, password: string): Promise<readonly DemoUser[]> {
  const login = async (username: string) =>
    (
      await graphqlRequest<{ login: { token: string } }>(
        gatewayUrl,
        'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
        { u: username, p: password },
      )
    ).login.token;

  const admin = await login('admin');
  for (const user of USERS) {
    await graphqlRequest(
      gatewayUrl,
      'mutation($u: String!, $p: String!, $d: String!) { createUser(username: $u, password: $p, displayName: $d) { id } }',
      { u: user.username, p: password, d: user.displayName },
      admin,
    );
  }
  const tokens = new Map<string, string>();
  for (const user of USERS) tokens.set(user.username, await login(user.username));
  const token = (username: string) => tokens.get(username) as string;

  const { nodes } = await graphqlRequest<{ nodes: { id: string; name: string }[] }>(
    gatewayUrl,
    '{ nodes { id name } }',
    {},
    admin,
  );
  const nodeId = (name: string) => {
    const node = nodes.find((n) => n.name === name);
    if (!node) throw new Error(`central has no node named ${name}`);
    return node.id;
  };

  for (const room of ROOMS) {
    const { createRoom } = await graphqlRequest<{ createRoom: { id: string } }>(
      gatewayUrl,
      'mutation($n: String!, $h: ID!, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { n: room.name, h: nodeId(room.home), r: room.replicas.map(nodeId) },
      token(room.creator),
    );
    for (const user of USERS) {
      if (user.username === room.creator) continue;
      await graphqlRequest(
        gatewayUrl,
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: createRoom.id },
        token(user.username),
      );
    }
    for (const [author, content] of room.messages) {
      await graphqlRequest(
        gatewayUrl,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: createRoom.id, c: content },
        token(author),
      );
    }
  }
  const { users } = await graphqlRequest<{ users: { id: string; username: string }[] }>(
    gatewayUrl,
    '{ users { id username } }',
    {},
    admin,
  );
  const bob = users.find((u) => u.username === 'bob');
  if (!bob) throw new Error('central has no user bob');
  const { openDirectRoom } = await graphqlRequest<{ openDirectRoom: { id: string } }>(
    gatewayUrl,
    'mutation($u: ID!) { openDirectRoom(userId: $u) { id } }',
    { u: bob.id },
    token('alice'),
  );
  await graphqlRequest(
    gatewayUrl,
    'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
    { r: openDirectRoom.id, c: 'Just between us, bob: carol cannot even see this room.' },
    token('alice'),
  );
  return USERS;
}
