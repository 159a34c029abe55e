// `npm run bench` (quick pass, meant to stay under 3 minutes) and `npm run bench -- --full` (the sizes the
// benchmark issue asks for). Runs every benchmark in turn; each prints one JSON line per result.
// `npm run bench -- gateway` runs only the benchmarks whose name contains "gateway".
const full = process.argv.includes('--full');
const only = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));

const benchmarks: Record<string, () => Promise<{ run: (o: { full: boolean }) => Promise<void> }>> =
  {
    // Before syncIncremental: the FULL syncs it runs leave the state that one starts from.
    syncThroughput: () => import('./syncThroughput.ts'),
    syncIncremental: () => import('./syncIncremental.ts'),
    replicationLag: () => import('./replicationLag.ts'),
    gatewayOverhead: () => import('./gatewayOverhead.ts'),
    subscriptions: () => import('./subscriptions.ts'),
    footprint: () => import('./footprint.ts'),
  };

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
