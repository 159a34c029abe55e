// `npm run test:faults -- --runs N [--ops M] [--seed S]`: N seeded fault runs, one JSON line per
// seed and a summary line. SEED= (or --seed) fixes the first seed; otherwise it is random and
// printed, so any run can be repeated.
import { parseArgs } from 'node:util';
import { runSeed } from './harness.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '1' },
    ops: { type: 'string', default: '60' },
    seed: { type: 'string' },
    verbose: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const ops = Number(values.ops);
const first = Number(values.seed ?? process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
process.stderr.write(`first seed ${first}, ${runs} runs of ${ops} ops\n`);

let violations = 0;
const convergence: number[] = [];
for (let i = 0; i < runs; i++) {
  const seed = first + i;
  const result = await runSeed({
    seed,
    ops,
    ...(values.verbose ? { log: (line: string) => process.stderr.write(`  ${line}\n`) } : {}),
  }).catch((error: unknown) => ({
    seed,
    ops,
    acknowledged: 0,
    indeterminate: 0,
    clockSkewRefused: 0,
    faults: [],
    violations: [`harness error: ${(error as Error).message}`],
    convergenceMs: null,
    totalMs: 0,
  }));
  violations += result.violations.length;
  if (result.convergenceMs !== null) convergence.push(result.convergenceMs);
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
convergence.sort((a, b) => a - b);
process.stdout.write(
  `${JSON.stringify({
    summary: true,
    firstSeed: first,
    runs,
    violations,
    convergenceMs: {
      median: convergence[Math.floor(convergence.length / 2)] ?? null,
      max: convergence.at(-1) ?? null,
    },
  })}\n`,
);
process.exitCode = violations > 0 ? 1 : 0;
