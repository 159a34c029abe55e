// `switchboard gateway`: reads configuration from flags and environment, then listens.
import { centralUrlOption } from '../lib/centralEndpoints.ts';
import { helpText, option, parseConfig, parsers, sharedOptions } from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { defaultQueryLimits } from '../lib/queryLimits.ts';
import { stopOnSignals } from '../lib/process.ts';

export const gatewayOptions = {
  port: option({
    flag: 'port',
    env: 'SWITCHBOARD_GATEWAY_PORT',
    description: 'Port to listen on (0 = any free port)',
    default: 4000,
    parse: parsers.port,
  }),
  host: option({
    flag: 'host',
    env: 'SWITCHBOARD_GATEWAY_HOST',
    description: 'Address to listen on',
    default: '127.0.0.1',
    parse: parsers.string,
  }),
  centralUrl: option({
    flag: 'central-url',
    env: 'SWITCHBOARD_CENTRAL_URL',
    description:
      "Central's base URL; several centrals on one database: comma-separated, failed over in order",
    default: 'http://127.0.0.1:4001',
    parse: centralUrlOption,
  }),
  gatewaySecret: option<string>({
    flag: 'gateway-secret',
    env: 'SWITCHBOARD_GATEWAY_SECRET',
    description: 'Secret shared with central (prefer the env var)',
    required: true,
    parse: parsers.secret,
  }),
  nodeTimeoutMs: option({
    flag: 'node-timeout-ms',
    env: 'SWITCHBOARD_NODE_TIMEOUT_MS',
    description: 'A node slower than this counts as down for that request',
    default: 5000,
    parse: parsers.positiveInt,
  }),
  hedgeMinMs: option({
    flag: 'hedge-min-ms',
    env: 'SWITCHBOARD_HEDGE_MIN_MS',
    description:
      'Least a read of a replicated room waits for a node (its recent p95) before also asking a replica',
    default: 50 as number,
    parse: parsers.positiveInt,
  }),
  hedgeMaxMs: option({
    flag: 'hedge-max-ms',
    env: 'SWITCHBOARD_HEDGE_MAX_MS',
    description:
      'Most a read of a replicated room waits for a node before also asking a replica (a frozen node costs this)',
    default: 300 as number,
    parse: parsers.positiveInt,
  }),
  centralTimeoutMs: option({
    flag: 'central-timeout-ms',
    env: 'SWITCHBOARD_CENTRAL_TIMEOUT_MS',
    description: 'Deadline of each request to central; after it, CENTRAL_UNAVAILABLE',
    default: 10_000 as number,
    parse: parsers.positiveInt,
  }),
  operationTimeoutMs: option({
    flag: 'operation-timeout-ms',
    env: 'SWITCHBOARD_OPERATION_TIMEOUT_MS',
    description: 'Longest an HTTP operation may take in all; after it, 504 OPERATION_TIMEOUT',
    default: 30_000 as number,
    parse: parsers.positiveInt,
  }),
  userProfileTtlMs: option({
    flag: 'user-profile-ttl-ms',
    env: 'SWITCHBOARD_USER_PROFILE_TTL_MS',
    description:
      "How long central's answer for a user's display name is reused (e.g. for senders of messages); 0 asks central every time",
    default: 2000 as number,
    parse: (raw: string, name: string): number =>
      raw.trim() === '0' ? 0 : parsers.positiveInt(raw, name),
  }),
  maxBodyBytes: sharedOptions.maxBodyBytes,
  maxQueryDepth: option({
    flag: 'max-query-depth',
    env: 'SWITCHBOARD_MAX_QUERY_DEPTH',
    description: 'Deepest field nesting of an operation',
    default: defaultQueryLimits.maxDepth as number,
    parse: parsers.positiveInt,
  }),
  maxQueryCost: option({
    flag: 'max-query-cost',
    env: 'SWITCHBOARD_MAX_QUERY_COST',
    description:
      'Largest static cost of an operation (1 per field; a list multiplies what it selects by its page size)',
    default: defaultQueryLimits.maxCost as number,
    parse: parsers.positiveInt,
  }),
  maxAliases: option({
    flag: 'max-aliases',
    env: 'SWITCHBOARD_MAX_ALIASES',
    description: 'Most aliases in one operation',
    default: defaultQueryLimits.maxAliases as number,
    parse: parsers.positiveInt,
  }),
  maxTokens: option({
    flag: 'max-tokens',
    env: 'SWITCHBOARD_MAX_TOKENS',
    description: 'Most lexical tokens in one GraphQL document',
    default: defaultQueryLimits.maxTokens as number,
    parse: parsers.positiveInt,
  }),
  maxSubscriptionsPerConnection: option({
    flag: 'max-subscriptions-per-connection',
    env: 'SWITCHBOARD_MAX_SUBSCRIPTIONS_PER_CONNECTION',
    description: 'Operations one WebSocket connection may run at once',
    default: 100 as number,
    parse: parsers.positiveInt,
  }),
  maxWsPayloadBytes: sharedOptions.maxWsPayloadBytes,
  wsConnectionInitTimeoutMs: sharedOptions.wsConnectionInitTimeoutMs,
  metricsToken: option<string | undefined>({
    flag: 'metrics-token',
    env: 'SWITCHBOARD_METRICS_TOKEN',
    description:
      'Bearer token that sees /ready and /metrics in detail (nodes, URLs), like ADMIN tokens (prefer the env var)',
    parse: parsers.secret,
  }),
  help: sharedOptions.help,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(
      helpText(
        'gateway',
        'Runs the gateway: one GraphQL endpoint over central and every chat node.',
        gatewayOptions,
      ),
    );
    return;
  }
  const config = parseConfig(gatewayOptions, argv, env);
  const log = createLogger('gateway');
  // Loaded once the flags are read: `--help` and a flag's error do not pay for the server.
  const { startGateway } = await import('./server.ts');
  const gateway = await startGateway({
    port: config.port,
    host: config.host,
    centralUrl: config.centralUrl,
    gatewaySecret: config.gatewaySecret,
    nodeTimeoutMs: config.nodeTimeoutMs,
    hedgeMinMs: config.hedgeMinMs,
    hedgeMaxMs: config.hedgeMaxMs,
    centralTimeoutMs: config.centralTimeoutMs,
    operationTimeoutMs: config.operationTimeoutMs,
    userProfileTtlMs: config.userProfileTtlMs,
    maxBodyBytes: config.maxBodyBytes,
    queryLimits: {
      maxDepth: config.maxQueryDepth,
      maxCost: config.maxQueryCost,
      maxAliases: config.maxAliases,
      maxTokens: config.maxTokens,
    },
    maxSubscriptionsPerConnection: config.maxSubscriptionsPerConnection,
    maxWsPayloadBytes: config.maxWsPayloadBytes,
    wsConnectionInitTimeoutMs: config.wsConnectionInitTimeoutMs,
    ...(config.metricsToken === undefined ? {} : { metricsToken: config.metricsToken }),
    logger: log,
  });
  // The handler first: whoever waits for the ready line may stop the process at once, and a
  // SIGTERM before the handler would kill it without its clean shutdown.
  stopOnSignals(log, () => gateway.close());
  log.info(`ready at ${gateway.url}/graphql`);
}
