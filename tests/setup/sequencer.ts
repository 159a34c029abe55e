// The order vitest hands files to its two workers: longest first, across projects. vitest's own
// order runs one project's files before the next's ("e2e" before "unit", by name), so a run ended
// with either the long cluster files or a tail of unit files on one worker beside an idle one.
// Longest first keeps both workers busy to the end (the classic greedy schedule for a makespan).
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/** A file never run before (no cached duration) counts as this long: first, with the e2e files. */
const UNKNOWN_MS = 60_000;

export class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    // BaseSequencer's order first (failed files first, then longest, within a project), so that
    // ties and files without a duration keep it.
    const base = await super.sort(files);
    const root = this.ctx.config.root;
    const durationOf = (spec: TestSpecification): number => {
      const key = `${spec.project.name}:${path.relative(root, spec.moduleId)}`;
      const cached = this.ctx.cache.getFileTestResults(key);
      if (cached?.failed === true) return Number.POSITIVE_INFINITY;
      return cached?.duration ?? UNKNOWN_MS;
    };
    const durations = new Map(base.map((spec) => [spec, durationOf(spec)]));
    return base
      .map((spec, index) => ({ spec, index }))
      .sort(
        (a, b) => (durations.get(b.spec) ?? 0) - (durations.get(a.spec) ?? 0) || a.index - b.index,
      )
      .map(({ spec }) => spec);
  }
}
