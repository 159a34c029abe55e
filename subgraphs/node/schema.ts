// The node's executable subgraph schema: the SDL of schema/node.graphql plus its resolvers, built
// from that SDL printed as a federation subgraph by `npm run build` (lib/subgraphSchema.ts says
// why; the build's dist/supergraph.json holds it, refused when composed from other SDL).
import type { GraphQLSchema } from 'graphql';
import { DateTimeScalar } from '../../lib/dateTime.ts';
import { subgraphSchema } from '../../lib/subgraphSchema.ts';
import { loadSupergraph } from '../../lib/supergraph.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';
import { Message, Mutation, Query } from './resolvers/messages.ts';
import { Room } from './resolvers/rooms.ts';
import { Subscription } from './resolvers/subscriptions.ts';

export const nodeResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Subscription,
  Message,
  Room,
};

export function buildNodeSchema(): GraphQLSchema {
  return subgraphSchema(loadSupergraph().printedSdl.node, nodeResolvers as never);
}
