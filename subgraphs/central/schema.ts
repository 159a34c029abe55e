// Central's executable subgraph schema: the SDL of schema/central.graphql plus its resolvers.
import { readFileSync } from 'node:fs';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { parse, type GraphQLSchema } from 'graphql';
import { DateTimeScalar } from '../../lib/dateTime.ts';
import { mergeResolvers } from '../../lib/mergeResolvers.ts';
import { packagePath } from '../../lib/packageRoot.ts';
import { nodeResolvers } from './resolvers/nodes.ts';
import { quarantineResolvers } from './resolvers/quarantine.ts';
import { replicationResolvers } from './resolvers/replication.ts';
import { roomResolvers } from './resolvers/rooms.ts';
import { syncResolvers } from './resolvers/sync.ts';
import { userResolvers } from './resolvers/users.ts';

export const centralSdl = readFileSync(packagePath('schema', 'central.graphql'), 'utf8');

export function buildCentralSchema(): GraphQLSchema {
  const resolvers = mergeResolvers(
    userResolvers,
    roomResolvers,
    nodeResolvers,
    syncResolvers,
    quarantineResolvers,
    replicationResolvers,
    {
      DateTime: DateTimeScalar,
    },
  );
  return buildSubgraphSchema({ typeDefs: parse(centralSdl), resolvers: resolvers as never });
}
