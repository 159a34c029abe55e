// `switchboard central`: reads configuration from flags and environment, then listens.
import path from 'node:path';
import {
  ConfigError,
  helpText,
  option,
  parseConfig,
  parsers,
  sharedOptions,
} from '../../lib/config.ts';
import { createLogger } from '../../lib/log.ts';
import { stopOnSignals } from '../../lib/process.ts';
import { DEFAULT_INSTANCE_LEASE_MS } from './instanceLease.ts';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from './nodeLiveness.ts';
import { DEFAULT_PASSWORD_HASH_COST, PASSWORD_HASH_COST_RANGE } from './passwords.ts';
import { DEFAULT_STUCK_AFTER_MS } from './sync/coordinator.ts';

export const centralOptions = {
  port: option({
    flag: 'port',
    env: 'SWITCHBOARD_CENTRAL_PORT',
    description: 'Port to listen on (0 = any free port)',
    default: 4001,
    parse: parsers.port,
  }),
  host: option({
    flag: 'host',
    env: 'SWITCHBOARD_CENTRAL_HOST',
    description: 'Address to listen on',
    default: '127.0.0.1',
    parse: parsers.string,
  }),
  dataDir: option({
    flag: 'data-dir',
    env: 'SWITCHBOARD_DATA_DIR',
    description: 'Folder for the embedded PGlite database',
    default: './data',
    parse: parsers.string,
  }),
  databaseUrl: option<string | undefined>({
    flag: 'database-url',
    env: 'DATABASE_URL',
    description: 'Use real PostgreSQL (postgres://...) instead of PGlite',
    parse: parsers.postgresUrl,
  }),
  adminPassword: option<string | undefined>({
    flag: 'admin-password',
    env: 'SWITCHBOARD_ADMIN_PASSWORD',
    description:
      'Password of the admin user created on first start (prefer the env var: flags show in ps); generated and printed once if unset',
    parse: parsers.string,
  }),
  heartbeatIntervalMs: option({
    flag: 'heartbeat-interval-ms',
    env: 'SWITCHBOARD_HEARTBEAT_INTERVAL_MS',
    description: 'How often nodes heartbeat',
    default: DEFAULT_HEARTBEAT_INTERVAL_MS as number,
    parse: parsers.positiveInt,
  }),
  offlineAfterMs: option<number | undefined>({
    flag: 'offline-after-ms',
    env: 'SWITCHBOARD_OFFLINE_AFTER_MS',
    description:
      'Time without a heartbeat after which a node is OFFLINE (default: 3 heartbeat intervals, 4500)',
    parse: parsers.positiveInt,
  }),
  tokenTtlSeconds: option({
    flag: 'token-ttl',
    env: 'SWITCHBOARD_TOKEN_TTL',
    description: "Lifetime of users' tokens in seconds",
    default: 43_200,
    parse: parsers.positiveInt,
  }),
  rotateSigningKey: option({
    flag: 'rotate-signing-key',
    description:
      'Replace the token signing key, then exit (restart running centrals after); tokens already issued keep working until they expire',
    default: false,
    boolean: true,
    parse: parsers.boolean,
  }),
  revokeTokens: option({
    flag: 'revoke-tokens',
    description: 'With --rotate-signing-key: every token issued so far stops working at once',
    default: false,
    boolean: true,
    parse: parsers.boolean,
  }),
  maxBodyBytes: sharedOptions.maxBodyBytes,
  maxWsPayloadBytes: sharedOptions.maxWsPayloadBytes,
  wsConnectionInitTimeoutMs: sharedOptions.wsConnectionInitTimeoutMs,
  syncBatchSize: option({
    flag: 'sync-batch-size',
    env: 'SWITCHBOARD_SYNC_BATCH_SIZE',
    description: 'Versions per batch the nodes are asked to pull in a sync session',
    default: 1000,
    parse: parsers.positiveInt,
  }),
  syncFullBatchSize: option({
    flag: 'sync-full-batch-size',
    env: 'SWITCHBOARD_SYNC_FULL_BATCH_SIZE',
    description:
      'Versions per batch in FULL sync sessions (sized for throughput; a source caps it at its --sync-max-batch-size)',
    default: 5000,
    parse: parsers.positiveInt,
  }),
  instanceLeaseMs: option({
    flag: 'instance-lease-ms',
    env: 'SWITCHBOARD_INSTANCE_LEASE_MS',
    description:
      'Lease of this central, renewed every third of it; once it expired, other centrals take over the sync sessions it sent',
    default: DEFAULT_INSTANCE_LEASE_MS as number,
    parse: parsers.positiveInt,
  }),
  syncStuckAfterMs: option({
    flag: 'sync-stuck-after-ms',
    env: 'SWITCHBOARD_SYNC_STUCK_AFTER_MS',
    description:
      'A running sync session without a report from its ONLINE target for this long is failed and queued again',
    default: DEFAULT_STUCK_AFTER_MS as number,
    parse: parsers.positiveInt,
  }),
  syncLiveWindowStaleMs: option({
    flag: 'sync-live-window-stale-ms',
    env: 'SWITCHBOARD_SYNC_LIVE_WINDOW_STALE_MS',
    description:
      'A live replication window without a report from its target for this long is FAILED (its target lost its record, e.g. a wiped data dir)',
    default: 300_000,
    parse: parsers.positiveInt,
  }),
  gatewaySecret: option<string | undefined>({
    flag: 'gateway-secret',
    env: 'SWITCHBOARD_GATEWAY_SECRET',
    description: 'Secret shared with the gateways (prefer the env var)',
    parse: parsers.secret,
  }),
  loginMaxFailuresPerUsernameAndAddress: option({
    flag: 'login-max-failures-per-user-addr',
    env: 'SWITCHBOARD_LOGIN_MAX_FAILURES_PER_USER_ADDR',
    description:
      'Failed logins for one username from one client address per window before RATE_LIMITED',
    default: 10 as number,
    parse: parsers.positiveInt,
  }),
  loginMaxFailuresPerAddress: option({
    flag: 'login-max-failures-per-address',
    env: 'SWITCHBOARD_LOGIN_MAX_FAILURES_PER_ADDRESS',
    description: 'Failed logins one client address may have per window before RATE_LIMITED',
    default: 50 as number,
    parse: parsers.positiveInt,
  }),
  loginMaxFailuresPerUsername: option({
    flag: 'login-max-failures-per-username',
    env: 'SWITCHBOARD_LOGIN_MAX_FAILURES_PER_USERNAME',
    description:
      'Failed logins for one username (all addresses) per window before further attempts from addresses that failed for it back off',
    default: 10 as number,
    parse: parsers.positiveInt,
  }),
  loginBackoffBaseMs: option({
    flag: 'login-backoff-base-ms',
    env: 'SWITCHBOARD_LOGIN_BACKOFF_BASE_MS',
    description: 'First delay of the per-username backoff; doubled with each further failure',
    default: 1000 as number,
    parse: parsers.positiveInt,
  }),
  loginBackoffMaxMs: option({
    flag: 'login-backoff-max-ms',
    env: 'SWITCHBOARD_LOGIN_BACKOFF_MAX_MS',
    description: 'Longest delay of the per-username backoff',
    default: 60_000 as number,
    parse: parsers.positiveInt,
  }),
  loginWindowMs: option({
    flag: 'login-window-ms',
    env: 'SWITCHBOARD_LOGIN_WINDOW_MS',
    description: 'Sliding window of the login limits',
    default: 900_000 as number,
    parse: parsers.positiveInt,
  }),
  passwordHashConcurrency: option({
    flag: 'password-hash-concurrency',
    env: 'SWITCHBOARD_PASSWORD_HASH_CONCURRENCY',
    description:
      "Password hashes (scrypt) computed at once; the rest wait, leaving libuv's thread pool to other requests",
    default: 2 as number,
    parse: parsers.positiveInt,
  }),
  passwordHashCost: option({
    flag: 'password-hash-cost',
    env: 'SWITCHBOARD_PASSWORD_HASH_COST',
    description:
      'scrypt cost of new password hashes, as log2 of N (10-20); existing hashes keep theirs. Lower only for tests',
    default: DEFAULT_PASSWORD_HASH_COST as number,
    parse: (raw: string, name: string): number => {
      const n = Number(raw);
      if (
        !/^\d+$/.test(raw) ||
        n < PASSWORD_HASH_COST_RANGE.min ||
        n > PASSWORD_HASH_COST_RANGE.max
      )
        throw new ConfigError(
          `${name} must be an integer ${PASSWORD_HASH_COST_RANGE.min}-${PASSWORD_HASH_COST_RANGE.max}, got "${raw}"`,
        );
      return n;
    },
  }),
  help: sharedOptions.help,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  const config = parseConfig(centralOptions, argv, env);
  if (config.help) {
    process.stdout.write(
      helpText(
        'central',
        'Runs the central subgraph: users, rooms, the node registry, sync coordination.',
        centralOptions,
      ),
    );
    return;
  }
  if (config.offlineAfterMs !== undefined && config.offlineAfterMs <= config.heartbeatIntervalMs) {
    // Every node would flap OFFLINE between two heartbeats.
    throw new ConfigError(
      `--offline-after-ms (${config.offlineAfterMs}) must be longer than --heartbeat-interval-ms (${config.heartbeatIntervalMs})`,
    );
  }
  const log = createLogger('central');
  const database =
    config.databaseUrl === undefined
      ? { dataDir: path.resolve(config.dataDir) }
      : { databaseUrl: config.databaseUrl };
  if (config.rotateSigningKey) {
    const [{ openCentralDb }, { rotateSigningKey }] = await Promise.all([
      import('./db/open.ts'),
      import('./tokens.ts'),
    ]);
    const opened = await openCentralDb(database);
    try {
      const rotated = await rotateSigningKey(opened.db, {
        ttlSeconds: config.tokenTtlSeconds,
        revokeIssuedTokens: config.revokeTokens,
      });
      log.info(
        `token signing key ${rotated.previousKid ?? '(none)'} replaced by ${rotated.kid}; ` +
          (rotated.revoked
            ? 'every token issued so far is revoked'
            : `tokens issued so far keep working for up to ${config.tokenTtlSeconds} s`) +
          '. Restart every running central to sign with the new key.',
      );
    } finally {
      await opened.close();
    }
    return;
  }
  // Loaded once the flags are read: `--help` and a flag's error do not pay for the server.
  const { startCentral } = await import('./server.ts');
  const central = await startCentral({
    port: config.port,
    host: config.host,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    ...(config.offlineAfterMs === undefined ? {} : { offlineAfterMs: config.offlineAfterMs }),
    tokenTtlSeconds: config.tokenTtlSeconds,
    maxBodyBytes: config.maxBodyBytes,
    maxWsPayloadBytes: config.maxWsPayloadBytes,
    wsConnectionInitTimeoutMs: config.wsConnectionInitTimeoutMs,
    syncBatchSize: config.syncBatchSize,
    syncFullBatchSize: config.syncFullBatchSize,
    instanceLeaseMs: config.instanceLeaseMs,
    syncStuckAfterMs: config.syncStuckAfterMs,
    syncLiveWindowStaleMs: config.syncLiveWindowStaleMs,
    loginThrottle: {
      maxFailuresPerUsernameAndAddress: config.loginMaxFailuresPerUsernameAndAddress,
      maxFailuresPerAddress: config.loginMaxFailuresPerAddress,
      maxFailuresPerUsername: config.loginMaxFailuresPerUsername,
      backoffBaseMs: config.loginBackoffBaseMs,
      backoffMaxMs: config.loginBackoffMaxMs,
      windowMs: config.loginWindowMs,
    },
    passwordHashConcurrency: config.passwordHashConcurrency,
    passwordHashCost: config.passwordHashCost,
    logger: log,
    ...database,
    ...(config.adminPassword === undefined ? {} : { adminPassword: config.adminPassword }),
    ...(config.gatewaySecret === undefined ? {} : { gatewaySecret: config.gatewaySecret }),
  });
  if (central.generatedAdminPassword !== undefined) {
    log.info(
      `created user "admin" with password: ${central.generatedAdminPassword} (shown once; set SWITCHBOARD_ADMIN_PASSWORD to choose it)`,
    );
  }
  if (config.gatewaySecret === undefined)
    log.warn(
      'no SWITCHBOARD_GATEWAY_SECRET: no gateway can connect, and central and the nodes refuse every GraphQL operation',
    );
  // The handler first: whoever waits for the ready line may stop the process at once, and a
  // SIGTERM before the handler would kill it without its clean shutdown.
  stopOnSignals(log, () => central.close());
  log.info(`ready at ${central.url}/graphql`);
}
