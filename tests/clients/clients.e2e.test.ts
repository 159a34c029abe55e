// The API as real client libraries meet it, against a real cluster (central, two chat nodes and
// the gateway as processes): Apollo Client 4 (HttpLink for queries and mutations, GraphQLWsLink
// and HttpLink's multipart protocol for subscriptions, InMemoryCache with relayStylePagination),
// urql with its defaults (GET queries carrying Authorization, fetchExchange) plus its
// subscriptionExchange over graphql-ws, and the plain graphql-ws client doing everything on one
// socket. Each checks real data: posted messages arrive once, pages return every message in order,
// and a room whose nodes all go down is announced, and announced back, without ending anything.
import {
  ApolloClient,
  ApolloLink,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  gql as apolloGql,
} from '@apollo/client';
import { GraphQLWsLink } from '@apollo/client/link/subscriptions';
import { getMainDefinition, relayStylePagination } from '@apollo/client/utilities';
import {
  Client as UrqlClient,
  cacheExchange,
  fetchExchange,
  gql as urqlGql,
  subscriptionExchange,
  type ExecutionResult as UrqlResult,
} from '@urql/core';
import { Kind, OperationTypeNode } from 'graphql';
import { createClient, type Client as WsClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

// Apollo's GraphQLWsLink tells socket errors apart with the global WebSocket (Node 22 has one).
(globalThis as { WebSocket?: unknown }).WebSocket ??= WebSocket;

const leftovers = new Leftovers();
/** Waits on events through the gateway; generous, since the machine is shared. */
const WAIT = { timeout: 30_000, interval: 50 };
let cluster: Cluster;
let user: { id: string; token: string; displayName: string };

const POST = `mutation Post($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id content } }`;
const ADDED = `subscription Added($r: ID!) { messageAdded(roomId: $r) { id content sender { id displayName } } }`;

interface AddedData {
  messageAdded: { id: string; content: string; sender: { id: string; displayName: string } };
}

async function createRoom(name: string, home: string, replicas: string[]): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { n: name, h: cluster.node(home).id, r: replicas.map((r) => cluster.node(r).id) },
      { token: user.token },
    ),
  ).createRoom.id;
}

async function subscriberCount(): Promise<number> {
  const response = await fetch(`${cluster.gatewayUrl}/ready`, {
    headers: { authorization: `Bearer ${cluster.adminToken}` },
  });
  return ((await response.json()) as { subscriptions: { clients: number } }).subscriptions.clients;
}

function wsClient(token: string, onConnected?: () => void): WsClient {
  const client = createClient({
    url: `${cluster.gatewayUrl.replace(/^http/, 'ws')}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${token}` },
    retryAttempts: 0,
    ...(onConnected ? { on: { connected: onConnected } } : {}),
  });
  leftovers.defer(() => client.dispose());
  return client;
}

function apolloClient(token: string, subscriptions: 'ws' | 'multipart'): ApolloClient {
  const http = new HttpLink({
    uri: `${cluster.gatewayUrl}/graphql`,
    headers: { authorization: `Bearer ${token}` },
  });
  const link =
    subscriptions === 'multipart'
      ? http
      : ApolloLink.split(
          ({ query }) => {
            const definition = getMainDefinition(query);
            return (
              definition.kind === Kind.OPERATION_DEFINITION &&
              definition.operation === OperationTypeNode.SUBSCRIPTION
            );
          },
          new GraphQLWsLink(wsClient(token)),
          http,
        );
  const client = new ApolloClient({
    link,
    cache: new InMemoryCache({
      typePolicies: { Room: { fields: { messages: relayStylePagination() } } },
    }),
  });
  leftovers.defer(() => client.stop());
  return client;
}

