// Central's executable subgraph schema: the SDL of schema/central.graphql plus its resolvers, built
// from that SDL printed as a federation subgraph by `npm run build` (lib/subgraphSchema.ts says
// why; the build's dist/supergraph.json holds it, refused when composed from other SDL).
import type { GraphQLSchema } from 'graphql';
import { DateTimeScalar } from '../../lib/dateTime.ts';
import { mergeResolvers } from '../../lib/mergeResolvers.ts';
import { subgraphSchema } from '../../lib/subgraphSchema.ts';
import { loadSupergraph } from '../../lib/supergraph.ts';
import { nodeResolvers } from './resolvers/nodes.ts';
import { quarantineResolvers } from './resolvers/quarantine.ts';
import { replicationResolvers } from './resolvers/replication.ts';
import { roomResolvers } from './resolvers/rooms.ts';
import { syncResolvers } from './resolvers/sync.ts';
import { userResolvers } from './resolvers/users.ts';

export function centralResolvers(): ReturnType<typeof mergeResolvers> {
  return mergeResolvers(
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
}

export function buildCentralSchema(): GraphQLSchema {
  return subgraphSchema(loadSupergraph().printedSdl.central, centralResolvers() as never);
}
