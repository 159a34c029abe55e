// Hive Gateway (`@graphql-hive/gateway`, The Guild's federation gateway) as a real process in front
// of the same subgraphs: central and ONE chat node (Hive cannot route one subgraph to N nodes, so
// it is compared on queries one node can answer). The supergraph is composed here like ours
// (lib/supergraph.ts: @apollo/composition over schema/central.graphql and schema/node.graphql),
// with the messages subgraph's URL pointing at that node. Hive forwards the client's
// Authorization header to central with the gateway secret, and to the node only a gateway
// assertion the client sends along (nodes take nothing else), through `propagateHeaders`.
// Everything it needs is installed: nothing is downloaded at run time.
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { readFileSync } from 'node:fs';
import { TEST_GATEWAY_SECRET } from '../tests/helpers/graphql.ts';
import type { Leftovers } from '../tests/helpers/leftovers.ts';
import { track } from '../tests/helpers/processes.ts';

const HIVE_BIN = fileURLToPath(
  new URL('../node_modules/@graphql-hive/gateway/dist/bin.js', import.meta.url),
);
const schemaFile = (name: string) =>
  readFileSync(new URL(`../schema/${name}`, import.meta.url), 'utf8');

/** central + messages, the messages subgraph at one node's URL. */
export function composeForOneNode(centralUrl: string, nodeUrl: string): string {
  const result = composeServices([
    {
      name: 'central',
      url: `${centralUrl}/graphql`,
      typeDefs: parse(schemaFile('central.graphql')),
    },
    { name: 'messages', url: `${nodeUrl}/graphql`, typeDefs: parse(schemaFile('node.graphql')) },
  ]);
  if (result.errors || !result.supergraphSdl)
    throw new Error(
      `composition failed: ${(result.errors ?? []).map((e) => e.message).join('; ')}`,
    );
  return result.supergraphSdl;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface HiveGateway {
  readonly url: string;
  readonly pid: number;
}

/** Starts `hive-gateway supergraph <file>` on a free port; stopped with `leftovers`. */
export async function startHiveGateway(
  leftovers: Leftovers,
  centralUrl: string,
  nodeUrl: string,
): Promise<HiveGateway> {
  const dir = await leftovers.tempDir('switchboard-bench-hive-');
  const supergraph = path.join(dir, 'supergraph.graphql');
  await writeFile(supergraph, composeForOneNode(centralUrl, nodeUrl));
  const config = path.join(dir, 'gateway.config.mjs');
  await writeFile(
    config,
    `export const gatewayConfig = {
  propagateHeaders: {
    fromClientToSubgraphs({ request, subgraphName }) {
      // Central: the user's token and the gateway secret; the node: only the gateway assertion
      // the benchmark client minted (cached 30 s, as our gateway does), never either of those.
      return subgraphName === 'messages'
        ? { 'x-gateway-assertion': request.headers.get('x-gateway-assertion') ?? '' }
        : {
            authorization: request.headers.get('authorization') ?? '',
            'x-gateway-secret': ${JSON.stringify(TEST_GATEWAY_SECRET)},
          };
    },
  },
};
`,
  );
  const port = await freePort();
  const child = track(
    spawn(
      process.execPath,
      [
        HIVE_BIN,
        'supergraph',
        supergraph,
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '--config-path',
        config,
      ],
      {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, NODE_ENV: 'production' },
      },
    ),
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  leftovers.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });
  let log = '';
  child.stdout.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`hive-gateway exited: ${log}`);
    try {
      const response = await fetch(`${url}/healthcheck`);
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`hive-gateway never became healthy: ${log}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (process.env['SWITCHBOARD_TEST_LOG']) process.stderr.write(log);
  return { url, pid: child.pid ?? 0 };
}
