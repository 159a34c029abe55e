// Resolver types are generated from the SDL in schema/, one file per subgraph, so a resolver
// that drifts from its schema fails `check:types`. CI runs `codegen:check` to keep them fresh.
import type { CodegenConfig } from '@graphql-codegen/cli';

const shared = {
  useIndexSignature: true,
  federation: true,
  useTypeImports: true,
  enumsAsTypes: true,
  // Resolvers may return Date objects; the DateTime scalar serializes them to ISO-8601 UTC.
  scalars: { DateTime: { input: 'string', output: 'Date | string' } },
  // Resolvers may return nothing for an optional argument: keep generated args simple.
  avoidOptionals: { field: true, inputValue: false, object: false, defaultValue: false },
};

const config: CodegenConfig = {
  overwrite: true,
  generates: {
    'subgraphs/central/__generated__/resolvers-types.ts': {
      schema: 'schema/central.graphql',
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        ...shared,
        contextType: '../context.ts#CentralContext',
        mappers: {
          User: '../db/schema.ts#UserRow',
          Room: '../db/schema.ts#RoomRow',
          Node: '../db/schema.ts#NodeRow',
          SyncSession: '../db/schema.ts#SyncSessionRow',
          MessageSyncLog: '../db/schema.ts#MessageSyncLogRow',
          DistributedMessage: '../db/schema.ts#DistributedMessageRow',
          SyncPair: '../sync/pairs.ts#SyncPairView',
          QuarantinedVersion: '../db/schema.ts#QuarantinedVersionRow',
          ReplicationPairStats: '../sync/replicationStats.ts#ReplicationPairView',
          ReplicationStats: '../sync/replicationStats.ts#ReplicationStatsView',
        },
      },
    },
    'subgraphs/node/__generated__/resolvers-types.ts': {
      schema: 'schema/node.graphql',
      plugins: ['typescript', 'typescript-resolvers'],
      config: {
        ...shared,
        contextType: '../context.ts#NodeContext',
        mappers: {
          Message: '../db/schema.ts#MessageRow',
          Room: '../types.ts#EntityRef',
          User: '../types.ts#EntityRef',
          Node: '../types.ts#EntityRef',
        },
      },
    },
  },
};

export default config;
