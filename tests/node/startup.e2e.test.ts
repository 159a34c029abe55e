// Starting and stopping a node: its link to central at start, the `switchboard node` command, and
// a clean stop on SIGTERM.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import { NodeStartupError } from '../../subgraphs/node/heartbeat.ts';
import { databaseFile, startNode, type NodeOptions } from '../../subgraphs/node/server.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { registerTestGateway } from '../helpers/gatewayAssertions.ts';
import { ok, gql } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const bin = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));

let central: TestCentral;
beforeAll(async () => {
  central = await startTestCentral(leftovers);
});

async function options(
  name: string,
  apiKey: string,
  extra: Partial<NodeOptions> = {},
): Promise<NodeOptions> {
  return {
    name,
    dataDir: await leftovers.tempDir('switchboard-node-'),
    centralUrl: central.url,
    apiKey,
    logger: silentLogger,
    ...extra,
  };
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, 'close');
  return port;
}

async function startError(opts: NodeOptions): Promise<unknown> {
  try {
    const node = await startNode(opts);
    await node.close();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe('reaching central at start', () => {
  it('refuses to start with a key central does not know', async () => {
    const error = await startError(await options('node-x', 'sbk_not-a-real-key'));
    expect(error).toBeInstanceOf(NodeStartupError);
    expect((error as Error).message).toMatch(/refused this node's API key/);
  });

  it('refuses to start, after trying for the configured time, when it never reached central', async () => {
    const { apiKey } = await central.registerNode('node-never');
    const port = await closedPort();
    const error = await startError(
      await options('node-never', apiKey, {
        centralUrl: `http://127.0.0.1:${port}`,
        centralWaitMs: 300,
      }),
    );
    expect(error).toBeInstanceOf(NodeStartupError);
    expect((error as Error).message).toMatch(/unreachable.*gave up after 300 ms/);
    expect((error as Error).message).not.toMatch(/\n/);
  });

  it("keeps its id in its data dir: restarts while central is down, refuses another node's key", async () => {
    const first = await central.registerNode('node-b');
    const other = await central.registerNode('node-c');
    const opts = await options('node-b', first.apiKey);
    const node = await startNode(opts);
    expect(node.nodeId).toBe(first.id);
    await node.close();

    const stored = new Database(databaseFile(opts.dataDir, 'node-b'), { readonly: true });
    expect(stored.prepare("SELECT value FROM meta WHERE key = 'node_id'").pluck().get()).toBe(
      first.id,
    );
    stored.close();

    const wrongKey = await startError({ ...opts, apiKey: other.apiKey });
    expect(wrongKey).toBeInstanceOf(NodeStartupError);
    expect((wrongKey as Error).message).toMatch(
      new RegExp(`belongs to node ${first.id}.*${other.id}`),
    );

    const port = await closedPort();
    const offline = await startNode({
      ...opts,
      centralUrl: `http://127.0.0.1:${port}`,
      centralWaitMs: 1,
    });
    leftovers.defer(() => offline.close());
    expect(offline.nodeId).toBe(first.id);
    // It serves, but takes no write before its clock is measured against central's.
    const ready = await fetch(`${offline.url}/ready`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: 'clock not measured',
      nodeId: first.id,
      clock: { offsetMs: null, withinBound: false },
    });
  });
});

describe('switchboard node', () => {
  function run(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
    const child = spawn(process.execPath, [bin, 'node', ...args], {
      env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'info', ...env },
    });
    leftovers.defer(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    return child;
  }

  async function finished(
    child: ChildProcessWithoutNullStreams,
  ): Promise<{ code: number | null; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  }

  it('prints its options with --help', async () => {
    const { code, stdout } = await finished(run(['--help']));
    expect(code).toBe(0);
    for (const flag of [
      '--name',
      '--port',
      '--data-dir',
      '--central-url',
      '--api-key',
      '--public-url',
      'SWITCHBOARD_NODE_NAME',
    ]) {
      expect(stdout).toContain(flag);
    }
  });

  it('fails with one line when a required option is missing', async () => {
    const { code, stderr } = await finished(
      run(['--port', '0'], { SWITCHBOARD_NODE_NAME: '', SWITCHBOARD_CENTRAL_URL: '' }),
    );
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('switchboard node: missing --name (or SWITCHBOARD_NODE_NAME)');
  });

  it('serves from env configuration and stops cleanly on SIGTERM, its writes kept', async () => {
    const { apiKey } = await central.registerNode('node-cli');
    const dataDir = await leftovers.tempDir('switchboard-node-cli-');
    const child = run(['--port', '0'], {
      SWITCHBOARD_NODE_NAME: 'node-cli',
      SWITCHBOARD_DATA_DIR: dataDir,
      SWITCHBOARD_CENTRAL_URL: central.url,
      SWITCHBOARD_NODE_API_KEY: apiKey,
      SWITCHBOARD_MAX_WS_PAYLOAD_BYTES: '2048',
    });
    const done = finished(child);
    const url = await new Promise<string>((resolve, reject) => {
      let seen = '';
      child.stderr.on('data', (chunk: Buffer) => {
        seen += chunk.toString();
        const match = /ready at (http:\/\/\S+)\/graphql/.exec(seen);
        if (match?.[1]) resolve(match[1]);
      });
      child.once('exit', () => reject(new Error(`node exited before it was ready:\n${seen}`)));
    });

    const user = await central.createUser('cli-user');
    const nodeId = ((await (await fetch(`${url}/ready`)).json()) as { nodeId: string }).nodeId;
    const room = ok(
      await gql<{ createRoom: { id: string } }>(
        central.url,
        'mutation($h: ID) { createRoom(name: "cli", homeNodeId: $h) { id } }',
        { h: nodeId },
        { token: user.token },
      ),
    ).createRoom.id;
    const posted = ok(
      await (
        await registerTestGateway(central.url)
      ).gql<{ postMessage: { id: string } }>(
        { url, nodeId },
        'mutation($r: ID!) { postMessage(roomId: $r, content: "kept") { id } }',
        { r: room },
        { token: user.token },
      ),
    ).postMessage;

    // The WebSocket limit from the environment is the node's: a bigger frame closes with 1009.
    const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/graphql`, 'graphql-transport-ws');
    await once(socket, 'open');
    socket.send(JSON.stringify({ type: 'connection_init', payload: { pad: 'x'.repeat(4096) } }));
    const [closeCode] = (await once(socket, 'close')) as [number];
    expect(closeCode).toBe(1009);

    child.kill('SIGTERM');
    const { code, stderr } = await done;
    expect(code).toBe(0);
    expect(stderr).toMatch(/SIGTERM: shutting down/);
    expect(stderr).toMatch(/stopped/);

    const db = new Database(path.join(dataDir, 'node-cli.sqlite'), { readonly: true });
    expect(db.prepare('SELECT content FROM messages WHERE id = ?').pluck().get(posted.id)).toBe(
      'kept',
    );
    expect(db.prepare('SELECT count(*) FROM change_log').pluck().get()).toBe(1);
    db.close();
  });
});
