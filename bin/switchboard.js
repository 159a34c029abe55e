#!/usr/bin/env node
// Runs the compiled CLI in dist/ (`npm run build`): plain JavaScript, no TypeScript tooling at run
// time. Stack traces point into the TypeScript sources through tsc's source maps.
import { existsSync } from 'node:fs';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'switchboard: dist/cli/main.js is missing: run `npm run build` in the repository first ' +
      '(`npm install` builds it too).\n',
  );
  process.exit(1);
}
process.setSourceMapsEnabled(true);
const { run } = await import(main.href);
await run(process.argv.slice(2));
