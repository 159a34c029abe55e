// The README's production deployment, run as written: the commands of its shell block start two
// centrals on one real PostgreSQL database (DATABASE_URL), a node naming both with the API key
// registerNode returned, and two gateways naming both; the test only swaps in what differs on a
// test machine (ports, host names, paths, the database URL, the key). If the README's commands
// stop working, this fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';

const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));
const ADMIN_PASSWORD = 'readme-admin-password';
const SECRET = 'readme-gateway-secret-0123456789';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

/** The production shell block: one entry per command (continuations joined), comments dropped. */
function readmeCommands(): string[] {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const section = readme.slice(readme.indexOf('## Production deployment'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error('README.md lost its production deployment commands');
  return block
    .replace(/\\\n\s*/g, '')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

interface Started {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
}

/** Runs one README line in bash, `switchboard` being this checkout's bin. */
function runLine(line: string, env: Record<string, string>, cwd: string): Started {
  // `exec` so that the signal the test sends reaches switchboard itself, not a waiting bash.
  const command = line.replace(/(^|\s)switchboard\s/, `$1exec ${process.execPath} ${BIN} `);
  const child = spawn('bash', ['-c', command], {
    cwd,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  leftovers.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return { child, output: () => output, exited };
}

async function ready(started: Started): Promise<void> {
  // A process that exited will never be ready: stop waiting at once and show what it said.
  const state = () =>
    /ready at http/.test(started.output())
      ? 'ready'
      : started.child.exitCode !== null
        ? 'exited'
        : 'starting';
  await expect.poll(state, { timeout: 60_000, message: started.output() }).not.toBe('starting');
  expect(state(), started.output()).toBe('ready');
}

let commands: string[];
let databaseUrl: string;
let workDir: string;

beforeAll(async () => {
  commands = readmeCommands();
  const postgres = await startPostgres();
  leftovers.defer(() => postgres.stop());
  databaseUrl = await postgres.createDatabase('switchboard_readme');
  workDir = await leftovers.tempDir('switchboard-readme-prod-');
});

describe("README's production deployment", () => {
  it('has the commands of two centrals on PostgreSQL, a node and two gateways', () => {
    expect(commands.map((c) => /(?:^|\s)switchboard (\w+)/.exec(c)?.[1])).toEqual([
      'central',
      'central',
      'node',
      'gateway',
      'gateway',
    ]);
    // The node and the gateways name both centrals.
    for (const line of commands.filter((c) => !/switchboard central/.test(c)))
      expect(line).toContain('--central-url http://central-1:4001,http://central-2:4001');
  });

  it('runs as written: both gateways serve a room on the node, through either central', async () => {
    const ports = {
      centrals: [await freePort(), await freePort()],
      node: await freePort(),
      gateways: [await freePort(), await freePort()],
    };
    const centralUrls = ports.centrals.map((port) => `http://127.0.0.1:${port}`);
    const gatewayUrls = ports.gateways.map((port) => `http://127.0.0.1:${port}`);
    /** The README's line as run on this machine; `k`: which of the identical lines it is. */
    const local = (line: string, k: number) =>
      line
        .replaceAll('postgres://switchboard@db/switchboard', databaseUrl)
        .replaceAll('http://central-1:4001', centralUrls[0] as string)
        .replaceAll('http://central-2:4001', centralUrls[1] as string)
        .replaceAll('http://node-a:4002', `http://127.0.0.1:${ports.node}`)
        .replaceAll('--port 4001', `--port ${ports.centrals[k]}`)
        .replaceAll('--port 4002', `--port ${ports.node}`)
        .replaceAll('--port 4000', `--port ${ports.gateways[k]}`)
        .replaceAll('/var/lib/switchboard', workDir);
    const of = (command: string) =>
      commands.filter((c) => c.includes(`switchboard ${command} `)).map(local);
    const env = { SECRET, SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD };

    // The first central migrates the database and creates the admin; the second finds both.
    const centrals: Started[] = [];
    for (const line of of('central')) {
      const central = runLine(line, env, workDir);
      await ready(central);
      centrals.push(central);
    }
    const adminToken = ok(
      await gql<{ login: { token: string } }>(
        centralUrls[1] as string,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: ADMIN_PASSWORD },
        { gatewaySecret: SECRET },
      ),
    ).login.token;
    // The README's comment step: registerNode as admin returns the node's key.
    const { apiKey, node } = ok(
      await gql<{ registerNode: { apiKey: string; node: { id: string } } }>(
        centralUrls[0] as string,
        'mutation($u: String!) { registerNode(name: "node-a", url: $u) { apiKey node { id } } }',
        { u: `http://127.0.0.1:${ports.node}` },
        { token: adminToken, gatewaySecret: SECRET },
      ),
    ).registerNode;
    const [nodeLine] = of('node') as [string];
    expect(nodeLine).toContain('sbk_...');
    const nodeProc = runLine(nodeLine.replace('sbk_...', apiKey), env, workDir);
    await ready(nodeProc);
    const gateways = of('gateway').map((line) => runLine(line, env, workDir));
    for (const gateway of gateways) await ready(gateway);
    for (const gatewayUrl of gatewayUrls)
      await expect
        .poll(
          async () =>
            ((await (await fetch(`${gatewayUrl}/ready`)).json()) as { routableNodes: number })
              .routableNodes,
          { timeout: 30_000, message: `${gatewayUrl} never routed to node-a` },
        )
        .toBe(1);

    const [first, second] = gatewayUrls as [string, string];
    const room = ok(
      await gql<{ createRoom: { id: string } }>(
        first,
        'mutation($h: ID) { createRoom(name: "prod", homeNodeId: $h) { id } }',
        { h: node.id },
        { token: adminToken, gatewaySecret: null },
      ),
    ).createRoom.id;
    const postOn = (gatewayUrl: string, content: string) =>
      gql(
        gatewayUrl,
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        { r: room, c: content },
        { token: adminToken, gatewaySecret: null },
      );
    const readOn = async (gatewayUrl: string) =>
      ok(
        await gql<{ room: { messages: { edges: Array<{ node: { content: string } }> } } }>(
          gatewayUrl,
          'query($r: ID!) { room(id: $r) { name messages { edges { node { content sender { displayName } } } } } }',
          { r: room },
          { token: adminToken, gatewaySecret: null },
        ),
      ).room.messages.edges.map((e) => e.node);
    ok(await postOn(first, 'deployed'));
    expect(await readOn(second)).toEqual([
      { content: 'deployed', sender: { displayName: 'Administrator' } },
    ]);

    // Central's state is in the PostgreSQL database of DATABASE_URL.
    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ name: string }>('SELECT name FROM rooms');
      expect(rows.map((r) => r.name)).toEqual(['prod']);
    } finally {
      await client.end();
    }

    // With central-1 gone, the gateway and the node that name it first go on with central-2.
    const [central1, central2] = centrals as [Started, Started];
    central1.child.kill('SIGTERM');
    expect(await central1.exited, central1.output()).toBe(0);
    await expect
      .poll(async () => (await postOn(first, 'after central-1 stopped')).errors ?? [], {
        timeout: 30_000,
      })
      .toEqual([]);
    expect((await readOn(second)).map((m) => m.content)).toContain('after central-1 stopped');

    // "Every process stops cleanly on SIGTERM."
    for (const started of [...gateways, nodeProc, central2]) {
      started.child.kill('SIGTERM');
      expect(await started.exited, started.output()).toBe(0);
    }
  });
});
