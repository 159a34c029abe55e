// Process starts (issue 18): the CPU each role spends from exec to its "ready at" line, and the
// CommonJS modules it has loaded by then. The e2e tests start about a hundred of these processes,
// and a start is mostly module loading. Central runs on PostgreSQL (as in the tests, migrated by a
// first start that is not counted), each node on a fresh data dir (as in the tests), the gateway
// against that central. Every process is started alone, one after the other, so that the roles do
// not compete for the cores while measured.
// `node --import tsx bench/startup.ts [--runs=N]` (after `npm run build`: it runs dist/bundle/).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ADMIN_PASSWORD } from '../tests/helpers/central.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { startPostgresCluster } from '../tests/helpers/postgres.ts';
import { startProcess } from '../tests/helpers/processes.ts';
import { median, numberArg, report, round } from './lib.ts';

// Loaded into each child with --import: when the process first logs its ready line, it logs the
// CPU it has used (every thread, since exec) and the size of the CommonJS module cache. Plain
// JavaScript, since the children run without tsx.
const PROBE = `import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
let done = false;
for (const stream of [process.stdout, process.stderr]) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    const result = write(chunk, ...rest);
    if (!done && /ready at http/.test(String(chunk))) {
      done = true;
      const cpu = process.cpuUsage();
      const modules = Object.keys(cache).length;
      write('STARTUP ' + JSON.stringify({ cpuMs: (cpu.user + cpu.system) / 1000, modules }) + '\\n');
    }
    return result;
  };
}
`;

interface Start {
  readonly cpuMs: number;
  readonly modules: number;
}

const ready = /ready at (http:\/\/[^\s]+)\/graphql/;

export async function run({ full }: { full: boolean }): Promise<void> {
  const runs = numberArg('runs') ?? (full ? 9 : 5);
  const leftovers = new Leftovers();
  try {
    const dir = await leftovers.tempDir('switchboard-bench-startup-');
    const probe = path.join(dir, 'probe.mjs');
    await writeFile(probe, PROBE);
    // startProcess puts these before bin/switchboard.js (see its nodeArgs).
    const nodeArgsBefore = process.env['SWITCHBOARD_TEST_NODE_ARGS'];
    process.env['SWITCHBOARD_TEST_NODE_ARGS'] = `${nodeArgsBefore ?? ''} --import ${probe}`;
    leftovers.defer(() => {
      if (nodeArgsBefore === undefined) delete process.env['SWITCHBOARD_TEST_NODE_ARGS'];
      else process.env['SWITCHBOARD_TEST_NODE_ARGS'] = nodeArgsBefore;
    });
    const postgres = leftovers.add(await startPostgresCluster(), (cluster) => cluster.stop());
    const databaseUrl = await postgres.createDatabase('central');
    const centralEnv = {
      SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
      SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
      APOLLO_TELEMETRY_DISABLED: '1',
    };
    const start = async (
      name: string,
      args: string[],
      env: Record<string, string>,
    ): Promise<{ start: Start; url: string; stop: () => Promise<unknown> }> => {
      const proc = startProcess(leftovers, name, args, env);
      const url = (await proc.waitForLine(ready))[1] as string;
      const line = (await proc.waitForLine(/^STARTUP (.*)$/))[1] as string;
      return { start: JSON.parse(line) as Start, url, stop: () => proc.kill('SIGTERM') };
    };
    const centralArgs = ['central', '--port', '0', '--database-url', databaseUrl];
    // The first start migrates the database and bootstraps the admin: not what the tests pay.
    await (await start('central', centralArgs, centralEnv)).stop();

    const samples: Record<'central' | 'node' | 'gateway', Start[]> = {
      central: [],
      node: [],
      gateway: [],
    };
    for (let i = 0; i < runs; i += 1) {
      const central = await start('central', centralArgs, centralEnv);
      samples.central.push(central.start);
      const token = ok(
        await gql<{ login: { token: string } }>(
          central.url,
          'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
          { p: ADMIN_PASSWORD },
        ),
      ).login.token;
      const { apiKey } = ok(
        await gql<{ registerNode: { apiKey: string } }>(
          central.url,
          'mutation($n: String!) { registerNode(name: $n, url: "http://127.0.0.1:1") { apiKey } }',
          { n: `node-${i}` },
          { token },
        ),
      ).registerNode;
      const node = await start(
        'node',
        [
          ...['node', '--name', `node-${i}`, '--port', '0', '--central-url', central.url],
          ...['--data-dir', await leftovers.tempDir('switchboard-bench-node-')],
        ],
        { SWITCHBOARD_NODE_API_KEY: apiKey, SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET },
      );
      samples.node.push(node.start);
      const gateway = await start(
        'gateway',
        ['gateway', '--port', '0', '--central-url', central.url],
        { SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET, APOLLO_TELEMETRY_DISABLED: '1' },
      );
      samples.gateway.push(gateway.start);
      await Promise.all([gateway.stop(), node.stop()]);
      await central.stop();
      process.stderr.write(
        `startup ${i + 1}/${runs}: ${Object.entries(samples)
          .map(([role, s]) => `${role} ${s.at(-1)?.cpuMs.toFixed(0)} ms`)
          .join(', ')}\n`,
      );
    }
    const figures: Record<string, unknown> = {};
    for (const [role, starts] of Object.entries(samples)) {
      figures[role] = {
        cpuSecondsToReadyMedian: round(median(starts.map((s) => s.cpuMs)) / 1000),
        cpuSecondsToReady: starts.map((s) => round(s.cpuMs / 1000)),
        commonJsModules: median(starts.map((s) => s.modules)),
      };
    }
    report({
      name: 'startup: CPU to ready per role',
      parameters: { runs, central: 'PostgreSQL, migrated', node: 'fresh data dir' },
      figures,
    });
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await run({ full: false });
