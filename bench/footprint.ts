// Footprint (issue 9, item 6): resident memory (VmRSS from /proc/<pid>/status) of each process of
// a demo-sized cluster (central on embedded PGlite, 3 chat nodes, the gateway), idle and under the
// load of the replication-lag benchmark (500 messages/s posted to the rooms' home nodes, synced
// to the other two nodes, every node subscribed to by the benchmark). The readings are taken
// during that benchmark's run (replicationLag.ts samples every process): if it ran earlier in
// this process with the same sizes, they are reported from there; otherwise it is run first
// (and prints its own line too). `bin/switchboard.js` runs each server in one process, no
// children, so a process's own RSS is the whole of it.
// `node --import tsx bench/footprint.ts [--full] [--seconds=N]`
import { median, perProcess, report, round, type RssSample } from './lib.ts';
import * as replicationLag from './replicationLag.ts';

export async function run({ full }: { full: boolean }): Promise<void> {
  if (replicationLag.lastFootprint?.full !== full) await replicationLag.run({ full });
  const sampled = replicationLag.lastFootprint;
  if (!sampled) throw new Error('the replication-lag run sampled no RSS');
  const total = (values: RssSample) =>
    round(
      Object.values(values).reduce((a, b) => a + b, 0),
      0,
    );
  const peak = perProcess(sampled.loaded, (values) => Math.max(...values));
  report({
    name: 'footprint: RSS per process (MiB)',
    parameters: {
      processes: Object.keys(sampled.idle),
      load: `replication lag: ${sampled.rate} messages/s for ${sampled.seconds} s`,
      samplesUnderLoad: sampled.loaded.length,
    },
    figures: {
      idleBeforeLoad: sampled.idle,
      underLoadMedian: perProcess(sampled.loaded, median),
      underLoadPeak: peak,
      idleAfterLoad: sampled.idleAfter,
      totalIdleBeforeLoad: total(sampled.idle),
      totalPeak: total(peak),
      totalIdleAfterLoad: total(sampled.idleAfter),
      target: 'reported',
    },
  });
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
