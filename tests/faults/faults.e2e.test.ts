// Faults and convergence (issue 10): a short fixed schedule of seeded runs, each a real cluster
// (central, three nodes, gateway) under kill -9, partitions, stalls, delays and clock skew, checked
// after healing and a final FULL sync. More seeds: `npm run test:faults -- --runs N`.
import { describe, expect, it } from 'vitest';
import { runSeed } from './harness.ts';

// Seeds whose schedules kill nodes and central and partition nodes (printed faults show which).
const SEEDS = [1, 7];

describe('faults: acknowledged writes survive crashes, partitions and skew', () => {
  for (const seed of SEEDS) {
    it(`seed ${seed}: no violation, converges after healing`, async () => {
      const result = await runSeed({ seed, ops: 30 });
      process.stdout.write(`${JSON.stringify(result)}\n`);
      // The run exercised something: faults were injected and writes were acknowledged.
      expect(result.faults.length).toBeGreaterThan(1);
      expect(result.acknowledged).toBeGreaterThan(0);
      expect(result.violations).toEqual([]);
      expect(result.convergenceMs).not.toBeNull();
    }, 240_000);
  }
});
