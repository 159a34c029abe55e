// Replication lag (issue 9, item 3): central, 3 nodes and the gateway as real processes; 30 rooms
// stored on every node, their home nodes spread over the three. Posts go at a steady rate
// (500 messages/s) straight to each room's home node for 60 s (quick pass: 5 s), and each arrival
// at every other node is timed (the load and how it is timed: replicationLoad.ts), after the same
// load for 10 s (quick pass: 2 s) whose figures are reported apart as `warmup`.
// `node --import tsx bench/replicationLag.ts [--full] [--seconds=N] [--rate=N] [--warm=N]`
import { Cluster } from '../tests/helpers/cluster.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import {
  centralDataTemplate,
  median,
  numberArg,
  percentile,
  perProcess,
  report,
  sampleRss,
  type RssSample,
} from './lib.ts';
import { createLoadRooms, measureLag, warmFigures, warmSecondsArg } from './replicationLoad.ts';

export const NODES = ['node-a', 'node-b', 'node-c'] as const;
const ROOMS = 30;

/** RSS of every process of the cluster, sampled during the last run: footprint.ts reports it. */
export interface LagFootprint {
  readonly full: boolean;
  readonly rate: number;
  readonly seconds: number;
  /** Before the load (after start-up and a 2 s settle), per process, median of 5 readings. */
  readonly idle: RssSample;
  /** Every 500 ms while the load ran. */
  readonly loaded: readonly RssSample[];
  /** Once everything arrived and 2 s passed, median of 5 readings. */
  readonly idleAfter: RssSample;
}
export let lastFootprint: LagFootprint | undefined;

export async function run({ full }: { full: boolean }): Promise<void> {
  const seconds = numberArg('seconds') ?? (full ? 60 : 5);
  const rate = numberArg('rate') ?? 500;
  // The same load first, measured apart (replicationLoad.ts says why).
  const warmSeconds = warmSecondsArg(full);
  const settleMs = 30_000;
  const leftovers = new Leftovers();
  const tag = 'lag';
  try {
    const cluster = await Cluster.start(leftovers, {
      nodes: [...NODES],
      heartbeatIntervalMs: 1000,
      centralDataFrom: await centralDataTemplate(),
    });
    const rooms = await createLoadRooms(cluster, { nodes: NODES, count: ROOMS });
    const pids: Record<string, number> = {
      central: cluster.central.child.pid ?? 0,
      ...Object.fromEntries(NODES.map((n) => [n, cluster.node(n).proc.child.pid ?? 0])),
      gateway: cluster.gateway.child.pid ?? 0,
    };
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const idle = perProcess(await sampleRss(pids, { everyMs: 200, count: 5 }), median);
    let loaded: RssSample[] = [];
    let idleAfter: RssSample = {};
    const lag = await measureLag(cluster, rooms, {
      rate,
      seconds,
      tag,
      settleMs,
      warmSeconds,
      onLoad: async (loading) => {
        loaded = await sampleRss(pids, { everyMs: 500, until: loading });
      },
      onSettled: async () => {
        await new Promise((resolve) => setTimeout(resolve, 2000));
        idleAfter = perProcess(await sampleRss(pids, { everyMs: 200, count: 5 }), median);
      },
    });
    lastFootprint = { full, rate, seconds, idle, loaded, idleAfter };
    const { load, lags, floor, p50Ms: p50, p99Ms: p99, missingEvents } = lag;
    const missingFiles = lag.missingInFiles;
    report({
      name: 'sync: replication lag',
      parameters: {
        nodes: NODES.length,
        rooms: ROOMS,
        targetRate: rate,
        seconds,
        warmupSeconds: warmSeconds,
        postedTo: 'home node directly',
      },
      figures: {
        sent: load.sent,
        accepted: load.posted.size,
        failedPosts: load.failed,
        achievedRate: load.rate,
        deliveries: lags.length,
        p50Ms: p50,
        p99Ms: p99,
        maxMs: lags.at(-1) ?? null,
        originEventP50Ms: percentile(floor, 50),
        missingEventsAtEnd: missingEvents,
        missingInFilesAtEnd: missingFiles,
        warmup: warmFigures(lag.warm),
        target: 'p50 < 50 ms, p99 < 250 ms, nothing missing, no post failed',
        met:
          p50 < 50 && p99 < 250 && missingEvents === 0 && missingFiles === 0 && load.failed === 0,
      },
    });
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
