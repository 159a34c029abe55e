// The node's executable subgraph schema: the SDL of schema/node.graphql plus its resolvers.
import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLSchema } from 'graphql';
import { DateTimeScalar } from '../../lib/dateTime.ts';
import { packagePath } from '../../lib/packageRoot.ts';
import type { Resolvers } from './__generated__/resolvers-types.ts';
import { Message, Mutation, Query } from './resolvers/messages.ts';
import { Room } from './resolvers/rooms.ts';
import { Subscription } from './resolvers/subscriptions.ts';

export const nodeSdl = readFileSync(packagePath('schema', 'node.graphql'), 'utf8');

export const nodeResolvers: Resolvers = {
  DateTime: DateTimeScalar,
  Query,
  Mutation,
  Subscription,
  Message,
  Room,
};

export function buildNodeSchema(): GraphQLSchema {
  return buildSubgraphSchema({ typeDefs: parse(nodeSdl), resolvers: nodeResolvers as never });
}
