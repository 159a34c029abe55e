// lib/subgraphSchema.ts builds central's and the nodes' schemas from their SDL printed at build
// time, doing the rest of what @apollo/subgraph's buildSubgraphSchema does from pieces of its
// files (issue 18): the result must be the schema buildSubgraphSchema builds, type by type, with
// the same resolvers in the same places, answering `_service` and `_entities` alike. Another
// version of @apollo/subgraph that builds differently fails here.
import { buildSubgraphSchema } from '@apollo/subgraph';
import {
  getIntrospectionQuery,
  graphql,
  graphqlSync,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isObjectType,
  isScalarType,
  isUnionType,
  parse,
  printSchema,
  type GraphQLNamedType,
  type GraphQLSchema,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { loadSupergraph, readSchemaFiles } from '../../lib/supergraph.ts';
import { subgraphSchema } from '../../lib/subgraphSchema.ts';
import { printSubgraph } from '../../scripts/supergraph.ts';
import { buildCentralSchema, centralResolvers } from '../../subgraphs/central/schema.ts';
import { buildNodeSchema, nodeResolvers } from '../../subgraphs/node/schema.ts';

/** What resolving code a type carries: functions by identity, the rest by value. */
function behaviourOf(type: GraphQLNamedType): unknown {
  const common = {
    kind: type.constructor.name,
    extensions: type.extensions,
    astNode: type.astNode,
  };
  if (isObjectType(type) || isInterfaceType(type)) {
    return {
      ...common,
      ...(isObjectType(type) ? { isTypeOf: type.isTypeOf } : { resolveType: type.resolveType }),
      fields: Object.fromEntries(
        Object.entries(type.getFields()).map(([name, field]) => [
          name,
          // Federation's own resolvers are closures made per build: compared by what they answer.
          name === '_service' || name === '_entities'
            ? { resolve: typeof field.resolve }
            : { resolve: field.resolve, subscribe: field.subscribe, astNode: field.astNode },
        ]),
      ),
    };
  }
  if (isUnionType(type))
    return {
      ...common,
      resolveType: type.name === '_Entity' ? typeof type.resolveType : type.resolveType,
    };
  if (isScalarType(type))
    return {
      ...common,
      serialize: type.serialize,
      parseValue: type.parseValue,
      // graphql makes a default parseLiteral per scalar (a closure): compared by its source.
      parseLiteral: String(type.parseLiteral),
    };
  if (isEnumType(type)) return { ...common, values: type.getValues() };
  if (isInputObjectType(type)) return { ...common, fields: type.getFields() };
  return common;
}

async function expectSameSchema(actual: GraphQLSchema, expected: GraphQLSchema): Promise<void> {
  expect(printSchema(actual)).toBe(printSchema(expected));
  const introspection = getIntrospectionQuery({ directiveIsRepeatable: true });
  expect(graphqlSync({ schema: actual, source: introspection })).toEqual(
    graphqlSync({ schema: expected, source: introspection }),
  );
  expect(actual.getDirectives().map((d) => d.astNode)).toEqual(
    expected.getDirectives().map((d) => d.astNode),
  );
  const names = Object.keys(expected.getTypeMap());
  expect(Object.keys(actual.getTypeMap())).toEqual(names);
  for (const name of names) {
    expect(behaviourOf(actual.getType(name)!), name).toEqual(behaviourOf(expected.getType(name)!));
  }
  for (const source of [
    '{ _service { sdl } }',
    // No __resolveReference on these: the representation is the entity, as Apollo's resolver does.
    '{ _entities(representations: [{ __typename: "Room", id: "r1" }]) { __typename } }',
    '{ _entities(representations: [{ __typename: "Nope", id: "r1" }]) { __typename } }',
  ]) {
    // _entities answers with promises.
    expect(await graphql({ schema: actual, source }), source).toEqual(
      await graphql({ schema: expected, source }),
    );
  }
}

describe('subgraphSchema', () => {
  const { centralSdl, nodeSdl } = readSchemaFiles();

  it("builds central's schema as buildSubgraphSchema does", async () => {
    await expectSameSchema(
      buildCentralSchema(),
      buildSubgraphSchema({ typeDefs: parse(centralSdl), resolvers: centralResolvers() as never }),
    );
  });

  it("builds the nodes' schema as buildSubgraphSchema does", async () => {
    await expectSameSchema(
      buildNodeSchema(),
      buildSubgraphSchema({ typeDefs: parse(nodeSdl), resolvers: nodeResolvers as never }),
    );
  });

  it("without resolvers (the gateway's copies), from the build's printed SDL", async () => {
    const { printedSdl } = loadSupergraph();
    expect(printedSdl).toEqual({
      central: printSubgraph(centralSdl),
      node: printSubgraph(nodeSdl),
    });
    await expectSameSchema(subgraphSchema(printedSdl.node), buildSubgraphSchema(parse(nodeSdl)));
    await expectSameSchema(
      subgraphSchema(printedSdl.central),
      buildSubgraphSchema(parse(centralSdl)),
    );
  });
});
