// `npm run check:release`: what an operator gets from a packed release. Packs the repository
// (`npm pack`: a full build, the lock file as npm-shrinkwrap.json), unpacks the tarball into a
// temp dir, installs it there with `npm ci --omit=dev` from the npm registry (no TypeScript, tsx or
// esbuild; better-sqlite3 compiles from source, 1-2 min), then starts central, a chat node and a
// gateway from the unpacked copy on free ports and checks that each answers /health, that the
// gateway serves the dashboard and that a login through the gateway works. Too slow for `npm test`:
// .ci/run runs it after. `--keep` leaves the temp dir for a look.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { spawnComponent, type Child } from '../cli/childProcess.ts';
import { graphqlRequest } from '../cli/graphqlRequest.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const READY = /ready at (https?:\/\/\S+)\/graphql/;
/** Generous: three cold starts on a loaded 2-core machine; a hung start still fails. */
const START_TIMEOUT_MS = 120_000;
/** Packages a release must run without. */
const BUILD_TOOLS = ['typescript', 'tsx', 'esbuild', 'vitest', 'react', 'graphiql'];

const execFileAsync = promisify(execFile);

function log(line: string): void {
  process.stderr.write(`[check:release] ${line}\n`);
}

async function timed<T>(what: string, step: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await step();
  log(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return result;
}

async function npm(args: string[], cwd: string): Promise<string> {
  const { stdout } = await execFileAsync('npm', args, {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
    // The release installs the way an operator's shell would: no loader inherited from here.
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  return stdout;
}

function readyUrl(child: Child): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${child.name} was not ready within ${START_TIMEOUT_MS} ms`)),
      START_TIMEOUT_MS,
    );
  });
  return Promise.race([child.waitForLine(READY), timeout])
    .then((match) => match[1] as string)
    .finally(() => clearTimeout(timer));
}

async function expectHealthy(name: string, url: string): Promise<void> {
  const response = await fetch(`${url}/health`);
  const body = (await response.json()) as { status?: string };
  if (response.status !== 200 || body.status !== 'ok') {
    throw new Error(`${name} /health answered ${response.status} ${JSON.stringify(body)}`);
  }
  log(`${name} /health ok`);
}

async function main(): Promise<void> {
  const keep = process.argv.includes('--keep');
  const work = await mkdtemp(path.join(tmpdir(), 'switchboard-release-'));
  const children: Child[] = [];
  try {
    const packed = await timed('npm pack (a full build first)', () =>
      npm(['pack', '--json', '--pack-destination', work], ROOT),
    );
    const [report] = JSON.parse(packed) as [{ filename: string; files: { path: string }[] }];
    if (!report.files.some((f) => f.path === 'npm-shrinkwrap.json')) {
      throw new Error('the tarball has no npm-shrinkwrap.json: `npm ci` needs the lock file');
    }
    await execFileAsync('tar', ['-xzf', path.join(work, report.filename), '-C', work]);
    const release = path.join(work, 'package');
    await timed('npm ci --omit=dev', () =>
      npm(['ci', '--omit=dev', '--no-audit', '--no-fund'], release),
    );
    const present = BUILD_TOOLS.filter((name) =>
      existsSync(path.join(release, 'node_modules', name)),
    );
    if (present.length > 0) throw new Error(`the release installed ${present.join(', ')}`);

    const bin = path.join(release, 'bin', 'switchboard.js');
    const secret = randomBytes(24).toString('base64url');
    const password = randomBytes(12).toString('base64url');
    // NODE_OPTIONS cleared: nothing may load TypeScript into the release's processes.
    const start = (name: string, args: string[], env: Record<string, string>) => {
      const child = spawnComponent(
        name,
        args,
        { NODE_OPTIONS: '', SWITCHBOARD_LOG_LEVEL: 'info', ...env },
        (line) => process.stderr.write(`  ${line}\n`),
        bin,
      );
      children.push(child);
      return child;
    };

    const startedAt = Date.now();
    const centralUrl = await readyUrl(
      start('central', ['central', '--port', '0', '--data-dir', path.join(work, 'central')], {
        SWITCHBOARD_GATEWAY_SECRET: secret,
        SWITCHBOARD_ADMIN_PASSWORD: password,
      }),
    );
    log(`central ready in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
    const { login } = await graphqlRequest<{ login: { token: string } }>(
      centralUrl,
      'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
      { p: password },
      undefined,
      secret,
    );
    const { registerNode } = await graphqlRequest<{ registerNode: { apiKey: string } }>(
      centralUrl,
      'mutation { registerNode(name: "release-node", url: "http://127.0.0.1:1") { apiKey } }',
      {},
      login.token,
      secret,
    );
    const nodeStartedAt = Date.now();
    const nodeUrl = await readyUrl(
      start(
        'node',
        [
          'node',
          '--name',
          'release-node',
          '--port',
          '0',
          '--data-dir',
          path.join(work, 'node'),
          '--central-url',
          centralUrl,
        ],
        { SWITCHBOARD_NODE_API_KEY: registerNode.apiKey },
      ),
    );
    log(`node ready in ${((Date.now() - nodeStartedAt) / 1000).toFixed(1)} s`);
    const gatewayStartedAt = Date.now();
    const gatewayUrl = await readyUrl(
      start('gateway', ['gateway', '--port', '0', '--central-url', centralUrl], {
        SWITCHBOARD_GATEWAY_SECRET: secret,
      }),
    );
    log(`gateway ready in ${((Date.now() - gatewayStartedAt) / 1000).toFixed(1)} s`);

    await expectHealthy('central', centralUrl);
    await expectHealthy('node', nodeUrl);
    await expectHealthy('gateway', gatewayUrl);
    const dashboard = await fetch(`${gatewayUrl}/dashboard`);
    if (dashboard.status !== 200 || !(await dashboard.text()).includes('<script')) {
      throw new Error(`the gateway's /dashboard answered ${dashboard.status}: no web bundle`);
    }
    log('gateway /dashboard ok');
    const viaGateway = await graphqlRequest<{ login: { user: { username: string } } }>(
      gatewayUrl,
      'mutation($p: String!) { login(username: "admin", password: $p) { token user { username } } }',
      { p: password },
    );
    if (viaGateway.login.user.username !== 'admin') throw new Error('login returned another user');
    log('login through the gateway ok');
  } finally {
    // Gateway first, central last, as the demo stops them.
    for (const child of children.reverse()) await child.stop();
    if (keep) log(`kept ${work}`);
    else await rm(work, { recursive: true, force: true });
  }
  log('the packed release runs central, a node and a gateway without TypeScript tooling');
}

try {
  await main();
} catch (error) {
  log(`FAILED: ${(error as Error).message}`);
  process.exit(1);
}
