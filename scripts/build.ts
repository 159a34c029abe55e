// `npm run build`: compiles the server code (cli/, lib/, gateway/, subgraphs/) with tsc into dist/,
// bundles that with esbuild into dist/bundle/ (scripts/bundle.ts), which `bin/switchboard.js` runs,
// composes the gateway's supergraph into dist/supergraph.json (scripts/supergraph.ts) and bundles
// the web pages into dist/web (scripts/buildWeb.ts), so that the processes run plain JavaScript
// and a release needs no TypeScript tooling. `--if-stale` (before `npm start`, `npm test`, the
// benchmarks, and in vitest's global setup) skips the compiler when dist/ is newer than every
// source, and the bundler when dist/bundle/ is newer than dist/, and lets a type error through with
// a warning: the children of a test then run what tsc emitted, as they did under tsx, while
// `npm run check:types` and a release build fail.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildWeb } from './buildWeb.ts';
import { BUNDLE_DIST, bundleIsStale, writeBundle } from './bundle.ts';
import { supergraphIsStale, writeSupergraph } from './supergraph.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const DIST = path.join(ROOT, 'dist');
/** The folders tsconfig.build.json compiles. */
const SOURCES = ['cli', 'lib', 'gateway', 'subgraphs'];
/** Not compiled by tsc: the browser code is bundled by buildWeb, the bundles are its output. */
const NOT_COMPILED = new Set([
  path.join(ROOT, 'gateway/web/src'),
  path.join(ROOT, 'gateway/web/dist'),
]);
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'];
/** Written after a compile without type errors: its mtime is when dist/ was last known good. */
const STAMP = path.join(DIST, 'build.json');
/** tsc's incremental state: a fresh build after a small edit recompiles only what it touches. */
const BUILD_INFO = path.join(DIST, '.tsbuildinfo');
const ENTRY = path.join(DIST, 'cli/main.js');

export interface BuildOptions {
  /** Skip what is up to date, and emit despite type errors (with a warning). @default false */
  readonly ifStale?: boolean;
  /** @default a line per step on stderr */
  readonly log?: (line: string) => void;
}

export interface BuildResult {
  /** Whether tsc ran. */
  readonly compiled: boolean;
  /** Whether the processes' bundle (dist/bundle/) was rebuilt. */
  readonly bundled: boolean;
  /** Whether the web bundle was rebuilt. */
  readonly web: boolean;
  /** Whether the gateway's supergraph was composed (dist/supergraph.json). */
  readonly supergraph: boolean;
}

/** The newest mtime of the .ts files under `dir`, and of the folders (a deleted file shows there). */
function newestSource(dir: string): number {
  let newest = statSync(dir).mtimeMs;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!NOT_COMPILED.has(full)) newest = Math.max(newest, newestSource(full));
    } else if (entry.name.endsWith('.ts')) {
      newest = Math.max(newest, statSync(full).mtimeMs);
    }
  }
  return newest;
}

/** Whether dist/ lacks a good compile, or a source, a tsconfig or the lock file changed after it. */
export function compileIsStale(): boolean {
  if (!existsSync(STAMP) || !existsSync(ENTRY)) return true;
  const builtAt = statSync(STAMP).mtimeMs;
  const inputs = [
    ...SOURCES.map((dir) => newestSource(path.join(ROOT, dir))),
    ...CONFIGS.map((file) => statSync(path.join(ROOT, file)).mtimeMs),
    statSync(fileURLToPath(import.meta.url)).mtimeMs,
  ];
  return inputs.some((mtime) => mtime > builtAt);
}

/** tsc's exit status: 0 clean, 2 type errors but files written, 1 nothing written. */
function runTsc(): Promise<number> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** Deletes compiled files whose source is gone, so dist/ never runs (or imports for) dead code. */
async function removeOrphans(dir: string): Promise<number> {
  let removed = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) {
      // Not the bundles: their files have no source of their own name.
      if (full !== path.join(DIST, 'web') && !full.startsWith(BUNDLE_DIST))
        removed += await removeOrphans(full);
      continue;
    }
    const compiled = /\.js(\.map)?$/.exec(entry.name);
    if (!compiled) continue;
    const source = path.join(ROOT, path.relative(DIST, full)).replace(/\.js(\.map)?$/, '.ts');
    if (!existsSync(source)) {
      await rm(full, { force: true });
      removed += 1;
    }
  }
  return removed;
}

export async function build(options: BuildOptions = {}): Promise<BuildResult> {
  const log = options.log ?? ((line: string) => process.stderr.write(`[build] ${line}\n`));
  let compiled = false;
  if (!options.ifStale || compileIsStale()) {
    const started = Date.now();
    // tsc's incremental state does not notice deleted outputs: without the entry point, start over.
    if (!existsSync(ENTRY)) await rm(BUILD_INFO, { force: true });
    await rm(STAMP, { force: true });
    const status = await runTsc();
    if (status === 1 || (status !== 0 && !options.ifStale)) {
      throw new Error(`tsc failed (exit ${status}): dist/ is not up to date`);
    }
    const orphans = await removeOrphans(DIST);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (status === 0) {
      await writeFile(STAMP, `${JSON.stringify({ builtAt: new Date().toISOString() })}\n`);
      log(`compiled dist/ in ${seconds} s${orphans ? ` (removed ${orphans} stale files)` : ''}`);
    } else {
      log(
        `compiled dist/ in ${seconds} s WITH TYPE ERRORS (above): the emitted code runs anyway; ` +
          '`npm run check:types` and `npm run build` fail until they are fixed',
      );
    }
    compiled = true;
  }
  // After every compile (the bundle is made from dist/), and when the bundle is missing or older.
  let bundled = false;
  if (compiled || !options.ifStale || bundleIsStale(statSync(STAMP).mtimeMs)) {
    await writeBundle(log);
    bundled = true;
  }
  // By content, not mtimes: an SDL edit, or another @apollo/composition, recomposes.
  let supergraph = false;
  if (!options.ifStale || supergraphIsStale()) {
    const started = Date.now();
    await writeSupergraph();
    log(`composed dist/supergraph.json in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    supergraph = true;
  }
  const web = await buildWeb({ onlyIfStale: true, log });
  return { compiled, bundled, web: web.built, supergraph };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--if-stale');
  if (unknown.length > 0) {
    process.stderr.write(`build: unknown argument ${unknown.join(' ')}\n`);
    process.stderr.write('usage: build.ts [--if-stale]\n');
    process.exit(2);
  }
  try {
    await build({ ifStale: args.includes('--if-stale') });
  } catch (error) {
    process.stderr.write(`[build] ${(error as Error).message}\n`);
    process.exit(1);
  }
}
