// The static cost model of lib/queryCost.ts on a schema shaped like the API's: page sizes
// multiply what a page selects, once; pages inside pages multiply each other; fragments and
// variables are costed like the fields they stand for.
import { buildSchema, Kind, parse, validate, type OperationDefinitionNode } from 'graphql';
import { describe, expect, it } from 'vitest';
import { costLimitRule, fragmentsOf, operationCost } from '../../lib/queryCost.ts';

const schema = buildSchema(`
  type Query { rooms: [Room!]! room(id: ID!): Room me: User }
  type Node { id: ID! name: String! }
  type User { id: ID! displayName: String! rooms: [Room!]! }
  type Room {
    id: ID!
    name: String!
    homeNode: Node!
    members: [User!]!
    messages(last: Int = 50, before: String, first: Int, after: String): MessageConnection
  }
  type Message { id: ID! content: String! sender: User! originNode: Node! room: Room! }
  type MessageConnection { edges: [MessageEdge!]! pageInfo: PageInfo! }
  type MessageEdge { cursor: String! node: Message! }
  type PageInfo { hasNextPage: Boolean! startCursor: String endCursor: String }
  type Subscription { messageAdded(roomId: ID!): Message! }
`);

function cost(query: string, variables?: Record<string, unknown>) {
  const document = parse(query);
  const operation = document.definitions.find(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  if (!operation) throw new Error('no operation');
  return operationCost(schema, operation, fragmentsOf(document), variables);
}

const README = (size: string) =>
  `{ rooms { id name homeNode { name } messages(last: ${size}) { edges { node { content sender { displayName } originNode { name } } } } } }`;

describe('query cost', () => {
  it("counts the README's selection at a full page as 10 rooms of 500 messages, once", () => {
    // messages: 1 + (edges: 1 + 500 x (node: 1 + content + sender 2 + originNode 2)) = 3002;
    // rooms: 1 + 10 x (id + name + homeNode 2 + messages 3002).
    expect(cost(README('500'))).toEqual({ cost: 30_061, usesVariables: false });
  });

  it("uses the schema's default page size when none is given, and the larger of first/last", () => {
    expect(cost('{ room(id: "r") { messages { edges { cursor } } } }').cost).toBe(1 + 1 + 1 + 50);
    expect(cost('{ room(id: "r") { messages(first: 7) { edges { cursor } } } }').cost).toBe(
      1 + 1 + 1 + 7,
    );
  });

  it('multiplies pages inside pages', () => {
    const nested = cost(
      '{ rooms { messages(last: 500) { edges { node { room { messages(last: 500) { edges { node { id } } } } } } } } }',
    ).cost;
    expect(nested).toBeGreaterThan(10 * 500 * 500);
    const membersPerMessage = cost(
      '{ room(id: "r") { messages(last: 500) { edges { node { room { members { id } } } } } } }',
    ).cost;
    expect(membersPerMessage).toBeGreaterThan(500 * 10);
  });

  it('costs a page size given as a variable by its value, or by the largest page when unknown', () => {
    const query = 'query($n: Int) { room(id: "r") { messages(last: $n) { edges { cursor } } } }';
    expect(cost(query, { n: 20 })).toEqual({ cost: 23, usesVariables: true });
    expect(cost(query, {}).cost).toBe(53);
    expect(cost(query).cost).toBe(503);
    expect(
      cost('query($n: Int = 5) { room(id: "r") { messages(last: $n) { edges { cursor } } } }').cost,
    ).toBe(8);
  });

  it('costs fragments like the fields they stand for, each spread counted', () => {
    const inline = cost(README('500')).cost;
    const spread = cost(
      `{ rooms { id name homeNode { name } messages(last: 500) { ...Page } } }
       fragment Page on MessageConnection { edges { node { ...M } } }
       fragment M on Message { content sender { displayName } originNode { name } }`,
    ).cost;
    expect(spread).toBe(inline);
    const twice = cost(
      '{ a: room(id: "r") { ...R } b: room(id: "s") { ...R } } fragment R on Room { id name }',
    ).cost;
    expect(twice).toBe(2 * 3);
  });

  it('refuses through the validation rule with the cost and the limit, no "Syntax Error"', () => {
    const [error] = validate(schema, parse(README('500')), [costLimitRule(30_000)]);
    expect(error?.message).toMatch(/^query cost 30061 exceeds the limit of 30000/);
    expect(error?.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      cost: 30_061,
      maxCost: 30_000,
    });
    expect(validate(schema, parse(README('500')), [costLimitRule(100_000)])).toEqual([]);
  });
});
