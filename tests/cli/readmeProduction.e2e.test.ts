// The README's production deployment, run as written: the commands of its shell block start
// central on a real PostgreSQL (DATABASE_URL), a node with the API key registerNode returned, and a
// gateway; the test only swaps in what differs on a test machine (ports, host names, paths, the
// database URL, the key). If the README's commands stop working, this fails.
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
  it('has the three commands: central on PostgreSQL, a node, a gateway', () => {
    expect(commands.map((c) => /(?:^|\s)switchboard (\w+)/.exec(c)?.[1])).toEqual([
      'central',
      'node',
      'gateway',
    ]);
  });

  it('runs as written: one endpoint serves a room on the node, state kept in PostgreSQL', async () => {
    const ports = { central: await freePort(), node: await freePort(), gateway: await freePort() };
    const local = (line: string) =>
      line
        .replaceAll('postgres://switchboard@db/switchboard', databaseUrl)
        .replaceAll('http://central:4001', `http://127.0.0.1:${ports.central}`)
        .replaceAll('http://node-a:4002', `http://127.0.0.1:${ports.node}`)
        .replaceAll('--port 4001', `--port ${ports.central}`)
        .replaceAll('--port 4002', `--port ${ports.node}`)
        .replaceAll('--port 4000', `--port ${ports.gateway}`)
        .replaceAll('/var/lib/switchboard', workDir);
    const [centralLine, nodeLine, gatewayLine] = commands.map(local) as [string, string, string];
    const env = { SECRET, SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD };

    const central = runLine(centralLine, env, workDir);
    await ready(central);
    const centralUrl = `http://127.0.0.1:${ports.central}`;
    const adminToken = ok(
      await gql<{ login: { token: string } }>(
        centralUrl,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: ADMIN_PASSWORD },
        { gatewaySecret: SECRET },
      ),
    ).login.token;
    // The README's comment step: registerNode as admin returns the node's key.
    const { apiKey, node } = ok(
      await gql<{ registerNode: { apiKey: string; node: { id: string } } }>(
        centralUrl,
        'mutation($u: String!) { registerNode(name: "node-a", url: $u) { apiKey node { id } } }',
        { u: `http://127.0.0.1:${ports.node}` },
        { token: adminToken, gatewaySecret: SECRET },
      ),
    ).registerNode;
    expect(nodeLine).toContain('sbk_...');
    const nodeProc = runLine(nodeLine.replace('sbk_...', apiKey), env, workDir);
    await ready(nodeProc);
    const gateway = runLine(gatewayLine, env, workDir);
    await ready(gateway);
    const gatewayUrl = `http://127.0.0.1:${ports.gateway}`;
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${gatewayUrl}/ready`)).json()) as { routableNodes: number })
            .routableNodes,
        { timeout: 30_000, message: 'the gateway never routed to node-a' },
      )
      .toBe(1);

    const room = ok(
      await gql<{ createRoom: { id: string } }>(
        gatewayUrl,
        'mutation($h: ID) { createRoom(name: "prod", homeNodeId: $h) { id } }',
        { h: node.id },
        { token: adminToken, gatewaySecret: null },
      ),
    ).createRoom.id;
    ok(
      await gql(
        gatewayUrl,
        'mutation($r: ID!) { postMessage(roomId: $r, content: "deployed") { id } }',
        { r: room },
        { token: adminToken, gatewaySecret: null },
      ),
    );
    const read = ok(
      await gql<{ room: { name: string; messages: { edges: Array<{ node: any }> } } }>(
        gatewayUrl,
        'query($r: ID!) { room(id: $r) { name messages { edges { node { content sender { displayName } } } } } }',
        { r: room },
        { token: adminToken, gatewaySecret: null },
      ),
    );
    expect(read.room.messages.edges.map((e) => e.node)).toEqual([
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

    // "Every process stops cleanly on SIGTERM."
    for (const started of [gateway, nodeProc, central]) {
      started.child.kill('SIGTERM');
      expect(await started.exited, started.output()).toBe(0);
    }
  });
});
