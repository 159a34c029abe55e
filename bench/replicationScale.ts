// How replication scales with the number of nodes (issue 15): the replication-lag load
// (replicationLoad.ts) with 3, 6 and 12 nodes on this machine, each size its own cluster of
// processes. The total rate is fixed (200 posts/s, spread over the nodes through their rooms) into
// 36 rooms each stored on 3 nodes (its home and the two after it), so every size replicates the
// same changes per second and only the number of nodes grows. Per size: lag p50/p99, missing at
// the end, and central's CPU time (utime + stime of its process, /proc/<pid>/stat) per 1000
// replicated changes, from the load's start until every message arrived (a replicated change is
// one version arriving at one other node), after the same load for 10 s (quick pass: 2 s) whose
// figures are reported apart as `warmup` (replicationLoad.ts says why); also central's CPU with
// no load (heartbeats and the like, which do grow with the nodes; over 5 s) and the per-change
// figure net of it; and how many times central marked a node OFFLINE during the load (a saturated
// machine's late heartbeats).
// The summary line gives the 12/3 ratio of central's CPU per change (target: flat, <= 1.2).
// `node --import tsx bench/replicationScale.ts [--full] [--seconds=N] [--rate=N] [--sizes=3,6,12]
//  [--warm=N]`
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { DEFAULT_HEARTBEAT_INTERVAL_MS } from '../subgraphs/central/nodeLiveness.ts';
import { Cluster } from '../tests/helpers/cluster.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { centralDataTemplate, numberArg, report, round } from './lib.ts';
import { createLoadRooms, measureLag, warmFigures, warmSecondsArg } from './replicationLoad.ts';

const ROOMS = 36;
const COPIES = 3;

/** CPU time (user + system) a process used so far, in ms. */
function cpuMs(pid: number, ticksPerSecond: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: state is the
  // 3rd field, utime the 14th and stime the 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / ticksPerSecond;
}

function clockTicks(): number {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
}

function sizesArg(): number[] {
  const raw = process.argv.find((arg) => arg.startsWith('--sizes='))?.slice('--sizes='.length);
  if (raw === undefined) return [3, 6, 12];
  const sizes = raw.split(',').map(Number);
  if (!sizes.every((n) => Number.isSafeInteger(n) && n >= COPIES))
    throw new Error(`--sizes must be node counts of at least ${COPIES}, got "${raw}"`);
  return sizes;
}

interface SizeFigures {
  readonly nodes: number;
  readonly perChangeMs: number;
  readonly netPerChangeMs: number;
}

