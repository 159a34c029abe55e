// `switchboard demo` (= `npm start`): central, three chat nodes and the gateway as separate
// processes on embedded defaults (PGlite, SQLite) in one data dir. The first run registers the
// nodes and seeds users, rooms and messages; later runs reuse everything in the data dir. Once
// up, a process that dies is restarted (cli/supervisor.ts) while the others keep serving.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import {
  ConfigError,
  helpText,
  option,
  parseConfig,
  parsers,
  sharedOptions,
} from '../lib/config.ts';
import { createLogger } from '../lib/log.ts';
import { spawnComponent } from './childProcess.ts';
import { seedDemo, type DemoUser } from './demoSeed.ts';
import { graphqlRequest } from './graphqlRequest.ts';
import { Supervised, type BackoffOptions } from './supervisor.ts';

export const demoOptions = {
  dataDir: option({
    flag: 'data-dir',
    env: 'SWITCHBOARD_DATA_DIR',
    description: 'Where central, the nodes and the demo keep their data',
    default: './data',
    parse: parsers.string,
  }),
  port: option({
    flag: 'port',
    env: 'SWITCHBOARD_GATEWAY_PORT',
    description:
      "The gateway's port; central and the nodes take the next four (0 = any free ports)",
    default: 4000,
    parse: parsers.port,
  }),
  password: option<string | undefined>({
    flag: 'password',
    env: 'SWITCHBOARD_DEMO_PASSWORD',
    description: 'Password of every demo user on the first run (default: generated, printed once)',
    default: undefined,
    parse: (raw: string, name: string) => {
      if (raw.length < 8) throw new ConfigError(`${name} must be at least 8 characters`);
      return raw;
    },
  }),
  restartDelayMs: option({
    flag: 'restart-delay-ms',
    env: 'SWITCHBOARD_DEMO_RESTART_DELAY_MS',
    description:
      'Delay before restarting a component that died (±20%, doubled while it keeps dying)',
    default: 10_000,
    parse: parsers.positiveInt,
  }),
  help: sharedOptions.help,
};

export const NODE_NAMES = ['node-a', 'node-b', 'node-c'] as const;

/** What a second run needs: kept in `<data-dir>/demo.json`, readable only by its owner. */
interface DemoState {
  readonly gatewaySecret: string;
  readonly nodes: Record<string, { readonly apiKey: string }>;
  seeded: boolean;
}

const READY = /ready at (https?:\/\/\S+)\/graphql/;

/**
 * How the demo restarts a component that died. The first restart waits about 10 s (by default:
 * --restart-delay-ms): long enough to watch a killed node go OFFLINE (within 5 s) and its rooms be
 * served by their replicas, which is what README step 5 shows; a component that keeps dying right
 * after start is given up on after 10 + 20 + 40 + 60 + 60 s of tries.
 */
export const RESTARTS: BackoffOptions = {
  initialDelayMs: 10_000,
  maxDelayMs: 60_000,
  stableAfterMs: 30_000,
  maxQuickRestarts: 5,
};

