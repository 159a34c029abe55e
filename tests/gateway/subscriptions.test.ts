// The subscription bridge's parts in memory, on the real supergraph from schema/: what each
// subscription field is bridged as, the query an event is resolved with, event lookups answered
// from the event itself, and executions shared between subscribers.
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { getOperationAST, parse, validate, type FieldNode, type GraphQLSchema } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayContext } from '../../gateway/context.ts';
import {
  EventExecutor,
  prepareSelection,
  selectionParts,
  type BridgeEvent,
} from '../../gateway/subscriptions/eventExecutor.ts';
import type { EventContext } from '../../gateway/subscriptions/prefetch.ts';
import { GatewaySubscriptions } from '../../gateway/subscriptions/index.ts';
import { bridgedFields } from '../../gateway/subscriptions/fieldCatalog.ts';
import { idAtTime } from '../../gateway/subscriptions/upstreamPool.ts';
import { loadSupergraph } from '../../lib/supergraph.ts';
import { silentLogger } from '../../lib/log.ts';

const supergraph = loadSupergraph();
const subgraphs = [
  { name: 'central', schema: buildSubgraphSchema(parse(supergraph.centralSdl)) },
  { name: 'messages', schema: buildSubgraphSchema(parse(supergraph.nodeSdl)) },
];

/** A subgraph stand-in that records what it is asked and answers `_entities` by type. */
class RecordingSource implements GraphQLDataSource<GatewayContext> {
  readonly queries: string[] = [];
  process(options: GraphQLDataSourceProcessOptions<GatewayContext>) {
    const query = options.request.query ?? '';
    this.queries.push(query);
    const reps = (options.request.variables?.['representations'] ?? []) as Array<{
      __typename: string;
      id: string;
    }>;
    if (query.includes('_entities')) {
      return Promise.resolve({
        data: {
          _entities: reps.map((r) =>
            r.__typename === 'User'
              ? { displayName: `user ${r.id}` }
              : r.__typename === 'Room'
                ? { name: `room ${r.id}`, messages: null }
                : { name: `node ${r.id}` },
          ),
        },
      });
    }
    return Promise.resolve({ data: { message: null, node: null, syncSession: null } });
  }
}

let apollo: ApolloServer<GatewayContext>;
let apiSchema: GraphQLSchema;
const central = new RecordingSource();
const messages = new RecordingSource();
const subscriptions = new GatewaySubscriptions({
  subgraphs,
  centralUrl: 'http://central.invalid',
  gatewaySecret: 'unused-here',
  signer: {} as never,
  routing: {} as never,
  link: {} as never,
  log: silentLogger,
});

beforeAll(async () => {
  const gateway = new ApolloGateway({
    supergraphSdl: supergraph.supergraphSdl,
    buildService: ({ name }) => subscriptions.wrap(name, name === 'central' ? central : messages),
  });
  apollo = new ApolloServer<GatewayContext>({ gateway });
  await apollo.start();
  apiSchema = gateway.schema as GraphQLSchema;
});
afterAll(() => apollo.stop());

const viewer = { id: 'u-1', username: 'ann', role: 'MEMBER' as const };
const message = {
  id: 'm-1',
  hlc: '001790000000000:00000000:n-1',
  content: 'hello',
  contentHash: 'x',
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  deletedAt: null,
  syncStatus: 'PENDING',
  lastSyncAttempt: null,
  room: { id: 'r-1' },
  sender: { id: 'u-2' },
  originNode: { id: 'n-1' },
};
const event = (serial: number): BridgeEvent => ({
  serial,
  entity: { subgraph: 'messages', lookupField: 'message', id: 'm-1', value: message },
});

function prepared(source: string, variables: Record<string, unknown> = {}) {
  const document = parse(source);
  const operation = getOperationAST(document);
  if (!operation) throw new Error('no operation');
  const field = operation.selectionSet.selections[0] as FieldNode;
  return prepareSelection(selectionParts(document, operation, field, variables), 'message');
}

async function execute(
  request: { query: string; variables: Record<string, unknown> },
  contextValue: EventContext,
) {
  const response = await apollo.executeOperation(request, { contextValue });
  if (response.body.kind !== 'single') throw new Error('incremental');
  return response.body.singleResult;
}

