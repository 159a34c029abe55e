// `switchboard node`: reads configuration from flags and environment, starts the node, and stops
// it cleanly on SIGTERM/SIGINT.
import { centralUrlOption } from '../../lib/centralEndpoints.ts';
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
import { DEFAULT_GROUP_COMMIT_MS } from './groupCommit.ts';
import { NodeStartupError } from './heartbeat.ts';
import { WINDOW_IDLE_MS } from './sync/liveOutbox.ts';

function nodeName(raw: string, name: string): string {
  // The name becomes a file name: keep it to what central accepts for node names.
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(raw)) {
    throw new ConfigError(`${name} must be 1-63 lowercase letters, digits or "-", got "${raw}"`);
  }
  return raw;
}

export const nodeOptions = {
  name: option({
    flag: 'name',
    env: 'SWITCHBOARD_NODE_NAME',
    description: 'Node name; the database is <data-dir>/<name>.sqlite',
    required: true,
    parse: nodeName,
  }),
  port: option({
    flag: 'port',
    env: 'SWITCHBOARD_NODE_PORT',
    description: 'Port to listen on (0 = any free port)',
    default: 4002,
    parse: parsers.port,
  }),
  host: option({
    flag: 'host',
    env: 'SWITCHBOARD_NODE_HOST',
    description: 'Address to listen on',
    default: '127.0.0.1',
    parse: parsers.string,
  }),
  dataDir: option({
    flag: 'data-dir',
    env: 'SWITCHBOARD_DATA_DIR',
    description: "Folder for the node's SQLite file",
    default: './data',
    parse: parsers.string,
  }),
  centralUrl: option({
    flag: 'central-url',
    env: 'SWITCHBOARD_CENTRAL_URL',
    description:
      "Central's base URL; several centrals on one database: comma-separated, failed over in order",
    required: true,
    parse: centralUrlOption,
  }),
  apiKey: option({
    flag: 'api-key',
    env: 'SWITCHBOARD_NODE_API_KEY',
    description: "The node's API key from registerNode (prefer the env var: flags show in ps)",
    required: true,
    parse: parsers.string,
  }),
  publicUrl: option<string | undefined>({
    flag: 'public-url',
    env: 'SWITCHBOARD_NODE_PUBLIC_URL',
    description: 'Base URL others reach this node at (default http://<host>:<port>)',
    parse: parsers.url,
  }),
  maxContentChars: option({
    flag: 'max-message-chars',
    env: 'SWITCHBOARD_MAX_MESSAGE_CHARS',
    description: 'Longest message content in characters',
    default: 4000,
    parse: parsers.positiveInt,
  }),
  maxPageSize: option({
    flag: 'max-page-size',
    env: 'SWITCHBOARD_MAX_PAGE_SIZE',
    description: 'Largest first/last of Room.messages',
    default: 500,
    parse: parsers.positiveInt,
  }),
  membershipCacheMs: option({
    flag: 'membership-cache-ms',
    env: 'SWITCHBOARD_MEMBERSHIP_CACHE_MS',
    description: "How long central's 'is a member' answers are reused",
    default: 5000,
    parse: parsers.positiveInt,
  }),
  membershipStaleMs: option({
    flag: 'membership-stale-ms',
    env: 'SWITCHBOARD_MEMBERSHIP_STALE_MS',
    description:
      "While central is unreachable, how long its last 'is a member' answer still lets a user read and write",
    default: 300_000,
    parse: parsers.positiveInt,
  }),
  syncMembershipRefreshMs: option({
    flag: 'sync-membership-refresh-ms',
    env: 'SWITCHBOARD_SYNC_MEMBERSHIP_REFRESH_MS',
    description:
      'How often the memberships of the rooms this node replicates are fetched again (writers are judged by them while central is unreachable)',
    default: 10_000,
    parse: parsers.positiveInt,
  }),
  centralWaitMs: option({
    flag: 'central-wait-ms',
    env: 'SWITCHBOARD_CENTRAL_WAIT_MS',
    description: 'How long a node that never reached central keeps trying at start',
    default: 30_000,
    parse: parsers.positiveInt,
  }),
  maxClockDriftMs: option({
    flag: 'max-clock-drift-ms',
    env: 'SWITCHBOARD_MAX_CLOCK_DRIFT_MS',
    description:
      "Max offset from central's clock (else writes refused) and of a peer's HLC (else deferred)",
    default: 60_000,
    parse: parsers.positiveInt,
  }),
  maxBodyBytes: sharedOptions.maxBodyBytes,
  maxWsPayloadBytes: sharedOptions.maxWsPayloadBytes,
  wsConnectionInitTimeoutMs: sharedOptions.wsConnectionInitTimeoutMs,
  syncBatchSize: option({
    flag: 'sync-batch-size',
    env: 'SWITCHBOARD_SYNC_BATCH_SIZE',
    description: "Versions per batch asked from a source when central's job does not say",
    default: 1000,
    parse: parsers.positiveInt,
  }),
  syncMaxBatchSize: option({
    flag: 'sync-max-batch-size',
    env: 'SWITCHBOARD_SYNC_MAX_BATCH_SIZE',
    description: "Most versions one batch of this node's change feed serves",
    default: 5000,
    parse: parsers.positiveInt,
  }),
  syncMaxBatchBytes: option({
    flag: 'sync-max-batch-bytes',
    env: 'SWITCHBOARD_SYNC_MAX_BATCH_BYTES',
    description: "Most bytes one batch of this node's change feed serves (at least one version)",
    default: 8_388_608,
    parse: parsers.positiveInt,
  }),
  liveReplication: option({
    flag: 'live-replication',
    env: 'SWITCHBOARD_LIVE_REPLICATION',
    description:
      "Keep a live stream on each peer's change feed (false: changes move only in scheduled and manual sessions)",
    default: true,
    parse: parsers.boolean,
  }),
  syncLiveWindowIdleMs: option({
    flag: 'sync-live-window-idle-ms',
    env: 'SWITCHBOARD_SYNC_LIVE_WINDOW_IDLE_MS',
    description:
      'A live replication window (a CHANGE sync session) closes after this long without a change from its source',
    default: WINDOW_IDLE_MS as number,
    parse: parsers.positiveInt,
  }),
  groupCommitMs: option({
    flag: 'group-commit-ms',
    env: 'SWITCHBOARD_GROUP_COMMIT_MS',
    description:
      'How long a post, edit or delete waits for others to share its transaction and fsync (0 = each commits alone)',
    default: DEFAULT_GROUP_COMMIT_MS,
    parse: (raw: string, name: string): number => {
      const n = Number(raw);
      if (!/^\d+$/.test(raw) || n > 1000)
        throw new ConfigError(`${name} must be an integer 0-1000 (milliseconds), got "${raw}"`);
      return n;
    },
  }),
  clockOffsetMs: option({
    flag: 'clock-offset-ms',
    env: 'SWITCHBOARD_CLOCK_OFFSET_MS',
    description:
      "For testing only: milliseconds added to this node's wall clock (HLCs, timestamps), negative = behind",
    default: 0,
    parse: (raw: string, name: string): number => {
      const n = Number(raw);
      if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(n))
        throw new ConfigError(`${name} must be an integer (milliseconds), got "${raw}"`);
      return n;
    },
  }),
};

