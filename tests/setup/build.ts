// Part of vitest's global setup (global.ts): the children that tests start (`bin/switchboard.js`)
// run the compiled code in dist/, so dist/ is brought up to date with the sources before any test
// file runs, also for `npx vitest run <file>`, which skips npm's pretest scripts.
import { build } from '../../scripts/build.ts';

export default async function setup(): Promise<void> {
  await build({ ifStale: true });
}