async function measureSize(
  nodeCount: number,
  options: {
    rate: number;
    seconds: number;
    warmSeconds: number;
    idleSeconds: number;
    settleMs: number;
    ticks: number;
  },
): Promise<SizeFigures> {
  const leftovers = new Leftovers();
  try {
    const names = Array.from({ length: nodeCount }, (_, i) => `node-${i + 1}`);
    const cluster = await Cluster.start(leftovers, {
      nodes: names,
      // Production's heartbeat (and so its OFFLINE bound, 3 intervals): 36 processes on 2 cores
      // late by a second or two must not read as nodes going OFFLINE and coming back, each
      // comeback a round of catch-up sessions that the production setting would not see.
      heartbeatIntervalMs: DEFAULT_HEARTBEAT_INTERVAL_MS,
      centralDataFrom: await centralDataTemplate(),
    });
    const rooms = await createLoadRooms(cluster, {
      nodes: names,
      count: ROOMS,
      copies: COPIES,
      prefix: 'scale',
    });
    const central = cluster.central.child.pid ?? 0;
    await new Promise((resolve) => setTimeout(resolve, 2000));
    // Central with its nodes but no load: what it spends per second whatever replicates.
    const idleFrom = cpuMs(central, options.ticks);
    const idleStart = performance.now();
    await new Promise((resolve) => setTimeout(resolve, options.idleSeconds * 1000));
    const idleCpuMsPerS =
      (cpuMs(central, options.ticks) - idleFrom) / ((performance.now() - idleStart) / 1000);

    let loadFrom = 0;
    let loadStart = 0;
    // Central's log from the load's start: a node marked OFFLINE under load (late heartbeats) comes
    // back with a round of catch-up sessions, central work that is saturation, not replication.
    let logFrom = 0;
    let offlineMarks = 0;
    let loadCpuMs = 0;
    let windowS = 0;
    const lag = await measureLag(cluster, rooms, {
      rate: options.rate,
      seconds: options.seconds,
      tag: 'scale',
      settleMs: options.settleMs,
      warmSeconds: options.warmSeconds,
      onLoad: () => {
        loadFrom = cpuMs(central, options.ticks);
        loadStart = performance.now();
        logFrom = cluster.central.lines.length;
        return undefined;
      },
      onSettled: () => {
        loadCpuMs = cpuMs(central, options.ticks) - loadFrom;
        windowS = (performance.now() - loadStart) / 1000;
        offlineMarks = cluster.central.lines
          .slice(logFrom)
          .filter((line) => / OFFLINE \(/.test(line)).length;
      },
    });
    const changes = lag.lags.length;
    const perChangeMs = changes === 0 ? Number.NaN : (loadCpuMs * 1000) / changes;
    const netPerChangeMs =
      changes === 0 ? Number.NaN : ((loadCpuMs - idleCpuMsPerS * windowS) * 1000) / changes;
    report({
      name: 'sync: replication scale',
      parameters: {
        nodes: nodeCount,
        rooms: ROOMS,
        copiesPerRoom: COPIES,
        targetRate: options.rate,
        seconds: options.seconds,
        warmupSeconds: options.warmSeconds,
        postedTo: 'home node directly',
      },
      figures: {
        sent: lag.load.sent,
        accepted: lag.load.posted.size,
        failedPosts: lag.load.failed,
        achievedRate: lag.load.rate,
        replicatedChanges: changes,
        p50Ms: lag.p50Ms,
        p99Ms: lag.p99Ms,
        missingEventsAtEnd: lag.missingEvents,
        missingInFilesAtEnd: lag.missingInFiles,
        centralCpuMs: round(loadCpuMs, 0),
        windowS: round(windowS, 1),
        centralCpuMsPer1000Changes: round(perChangeMs, 1),
        centralIdleCpuMsPerS: round(idleCpuMsPerS, 1),
        centralCpuMsPer1000ChangesNetOfIdle: round(netPerChangeMs, 1),
        nodesMarkedOfflineDuringLoad: offlineMarks,
        warmup: warmFigures(lag.warm),
      },
    });
    return { nodes: nodeCount, perChangeMs, netPerChangeMs };
  } finally {
    await leftovers.dispose();
  }
}

export async function run({ full }: { full: boolean }): Promise<void> {
  const seconds = numberArg('seconds') ?? (full ? 60 : 10);
  const rate = numberArg('rate') ?? 200;
  const ticks = clockTicks();
  const measured: SizeFigures[] = [];
  for (const nodes of sizesArg()) {
    process.stderr.write(`  replication scale: ${nodes} nodes\n`);
    measured.push(
      await measureSize(nodes, {
        rate,
        seconds,
        warmSeconds: warmSecondsArg(full),
        idleSeconds: Math.min(seconds, 5),
        settleMs: 30_000,
        ticks,
      }),
    );
  }
  const smallest = measured[0];
  const largest = measured.at(-1);
  if (!smallest || !largest || measured.length < 2) return;
  const ratio = largest.perChangeMs / smallest.perChangeMs;
  const netRatio = largest.netPerChangeMs / smallest.netPerChangeMs;
  report({
    name: 'sync: replication scale, central CPU per change',
    parameters: { sizes: measured.map((m) => m.nodes), targetRate: rate, seconds },
    figures: {
      [`ratio${largest.nodes}to${smallest.nodes}`]: round(ratio, 2),
      [`ratio${largest.nodes}to${smallest.nodes}NetOfIdle`]: round(netRatio, 2),
      target: 'flat: <= 1.2',
      met: ratio <= 1.2,
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