/** urql as its docs set it up: GET for queries, fetchExchange, subscriptions over graphql-ws. */
function urqlClient(token: string, socket: WsClient, fetchImpl: typeof fetch = fetch): UrqlClient {
  return new UrqlClient({
    url: `${cluster.gatewayUrl}/graphql`,
    fetchOptions: () => ({ headers: { authorization: `Bearer ${token}` } }),
    fetch: fetchImpl,
    exchanges: [
      cacheExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({
            unsubscribe: socket.subscribe(
              { ...request, query: request.query ?? '' },
              {
                next: (result) => sink.next(result as UrqlResult),
                error: (error: unknown) => sink.error(error),
                complete: () => sink.complete(),
              },
            ),
          }),
        }),
      }),
      fetchExchange,
    ],
  });
}

/** Whatever a subscription of any client emits, in order, and whether it ended. */
interface Recorded<T> {
  readonly values: T[];
  ended: string | undefined;
  stop(): void;
}

function record<T>(
  subscribe: (next: (value: T) => void, end: (why: string) => void) => () => void,
): Recorded<T> {
  const recorded: Recorded<T> = {
    values: [],
    ended: undefined,
    stop: () => {},
  };
  const stop = subscribe(
    (value) => void recorded.values.push(value),
    (why) => void (recorded.ended = why),
  );
  recorded.stop = stop;
  leftovers.defer(stop);
  return recorded;
}

interface ApolloSubscriptionResult {
  data?: AddedData;
  error?: unknown;
  extensions?: Record<string, unknown>;
}

function apolloSubscription(
  client: ApolloClient,
  roomId: string,
): Recorded<ApolloSubscriptionResult> {
  return record<ApolloSubscriptionResult>((next, end) => {
    const subscription = client
      .subscribe<AddedData>({ query: apolloGql(ADDED), variables: { r: roomId } })
      .subscribe({
        next: (result) => next(result as ApolloSubscriptionResult),
        error: (error: unknown) => end(`error ${String(error)}`),
        complete: () => end('complete'),
      });
    return () => subscription.unsubscribe();
  });
}

function apolloCodes(results: readonly ApolloSubscriptionResult[]): unknown[] {
  return results.flatMap((r) =>
    CombinedGraphQLErrors.is(r.error) ? r.error.errors.map((e) => e.extensions?.['code']) : [],
  );
}

const addedIds = (results: ReadonlyArray<{ data?: AddedData | null | undefined }>) =>
  results.flatMap((r) => (r.data?.messageAdded ? [r.data.messageAdded.id] : []));

beforeAll(async () => {
  cluster = await Cluster.start(leftovers, {
    nodes: ['node-a', 'node-b'],
    nodeTimeoutMs: 5000,
    heartbeatIntervalMs: 1000,
  });
  const password = 'client-user-password';
  const id = ok(
    await gql<{ createUser: { id: string } }>(
      cluster.gatewayUrl,
      'mutation($p: String!) { createUser(username: "dana", password: $p, displayName: "Dana") { id } }',
      { p: password },
      { token: cluster.adminToken },
    ),
  ).createUser.id;
  const token = ok(
    await gql<{ login: { token: string } }>(
      cluster.gatewayUrl,
      'mutation($p: String!) { login(username: "dana", password: $p) { token } }',
      { p: password },
    ),
  ).login.token;
  user = { id, token, displayName: 'Dana' };
});
afterAll(() => leftovers.dispose());

