// An executable federation subgraph schema from its printed SDL (issue 18). @apollo/subgraph's
// buildSubgraphSchema validates the SDL as a federation subgraph and completes it (link imports,
// _service, _entities, _Entity...) with @apollo/federation-internals, then builds the GraphQL
// schema from the result printed, which is also what `_service { sdl }` answers. Done at every
// start of central, of a node and (twice) of the gateway, that cost about 0.1 s of CPU each, plus
// loading federation-internals in central and the nodes (about 0.1 s more). Our SDL is constant,
// so `npm run build` prints it (scripts/supergraph.ts, in dist/supergraph.json) and a process
// does the rest of buildSubgraphSchema here, from those pieces of @apollo/subgraph that do not
// load federation-internals (deep imports of 2.14.4's files: the package has no "exports", and
// tests/lib/subgraphSchema.test.ts compares the result with buildSubgraphSchema's).
import { addResolversToSchema } from '@apollo/subgraph/dist/schema-helper/buildSchemaFromSDL.js';
import type { GraphQLResolverMap } from '@apollo/subgraph/dist/schema-helper/resolverMap.js';
import { entitiesResolver } from '@apollo/subgraph/dist/types.js';
import { buildASTSchema, parse, type GraphQLResolveInfo, type GraphQLSchema } from 'graphql';

/**
 * What `buildSubgraphSchema({ typeDefs, resolvers })` returns, given `printedSdl`, what that
 * schema answers to `_service { sdl }` (scripts/supergraph.ts's printSubgraph of typeDefs).
 */
export function subgraphSchema(
  printedSdl: string,
  resolvers: GraphQLResolverMap<unknown> = {},
): GraphQLSchema {
  // As federation-internals' toGraphQLJSSchema: the printed schema, parsed without locations.
  const schema = buildASTSchema(parse(printedSdl, { noLocation: true }));
  const queryRoot = schema.getQueryType()?.name;
  if (queryRoot === undefined) throw new Error('a subgraph schema has a Query root type');
  addResolversToSchema(schema, { [queryRoot]: { _service: () => ({ sdl: printedSdl }) } });
  // buildSubgraph adds _Entity (and _entities) when the subgraph has an entity type.
  if (schema.getType('_Entity')) {
    addResolversToSchema(schema, {
      [queryRoot]: {
        _entities: (
          _source: unknown,
          args: { representations: unknown },
          context: unknown,
          info: GraphQLResolveInfo,
        ): unknown => entitiesResolver({ representations: args.representations, context, info }),
      },
      _Entity: {
        __resolveType: (parent: { __typename: string }) => parent.__typename,
      },
    });
  }
  addResolversToSchema(schema, resolvers);
  return schema;
}
