// Posts/s of one node (issue 15, group commit), two ways:
//  (a) through the node's GraphQL over HTTP, as the gateway calls it (a gateway assertion per
//      request), on a real node process with central: 64 concurrent clients, closed loop;
//  (b) directly against the store in this process (no HTTP, no GraphQL): the write path alone,
//      64 concurrent writers.
// Each runs with group commit off (`--group-commit-ms 0`: every post its own transaction and
// fsync) and at the default window, alternating, several repetitions, medians. The node's file is
// on the same disk as the temp dir, with the node's pragmas (WAL, synchronous = FULL).
// `node --import tsx bench/writeThroughput.ts [--full] [--requests=N] [--windows=0,2]`
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { silentLogger } from '../lib/log.ts';
import { openNodeDb } from '../subgraphs/node/db/open.ts';
import { DEFAULT_GROUP_COMMIT_MS, GroupCommit } from '../subgraphs/node/groupCommit.ts';
import { HybridLogicalClock } from '../subgraphs/node/hlc.ts';
import { MessageEvents } from '../subgraphs/node/messageEvents.ts';
import { MessageStore } from '../subgraphs/node/messageStore.ts';
import { Cluster } from '../tests/helpers/cluster.ts';
import { registerTestGateway } from '../tests/helpers/gatewayAssertions.ts';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import {
  centralDataTemplate,
  closedLoop,
  median,
  numberArg,
  post,
  report,
  type LoadFigures,
} from './lib.ts';

const POST = 'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }';
const CONCURRENCY = 64;
const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const SENDER = '0199a6f0-0000-7000-8000-0000000000a1';
const NODE_ID = '0199a6f0-0000-7000-8000-00000000000a';

function windowsArg(): number[] {
  const raw = process.argv.find((arg) => arg.startsWith('--windows='))?.slice('--windows='.length);
  if (raw === undefined) return [0, DEFAULT_GROUP_COMMIT_MS];
  return raw.split(',').map((w) => {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--windows: bad window "${w}"`);
    return n;
  });
}

const summary = (runs: readonly LoadFigures[]) => ({
  postsPerSecond: median(runs.map((r) => r.rps)),
  p50Ms: median(runs.map((r) => r.p50Ms)),
  p99Ms: median(runs.map((r) => r.p99Ms)),
  runs: runs.map((r) => r.rps),
});

/** Runs every window once per repetition, the order turned around on every other one. */
async function alternate(
  windows: readonly number[],
  repetitions: number,
  measure: (windowMs: number) => Promise<LoadFigures>,
): Promise<Map<number, LoadFigures[]>> {
  const runs = new Map<number, LoadFigures[]>(windows.map((w) => [w, []]));
  for (let rep = 0; rep < repetitions; rep++) {
    const order = rep % 2 === 0 ? windows : [...windows].reverse();
    for (const windowMs of order) runs.get(windowMs)?.push(await measure(windowMs));
  }
  return runs;
}

async function overHttp(full: boolean, windows: readonly number[]): Promise<void> {
  const total = numberArg('requests') ?? (full ? 10_000 : 1500);
  const repetitions = full ? 5 : 2;
  const leftovers = new Leftovers();
  const previous = process.env['SWITCHBOARD_GROUP_COMMIT_MS'];
  try {
    const cluster = await Cluster.start(leftovers, {
      nodes: ['node-a'],
      heartbeatIntervalMs: 1000,
      centralDataFrom: await centralDataTemplate(),
    });
    const node = cluster.node('node-a');
    const { createRoom } = ok(
      await gql<{ createRoom: { id: string } }>(
        cluster.centralUrl,
        'mutation($h: ID!) { createRoom(name: "posts", homeNodeId: $h, replicaNodeIds: []) { id } }',
        { h: node.id },
        { token: cluster.adminToken },
      ),
    );
    const gateway = await registerTestGateway(cluster.centralUrl);
    // One assertion reused while it is young, as the gateway does: signing is not what we measure.
    let assertion = { value: '', at: 0 };
    const headers = async () => {
      if (Date.now() - assertion.at > 20_000)
        assertion = {
          value: await gateway.assertionFor(node.id, cluster.adminToken),
          at: Date.now(),
        };
      return { 'x-gateway-assertion': assertion.value };
    };
    let n = 0;
    const once = async () => {
      const url = `${cluster.node('node-a').url}/graphql`;
      await post(url, POST, { r: createRoom.id, c: `post ${n++}` }, await headers());
    };
    const runs = await alternate(windows, repetitions, async (windowMs) => {
      // The window is the node process's option: restart it with this one.
      await cluster.killNode('node-a', 'SIGTERM');
      process.env['SWITCHBOARD_GROUP_COMMIT_MS'] = String(windowMs);
      await cluster.startNode('node-a');
      await closedLoop(once, { concurrency: CONCURRENCY, total: 200 });
      return closedLoop(once, { concurrency: CONCURRENCY, total });
    });
    report({
      name: 'writes: posts/s of one node over HTTP',
      parameters: { concurrency: CONCURRENCY, postsPerRun: total, repetitions, windowsMs: windows },
      figures: Object.fromEntries(
        [...runs].map(([windowMs, figures]) => [`window${windowMs}ms`, summary(figures)]),
      ),
    });
  } finally {
    if (previous === undefined) delete process.env['SWITCHBOARD_GROUP_COMMIT_MS'];
    else process.env['SWITCHBOARD_GROUP_COMMIT_MS'] = previous;
    await leftovers.dispose();
  }
}

async function onStore(full: boolean, windows: readonly number[]): Promise<void> {
  const total = numberArg('requests') ?? (full ? 20_000 : 3000);
  const repetitions = full ? 5 : 3;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-bench-writes-'));
  try {
    const groups = new Map<number, number[]>(windows.map((w) => [w, []]));
    let file = 0;
    const runs = await alternate(windows, repetitions, async (windowMs) => {
      const db = openNodeDb(path.join(dir, `store-${file++}.sqlite`));
      try {
        const store = new MessageStore({
          db: db.db,
          clock: new HybridLogicalClock({ nodeId: NODE_ID }),
          events: new MessageEvents(silentLogger),
        });
        const writes = new GroupCommit({ store, windowMs });
        let n = 0;
        const once = async () => {
          await writes.post({ roomId: ROOM, senderId: SENDER, content: `post ${n++}` });
        };
        await closedLoop(once, { concurrency: CONCURRENCY, total: 200 });
        const before = writes.stats.groups;
        const figures = await closedLoop(once, { concurrency: CONCURRENCY, total });
        groups.get(windowMs)?.push(total / (writes.stats.groups - before));
        writes.close();
        return figures;
      } finally {
        db.close();
      }
    });
    report({
      name: 'writes: posts/s of the store alone',
      parameters: { concurrency: CONCURRENCY, postsPerRun: total, repetitions, windowsMs: windows },
      figures: Object.fromEntries(
        [...runs].map(([windowMs, figures]) => [
          `window${windowMs}ms`,
          { ...summary(figures), postsPerCommit: median(groups.get(windowMs) ?? []) },
        ]),
      ),
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ full }: { full: boolean }): Promise<void> {
  const windows = windowsArg();
  const only = process.argv.find((arg) => arg === 'http' || arg === 'store');
  if (only !== 'store') await overHttp(full, windows);
  if (only !== 'http') await onStore(full, windows);
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
