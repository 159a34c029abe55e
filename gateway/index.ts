// `switchboard gateway`: reads configuration from flags and environment, then listens.
import { helpText, option, parseConfig, parsers } from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { stopOnSignals } from '../lib/process.ts';
import { startGateway } from './server.ts';

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
    description: "Central's base URL",
    default: 'http://127.0.0.1:4001',
    parse: parsers.url,
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
  maxBodyBytes: option({
    flag: 'max-body-bytes',
    env: 'SWITCHBOARD_MAX_BODY_BYTES',
    description: 'Largest accepted request body',
    default: 1_048_576,
    parse: parsers.positiveInt,
  }),
  help: option({
    flag: 'help',
    description: 'Show this help',
    default: false,
    boolean: true,
    parse: parsers.boolean,
  }),
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (argv.includes('--help')) {
    const { help: _help, ...shown } = gatewayOptions;
    process.stdout.write(
      helpText(
        'gateway',
        'Runs the gateway: one GraphQL endpoint over central and every chat node.',
        shown,
      ),
    );
    return;
  }
  const config = parseConfig(gatewayOptions, argv, env);
  const log = createLogger('gateway');
  const gateway = await startGateway({
    port: config.port,
    host: config.host,
    centralUrl: config.centralUrl,
    gatewaySecret: config.gatewaySecret,
    nodeTimeoutMs: config.nodeTimeoutMs,
    maxBodyBytes: config.maxBodyBytes,
    logger: log,
  });
  log.info(`ready at ${gateway.url}/graphql`);
  stopOnSignals(log, () => gateway.close());
}
