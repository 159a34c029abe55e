// Part of vitest's global setup (global.ts): the children that tests start (`bin/switchboard.js`)
// run the bundle of the compiled code (dist/bundle/, made from dist/), so both are brought up to
// date with the sources before any test file runs, also for `npx vitest run <file>`, which skips
// npm's pretest scripts.
import { build } from '../../scripts/build.ts';

export default async function setup(): Promise<void> {
  await build({ ifStale: true });
}
