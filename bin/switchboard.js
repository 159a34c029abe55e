#!/usr/bin/env node
// Runs the CLI from dist/bundle/ (`npm run build`: tsc compiles the sources into dist/, esbuild
// bundles that into a few files, scripts/bundle.ts): plain JavaScript, no TypeScript tooling at run
// time, and a start that reads a few files instead of hundreds of modules (issue 18: about 40% of
// a start's CPU). Stack traces point into the TypeScript sources through the bundle's source maps,
// which lead through tsc's.
import { existsSync } from 'node:fs';
import module from 'node:module';

const main = new URL('../dist/bundle/main.js', import.meta.url);
if (!existsSync(main)) {
  process.stderr.write(
    'switchboard: dist/bundle/main.js is missing: run `npm run build` in the repository first ' +
      '(`npm install` builds it too).\n',
  );
  process.exit(1);
}
// Source maps are read as each module loads, so they are turned on before anything loads. Where
// Node can (22.14+), for our own files only: Node 20's process.setSourceMapsEnabled also reads the
// maps of every package in node_modules that ships one, measured at 6-12% of a process's module
// loading (50-150 ms of CPU per start, loaded machine), for stack frames inside libraries that
// point at their own sources, which nobody here reads. docs/operations.md, Stack traces.
if (typeof module.setSourceMapsSupport === 'function') module.setSourceMapsSupport(true);
else process.setSourceMapsEnabled(true);
const { run } = await import(main.href);
await run(process.argv.slice(2));