describe('bridged fields', () => {
  it('describes every subscription field of the API schema from the subgraph schemas', () => {
    const fields = bridgedFields(apiSchema, subgraphs);
    expect([...fields.keys()].sort()).toEqual(
      ['messageAdded', 'messageChanged', 'nodeStatusChanged', 'syncSessionUpdated'].sort(),
    );
    const added = fields.get('messageAdded');
    expect(added).toMatchObject({
      subgraph: 'messages',
      lookupField: 'message',
      roomScoped: true,
      resumable: true,
    });
    // The node's own schema still has the @inaccessible HLC the bridge dedupes by.
    expect(added?.projection).toMatch(/\bhlc\b/);
    expect(added?.projection).toContain('sender { id }');
    expect(fields.get('messageChanged')).toMatchObject({ resumable: false, roomScoped: true });
    expect(fields.get('nodeStatusChanged')).toMatchObject({
      subgraph: 'central',
      lookupField: 'node',
      roomScoped: false,
    });
    const sync = fields.get('syncSessionUpdated');
    expect(sync).toMatchObject({ subgraph: 'central', lookupField: 'syncSession' });
    // Referenced nodes come with their own fields, so `sourceNode { name }` is in the event.
    expect(sync?.projection).toMatch(/sourceNode \{ id name /);
    expect(sync?.projection).not.toMatch(/\blog\b/);
  });
});

describe('event queries', () => {
  it('keep the selection, the fragments and the variables it uses, and validate against the API schema', () => {
    const p = prepared(
      `subscription S($r: ID!, $n: Int, $unused: String) {
         added: messageAdded(roomId: $r) { ...M room { messages(last: $n) { edges { cursor } } } }
       }
       fragment M on Message { id content sender { displayName } }
       fragment Unused on Message { id }`,
      { r: 'r-1', n: 3, unused: 'x' },
    );
    expect(p.responseKey).toBe('added');
    expect(p.variables).toEqual({ n: 3 });
    expect(p.query).toContain('fragment M on Message');
    expect(p.query).not.toContain('Unused');
    expect(p.query).not.toContain('$unused');
    expect(validate(apiSchema, parse(p.query))).toEqual([]);
  });

  it('pick an id variable name the client does not use', () => {
    const p = prepared('subscription($eventId: ID!) { messageAdded(roomId: $eventId) { id } }');
    expect(p.idVariable).not.toBe('eventId');
    expect(validate(apiSchema, parse(p.query))).toEqual([]);
  });
});

describe('resolving an event through the gateway', () => {
  it('answers the lookup from the event and fetches only the other subgraphs', async () => {
    const executor = new EventExecutor({ execute });
    const p = prepared(
      'subscription { messageAdded(roomId: "r-1") { id content sender { displayName } room { name } } }',
    );
    const before = messages.queries.length;
    const result = await executor.run(p, event(1), { viewer, authorization: 'Bearer a' });
    expect(result).toEqual({
      data: {
        messageAdded: {
          id: 'm-1',
          content: 'hello',
          sender: { displayName: 'user u-2' },
          room: { name: 'room r-1' },
        },
      },
    });
    expect(messages.queries.length).toBe(before);
  });

  it('asks the owning subgraph after all for a field the event does not carry', async () => {
    const executor = new EventExecutor({ execute });
    const p = prepared(
      'subscription { messageAdded(roomId: "r-1") { id room { messages(last: 1) { edges { cursor } } } } }',
    );
    const before = messages.queries.length;
    await executor.run(p, event(2), { viewer, authorization: 'Bearer a' });
    expect(messages.queries.length).toBeGreaterThan(before);
  });

  it('shares one execution between subscribers of the same user, not across users', async () => {
    let calls = 0;
    const executor = new EventExecutor({
      execute: (request, context) => {
        calls += 1;
        return execute(request, context);
      },
    });
    const p = prepared('subscription { messageAdded(roomId: "r-1") { id content } }');
    const ann = { viewer, authorization: 'Bearer a' };
    const bob = { viewer: { ...viewer, id: 'u-3' }, authorization: 'Bearer b' };
    const results = await Promise.all([
      executor.run(p, event(10), ann),
      executor.run(p, event(10), ann),
      executor.run(p, event(10), bob),
    ]);
    expect(calls).toBe(2);
    expect(results[0]).toEqual(results[2]);
    // A later event is a new execution, even with identical content.
    await executor.run(p, event(11), ann);
    expect(calls).toBe(3);
  });

  it('reuses another subgraph’s answer for a moment across events, per user', async () => {
    const executor = new EventExecutor({ execute });
    const p = prepared('subscription { messageAdded(roomId: "r-1") { id room { name } } }');
    const before = central.queries.length;
    await executor.run(p, event(20), { viewer, authorization: 'Bearer reuse' });
    await executor.run(p, event(21), { viewer, authorization: 'Bearer reuse' });
    expect(central.queries.length - before).toBe(1);
    await executor.run(p, event(22), {
      viewer: { ...viewer, id: 'u-9' },
      authorization: 'Bearer other',
    });
    expect(central.queries.length - before).toBe(2);
  });
});

describe('feed start cursors', () => {
  it('sort below every UUIDv7 made from that millisecond on', () => {
    const at = Date.UTC(2026, 0, 1);
    const id = idAtTime(at);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7000-8000-000000000000$/);
    const sameMs = `${id.slice(0, 14)}7abc-9def-0123456789ab`;
    expect(sameMs > id).toBe(true);
    expect(idAtTime(at - 1) < id).toBe(true);
  });
});