describe('Apollo Client 4', () => {
  it('posts with HttpLink, pages back through history with relayStylePagination, and gets each message once over GraphQLWsLink and multipart HttpLink', async () => {
    const warnings = [vi.spyOn(console, 'warn'), vi.spyOn(console, 'error')];
    const roomId = await createRoom('apollo', 'node-a', ['node-b']);
    const client = apolloClient(user.token, 'ws');
    const overHttp = apolloClient(user.token, 'multipart');
    const live = apolloSubscription(client, roomId);
    const multipart = apolloSubscription(overHttp, roomId);
    // Both subscriptions are in place at the gateway before anything is posted.
    await expect.poll(subscriberCount, WAIT).toBe(2);

    const posted: string[] = [];
    for (let i = 0; i < 12; i++) {
      const result = await client.mutate<{ postMessage: { id: string } }>({
        mutation: apolloGql(POST),
        variables: { r: roomId, c: `apollo ${i}` },
      });
      posted.push(result.data?.postMessage.id ?? 'missing');
    }
    await expect.poll(() => addedIds(live.values), WAIT).toEqual(posted);
    await expect.poll(() => addedIds(multipart.values), WAIT).toEqual(posted);
    expect(live.values.at(-1)?.data?.messageAdded).toMatchObject({
      content: 'apollo 11',
      sender: { id: user.id, displayName: 'Dana' },
    });

    const HISTORY = apolloGql(`query History($id: ID!, $before: String) {
      room(id: $id) {
        id
        name
        messages(last: 5, before: $before) {
          edges { cursor node { id content sender { id displayName } } }
          pageInfo { hasPreviousPage startCursor }
        }
      }
    }`);
    interface History {
      room: {
        messages: {
          edges: Array<{ node: { id: string; content: string } }>;
          pageInfo: { hasPreviousPage: boolean; startCursor: string | null };
        };
      };
    }
    const query = client.watchQuery<History>({ query: HISTORY, variables: { id: roomId } });
    const watching = query.subscribe(() => {});
    leftovers.defer(() => watching.unsubscribe());
    let page = (await query.refetch()).data as History;
    expect(page.room.messages.edges.map((e) => e.node.id)).toEqual(posted.slice(-5));
    let pages = 1;
    while (page.room.messages.pageInfo.hasPreviousPage && pages < 10) {
      await query.fetchMore({ variables: { before: page.room.messages.pageInfo.startCursor } });
      // The merged list, as relayStylePagination reads it back from the cache.
      page = client.readQuery<History>({ query: HISTORY, variables: { id: roomId } }) as History;
      pages += 1;
    }
    expect(pages).toBe(3);
    expect(page.room.messages.edges.map((e) => e.node.id)).toEqual(posted);
    expect(page.room.messages.edges.map((e) => e.node.content)).toEqual(
      posted.map((_, i) => `apollo ${i}`),
    );

    expect(live.ended).toBeUndefined();
    expect(multipart.ended).toBeUndefined();
    live.stop();
    multipart.stop();
    await expect.poll(subscriberCount, WAIT).toBe(0);
    for (const spy of warnings) {
      expect(spy.mock.calls).toEqual([]);
      spy.mockRestore();
    }
  });

  it('follows sync sessions over multipart HttpLink', async () => {
    const admin = apolloClient(cluster.adminToken, 'multipart');
    const nodeA = cluster.node('node-a').id;
    const sessions = record<{
      data?: { syncSessionUpdated: { id: string; status: string } } | undefined;
    }>((next, end) => {
      const subscription = admin
        .subscribe<{ syncSessionUpdated: { id: string; status: string } }>({
          query: apolloGql(
            'subscription Sessions($n: ID) { syncSessionUpdated(nodeId: $n) { id status sourceNode { name } targetNode { name } } }',
          ),
          variables: { n: nodeA },
        })
        .subscribe({
          next,
          error: (error: unknown) => end(`error ${String(error)}`),
          complete: () => end('complete'),
        });
      return () => subscription.unsubscribe();
    });
    await expect.poll(subscriberCount, WAIT).toBe(1);
    const triggered = await admin.mutate<{ triggerSync: Array<{ id: string }> }>({
      mutation: apolloGql(
        'mutation Sync($n: ID) { triggerSync(nodeId: $n, syncType: FULL) { id } }',
      ),
      variables: { n: nodeA },
    });
    const ids = triggered.data?.triggerSync.map((s) => s.id) ?? [];
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) {
      // WAIT, not expect.poll's 1 s default: a FULL sync of two node processes takes longer than
      // that on a loaded machine.
      await expect
        .poll(
          () =>
            sessions.values.some(
              (v) =>
                v.data?.syncSessionUpdated.id === id &&
                v.data.syncSessionUpdated.status === 'COMPLETED',
            ),
          WAIT,
        )
        .toBe(true);
    }
    expect(sessions.ended).toBeUndefined();
    sessions.stop();
    await expect.poll(subscriberCount, WAIT).toBe(0);
  });
});