const cliOptions = {
  ...nodeOptions,
  help: sharedOptions.help,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  // Before parsing: `--help` must work without the required options.
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(
      helpText(
        'node',
        'Runs a chat node: the messages of its rooms in its own SQLite file.',
        nodeOptions,
      ),
    );
    return;
  }
  const config = parseConfig(cliOptions, argv, env);
  const log = createLogger(`node/${config.name}`);
  const offset = config.clockOffsetMs;
  let node;
  try {
    // Loaded once the flags are read: `--help` and a flag's error do not pay for the server.
    const { startNode } = await import('./server.ts');
    node = await startNode({
      name: config.name,
      dataDir: path.resolve(config.dataDir),
      centralUrl: config.centralUrl,
      apiKey: config.apiKey,
      port: config.port,
      host: config.host,
      maxContentChars: config.maxContentChars,
      maxPageSize: config.maxPageSize,
      membershipCacheMs: config.membershipCacheMs,
      membershipStaleMs: config.membershipStaleMs,
      syncMembershipRefreshMs: config.syncMembershipRefreshMs,
      centralWaitMs: config.centralWaitMs,
      maxClockDriftMs: config.maxClockDriftMs,
      maxBodyBytes: config.maxBodyBytes,
      maxWsPayloadBytes: config.maxWsPayloadBytes,
      wsConnectionInitTimeoutMs: config.wsConnectionInitTimeoutMs,
      syncBatchSize: config.syncBatchSize,
      syncMaxBatchSize: config.syncMaxBatchSize,
      syncMaxBatchBytes: config.syncMaxBatchBytes,
      groupCommitMs: config.groupCommitMs,
      liveReplication: config.liveReplication,
      syncLiveWindowIdleMs: config.syncLiveWindowIdleMs,
      logger: log,
      // Fault tests skew one node's clock; without an offset the node keeps its default clock.
      ...(offset === 0 ? {} : { now: () => Date.now() + offset }),
      ...(config.publicUrl === undefined ? {} : { publicUrl: config.publicUrl }),
    });
  } catch (error) {
    if (error instanceof NodeStartupError) {
      log.error(`cannot start: ${error.message}`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
  // The handler first: whoever waits for the ready line may stop the process at once, and a
  // SIGTERM before the handler would kill it without its clean shutdown.
  stopOnSignals(log, () => node.close());
  log.info(`ready at ${node.url}/graphql`);
}
