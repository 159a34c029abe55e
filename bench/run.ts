// `npm run bench` (quick pass, meant to stay under 3 minutes) and `npm run bench -- --full` (the sizes the
// benchmark issue asks for). Runs every benchmark in turn; each prints one JSON line per result.
// `npm run bench -- gateway` runs only the benchmarks whose name contains "gateway".
import { killRunning } from '../tests/helpers/processes.ts';

const full = process.argv.includes('--full');
const only = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));

const benchmarks: Record<string, () => Promise<{ run: (o: { full: boolean }) => Promise<void> }>> =
  {
    // Before syncIncremental: the FULL syncs it runs leave the state that one starts from.
    syncThroughput: () => import('./syncThroughput.ts'),
    syncIncremental: () => import('./syncIncremental.ts'),
    replicationLag: () => import('./replicationLag.ts'),
    writeThroughput: () => import('./writeThroughput.ts'),
    replicationScale: () => import('./replicationScale.ts'),
    gatewayOverhead: () => import('./gatewayOverhead.ts'),
    subscriptions: () => import('./subscriptions.ts'),
    footprint: () => import('./footprint.ts'),
    hedgedReads: () => import('./hedgedReads.ts'),
    search: () => import('./search.ts'),
    scaleOut: () => import('./scaleOut.ts'),
    startup: () => import('./startup.ts'),
  };

// Stopped by a signal, the benchmarks' own clean-up never runs: kill what they started, then
// exit, which removes their temp dirs and stops the PostgreSQL server (both on 'exit').
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    const killed = killRunning('SIGKILL');
    process.stderr.write(`bench: ${signal}: killed the ${killed} processes it had started\n`);
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
}

const started = performance.now();
const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);
for (const [name, load] of Object.entries(benchmarks)) {
  if (only.length > 0 && !only.some((o) => name.toLowerCase().includes(o.toLowerCase()))) continue;
  process.stderr.write(`bench: ${name}${full ? ' (full)' : ''}\n`);
  const t0 = performance.now();
  await (await load()).run({ full });
  process.stderr.write(`bench: ${name} took ${seconds(t0)} s\n`);
}
process.stderr.write(`bench: all took ${seconds(started)} s\n`);