describe('urql with its defaults', () => {
  it('reads with GET + Authorization, posts with POST, pages forward, and subscribes over graphql-ws', async () => {
    const roomId = await createRoom('urql', 'node-b', ['node-a']);
    const methods: string[] = [];
    const client = urqlClient(user.token, wsClient(user.token), (input, init) => {
      methods.push(init?.method ?? 'GET');
      return fetch(input, init);
    });
    const results = record<{
      data?: AddedData | null;
      error?: { graphQLErrors: Array<{ extensions: Record<string, unknown> }> };
    }>((next) => {
      const subscription = client
        .subscription<AddedData>(urqlGql(ADDED), { r: roomId })
        .subscribe(next);
      return () => subscription.unsubscribe();
    });
    await expect.poll(subscriberCount, WAIT).toBe(1);

    const posted: string[] = [];
    for (let i = 0; i < 7; i++) {
      const result = await client.mutation<{ postMessage: { id: string } }>(urqlGql(POST), {
        r: roomId,
        c: `urql ${i}`,
      });
      expect(result.error).toBeUndefined();
      posted.push(result.data?.postMessage.id ?? 'missing');
    }
    expect(methods).toEqual(Array(7).fill('POST'));
    await expect.poll(() => addedIds(results.values), WAIT).toEqual(posted);

    const PAGE = urqlGql(`query Page($id: ID!, $after: String) {
      room(id: $id) { id messages(first: 3, after: $after) {
        edges { cursor node { id content } } pageInfo { hasNextPage endCursor } } }
    }`);
    interface Page {
      room: {
        messages: {
          edges: Array<{ node: { id: string } }>;
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      };
    }
    const read: string[] = [];
    let after: string | null = null;
    for (;;) {
      const result: { data?: Page | undefined; error?: unknown } = await client
        .query<Page>(PAGE, { id: roomId, after })
        .toPromise();
      expect(result.error).toBeUndefined();
      const messages: Page['room']['messages'] | undefined = result.data?.room.messages;
      read.push(...(messages?.edges.map((e) => e.node.id) ?? []));
      if (!messages?.pageInfo.hasNextPage) break;
      after = messages.pageInfo.endCursor;
    }
    expect(read).toEqual(posted);
    expect(methods.slice(7)).toEqual(['GET', 'GET', 'GET']);
    expect(results.ended).toBeUndefined();
    results.stop();
    await expect.poll(subscriberCount, WAIT).toBe(0);
  });
});

describe('plain graphql-ws', () => {
  it('runs queries, mutations and subscriptions over one socket', async () => {
    const roomId = await createRoom('graphql-ws', 'node-a', ['node-b']);
    let connections = 0;
    const socket = wsClient(user.token, () => void (connections += 1));
    const once = <T>(query: string, variables: Record<string, unknown>) =>
      new Promise<T>((resolve, reject) => {
        let value: T | undefined;
        socket.subscribe<T>(
          { query, variables },
          {
            next: (result) =>
              result.errors?.length
                ? reject(new Error(JSON.stringify(result.errors)))
                : (value = result.data as T),
            error: (error: unknown) => reject(new Error(JSON.stringify(error))),
            complete: () => resolve(value as T),
          },
        );
      });
    const events = record<{ data?: AddedData | null }>((next, end) =>
      socket.subscribe<AddedData>(
        { query: ADDED, variables: { r: roomId } },
        { next, error: () => end('error'), complete: () => end('complete') },
      ),
    );
    await expect.poll(subscriberCount, WAIT).toBe(1);
    const posted: string[] = [];
    for (let i = 0; i < 5; i++) {
      posted.push(
        (await once<{ postMessage: { id: string } }>(POST, { r: roomId, c: `ws ${i}` })).postMessage
          .id,
      );
    }
    await expect.poll(() => addedIds(events.values), WAIT).toEqual(posted);
    const history = await once<{
      room: { messages: { edges: Array<{ node: { id: string; content: string } }> } };
    }>('query($r: ID!) { room(id: $r) { messages(last: 10) { edges { node { id content } } } } }', {
      r: roomId,
    });
    expect(history.room.messages.edges.map((e) => e.node.id)).toEqual(posted);
    expect(connections).toBe(1);
    expect(events.ended).toBeUndefined();
    events.stop();
  });
});

describe('a room whose nodes all go down', () => {
  it('is announced to Apollo Client (GraphQLWsLink and multipart) and urql, and announced back, and their subscriptions carry on', async () => {
    const roomId = await createRoom('solo', 'node-b', []);
    const apolloWs = apolloSubscription(apolloClient(user.token, 'ws'), roomId);
    const apolloMultipart = apolloSubscription(apolloClient(user.token, 'multipart'), roomId);
    const urql = urqlClient(user.token, wsClient(user.token));
    const urqlResults = record<{
      data?: AddedData | null;
      error?: { graphQLErrors: Array<{ extensions: Record<string, unknown> }> };
      extensions?: Record<string, unknown>;
    }>((next) => {
      const subscription = urql
        .subscription<AddedData>(urqlGql(ADDED), { r: roomId })
        .subscribe(next);
      return () => subscription.unsubscribe();
    });
    const urqlCodes = () =>
      urqlResults.values.flatMap(
        (r) => r.error?.graphQLErrors.map((e) => e.extensions['code']) ?? [],
      );
    await expect.poll(subscriberCount, WAIT).toBe(3);

    await cluster.killNode('node-b');
    await expect.poll(() => apolloCodes(apolloWs.values), WAIT).toEqual(['NODE_UNAVAILABLE']);
    await expect
      .poll(() => apolloCodes(apolloMultipart.values), WAIT)
      .toEqual(['NODE_UNAVAILABLE']);
    await expect.poll(urqlCodes, WAIT).toEqual(['NODE_UNAVAILABLE']);
    const notice = apolloWs.values.find((v) => v.error);
    expect(notice?.extensions).toEqual({ roomAvailability: { roomId, available: false } });
    expect(urqlResults.values.find((v) => v.error)?.extensions).toEqual({
      roomAvailability: { roomId, available: false },
    });

    await cluster.startNode('node-b');
    await cluster.waitUntilRoutable(['node-b']);
    const back = ['NODE_UNAVAILABLE', 'ROOM_AVAILABLE'];
    await expect.poll(() => apolloCodes(apolloWs.values), WAIT).toEqual(back);
    await expect.poll(() => apolloCodes(apolloMultipart.values), WAIT).toEqual(back);
    await expect.poll(urqlCodes, WAIT).toEqual(back);

    const id = ok(
      await gql<{ postMessage: { id: string } }>(
        cluster.gatewayUrl,
        POST,
        { r: roomId, c: 'back again' },
        { token: user.token },
      ),
    ).postMessage.id;
    await expect.poll(() => addedIds(apolloWs.values), WAIT).toEqual([id]);
    await expect.poll(() => addedIds(apolloMultipart.values), WAIT).toEqual([id]);
    await expect.poll(() => addedIds(urqlResults.values), WAIT).toEqual([id]);
    for (const recorded of [apolloWs, apolloMultipart, urqlResults]) {
      expect(recorded.ended).toBeUndefined();
      recorded.stop();
    }
  });
});