export async function main(argv: string[], env: NodeJS.ProcessEnv): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(
      helpText(
        'demo',
        'Runs a whole cluster (central, three nodes, the gateway) as separate processes.',
        demoOptions,
      ),
    );
    return;
  }
  const config = parseConfig(demoOptions, argv, env);
  const log = createLogger('demo');
  const dataDir = path.resolve(config.dataDir);
  await mkdir(dataDir, { recursive: true });
  const stateFile = path.join(dataDir, 'demo.json');
  let state = await readState(stateFile);
  if (!state && existsSync(path.join(dataDir, 'central-pglite'))) {
    throw new ConfigError(
      `${dataDir} holds a central database that the demo did not create (no demo.json): use an empty --data-dir`,
    );
  }
  const firstRun = !state;
  const port = (offset: number) => (config.port === 0 ? 0 : config.port + offset);
  const supervised: Supervised[] = [];
  const write = (line: string) => process.stderr.write(`${line}\n`);

  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      // Gateway first (no new requests), then nodes (they finish writes), central last. A child
      // waiting for its restart is not started again.
      for (const child of [...supervised].reverse()) await child.stop();
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return;
    log.info(`${signal}: stopping every component`);
    void stopAll().then(() => {
      log.info('stopped');
      process.exit(0);
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // The children have their own process groups: never leave them behind if the demo dies.
  process.on('exit', () => {
    for (const child of supervised) void child.current?.stop(0);
  });
  /**
   * Starts a component under supervision. `firstPort` is the one asked for at first; once the
   * component is up, restarts reuse the port it got, so that its URL (which the others and the
   * user already have) stays valid even with `--port 0`.
   */
  const start = (
    name: string,
    firstPort: number,
    args: (listenOn: number) => string[],
    childEnv: Record<string, string>,
  ) => {
    let listenOn = firstPort;
    const child = new Supervised(
      name,
      () => spawnComponent(name, args(listenOn), childEnv, write),
      READY,
      { ...RESTARTS, initialDelayMs: config.restartDelayMs, log },
    );
    supervised.push(child);
    const ready = child.ready.then((match) => {
      const url = match[1] as string;
      listenOn = Number(new URL(url).port);
      return url;
    });
    return { ready };
  };

  try {
    const gatewaySecret = state?.gatewaySecret ?? randomBytes(24).toString('base64url');
    const password = config.password ?? randomBytes(9).toString('base64url');
    const centralUrl = await start(
      'central',
      port(1),
      (p) => ['central', '--port', String(p), '--data-dir', dataDir],
      {
        SWITCHBOARD_GATEWAY_SECRET: gatewaySecret,
        // Used only when central creates its admin user, i.e. on the first run.
        SWITCHBOARD_ADMIN_PASSWORD: password,
      },
    ).ready;

    if (!state) {
      state = await registerNodes(centralUrl, password, gatewaySecret);
      await saveState(stateFile, state);
    }
    const registered = state;
    // The nodes and the gateway start at once: each start is mostly module loading, and the
    // gateway needs only central, routing to each node once it is ONLINE (waited for below). The
    // gateway is still supervised last, so that Ctrl-C stops it first.
    const nodesReady = Promise.all(
      NODE_NAMES.map(async (name, i) => {
        const apiKey = registered.nodes[name]?.apiKey;
        if (!apiKey) throw new ConfigError(`${stateFile} has no API key for ${name}`);
        // A restarted node reuses its data dir and API key: it comes back as the same node and
        // catches up by sync.
        await start(
          name,
          port(2 + i),
          (p) => [
            'node',
            '--name',
            name,
            '--port',
            String(p),
            '--data-dir',
            dataDir,
            '--central-url',
            centralUrl,
          ],
          { SWITCHBOARD_NODE_API_KEY: apiKey },
        ).ready;
      }),
    );
    const gatewayReady = start(
      'gateway',
      port(0),
      (p) => ['gateway', '--port', String(p), '--central-url', centralUrl],
      { SWITCHBOARD_GATEWAY_SECRET: gatewaySecret },
    ).ready;
    const [, gatewayUrl] = await Promise.all([nodesReady, gatewayReady]);
    await waitUntilRoutable(gatewayUrl, NODE_NAMES.length);

    let users: readonly DemoUser[] | undefined;
    if (!state.seeded) {
      users = await seedDemo(gatewayUrl, password);
      state.seeded = true;
      await saveState(stateFile, state);
    }
    printBanner(gatewayUrl, dataDir, firstRun, password, users);
  } catch (error) {
    await stopAll();
    throw error;
  }
}

async function readState(file: string): Promise<DemoState | undefined> {
  if (!existsSync(file)) return undefined;
  return JSON.parse(await readFile(file, 'utf8')) as DemoState;
}

async function saveState(file: string, state: DemoState): Promise<void> {
  // The node API keys are credentials: owner-only, like an SSH key.
  await writeFile(file, JSON.stringify(state, null, 2), { mode: 0o600 });
}

async function registerNodes(
  centralUrl: string,
  adminPassword: string,
  gatewaySecret: string,
): Promise<DemoState> {
  const { login } = await graphqlRequest<{ login: { token: string } }>(
    centralUrl,
    'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
    { p: adminPassword },
    undefined,
    gatewaySecret,
  );
  const nodes: Record<string, { apiKey: string }> = {};
  for (const name of NODE_NAMES) {
    // The URL is a placeholder: every node reports the URL it listens on with each heartbeat.
    const { registerNode } = await graphqlRequest<{ registerNode: { apiKey: string } }>(
      centralUrl,
      'mutation($n: String!) { registerNode(name: $n, url: "http://127.0.0.1:1") { apiKey } }',
      { n: name },
      login.token,
      gatewaySecret,
    );
    nodes[name] = { apiKey: registerNode.apiKey };
  }
  return { gatewaySecret, nodes, seeded: false };
}

/** The gateway learns the nodes from central's event stream; seeding needs all of them routed. */
async function waitUntilRoutable(gatewayUrl: string, nodeCount: number): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    // The anonymous summary of /ready: routable nodes are counted, never listed.
    const report = (await (await fetch(`${gatewayUrl}/ready`)).json()) as {
      routableNodes?: number;
    };
    if ((report.routableNodes ?? 0) >= nodeCount) return;
    if (Date.now() > deadline) throw new Error('the gateway did not see every node within 60 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function printBanner(
  gatewayUrl: string,
  dataDir: string,
  firstRun: boolean,
  password: string,
  users: readonly DemoUser[] | undefined,
): void {
  const lines = [
    '',
    'Switchboard demo is running. Ctrl-C stops every process.',
    `  GraphQL endpoint + IDE: ${gatewayUrl}/graphql`,
    `  Sync dashboard:         ${gatewayUrl}/dashboard`,
    `  Data:                   ${dataDir}`,
  ];
  if (firstRun && users) {
    lines.push('  Users (shown once; passwords are not stored):');
    lines.push(`    admin / ${password}   (ADMIN)`);
    for (const user of users) lines.push(`    ${user.username} / ${password}`);
  } else {
    lines.push(
      '  Users: admin, alice, bob, carol (passwords were printed on the first run;',
      '         delete the data dir to start over)',
    );
  }
  process.stdout.write(`${lines.join('\n')}\n\n`);
}
