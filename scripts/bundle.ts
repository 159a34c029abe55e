// The processes' code as a few files (issue 18): esbuild bundles what tsc emitted (dist/cli/main.js
// and everything it imports, our modules and the packages) into dist/bundle/, which
// bin/switchboard.js runs. About half of an unbundled start was Node's module loader resolving,
// reading, linking and wrapping hundreds of files (a gateway: 583 CommonJS modules besides our
// own), once per process, and the tests start about a hundred processes. scripts/build.ts runs
// this after tsc.
//
// From dist/, not from the .ts sources: the bundle is the code tsc checked and emitted, dist/ stays
// the tree tests import and tests/build/dist.test.ts reads, and esbuild follows tsc's source maps,
// so that a stack frame of the bundle still names its .ts file and line.
//
// Left out of the bundle, loaded from node_modules at run time: the packages that find files of
// their own next to their code (better-sqlite3's native addon, PGlite's WebAssembly and data),
// optional packages that are not installed (pg-native, ws's bufferutil and utf-8-validate,
// node-fetch's encoding), and the packages gateway/apolloGateway.ts defers
// (gateway/deferredPackages.ts): Apollo's bundled code requires those through Node's require
// cache, where that module put its stand-ins.
import { existsSync, statSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import {
  DEFERRED_FETCH_PACKAGE,
  DEFERRED_TELEMETRY_PACKAGES,
} from '../gateway/deferredPackages.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const BUNDLE_DIST = path.join(ROOT, 'dist/bundle');
/** What bin/switchboard.js runs. */
export const BUNDLE_ENTRY = path.join(BUNDLE_DIST, 'main.js');
/** Written last: its presence means the bundle is whole; its mtime, when it was made. */
export const BUNDLE_MANIFEST = path.join(BUNDLE_DIST, 'bundle.json');
const INPUT = path.join(ROOT, 'dist/cli/main.js');

export const DEFERRED_PACKAGES = [...DEFERRED_TELEMETRY_PACKAGES, DEFERRED_FETCH_PACKAGE];

/** Packages (and their subpaths) the bundle requires or imports from node_modules at run time. */
export const EXTERNAL_PACKAGES = [
  'better-sqlite3',
  '@electric-sql/pglite',
  'pg-native',
  'bufferutil',
  'utf-8-validate',
  'encoding',
  ...DEFERRED_PACKAGES,
];

// esbuild's ESM output has no `require`: its bundled CommonJS code calls this one for what stays
// external (and for the few requires whose argument is not a string literal). Resolved from the
// chunk's own file, dist/bundle/, as from any file of the package.
const BANNER =
  "import { createRequire as __switchboardCreateRequire } from 'node:module';\n" +
  'const require = __switchboardCreateRequire(import.meta.url);';

export interface BundleResult {
  /** Bytes of JavaScript written, and of source maps. */
  readonly jsBytes: number;
  readonly mapBytes: number;
  readonly files: number;
}

/** Whether the bundle is missing, or older than dist/'s last compile, this script or the lock file. */
export function bundleIsStale(compiledAt: number): boolean {
  if (!existsSync(BUNDLE_MANIFEST) || !existsSync(BUNDLE_ENTRY)) return true;
  const builtAt = statSync(BUNDLE_MANIFEST).mtimeMs;
  const inputs = [
    compiledAt,
    statSync(fileURLToPath(import.meta.url)).mtimeMs,
    statSync(path.join(ROOT, 'package-lock.json')).mtimeMs,
  ];
  return inputs.some((mtime) => mtime > builtAt);
}

/**
 * The deferred packages stay external, so Apollo's bundled code requires them from dist/bundle/,
 * while apolloGateway.ts puts its stand-ins where @apollo/gateway resolves them: the same files
 * unless the lock file nests a copy under @apollo/gateway, which this refuses to bundle.
 */
function checkDeferredResolveAlike(): void {
  const fromBundle = createRequire(BUNDLE_ENTRY);
  const fromGateway = createRequire(createRequire(INPUT).resolve('@apollo/gateway'));
  for (const name of DEFERRED_PACKAGES) {
    const a = fromBundle.resolve(name);
    const b = fromGateway.resolve(name);
    if (a !== b) {
      throw new Error(
        `${name} resolves to ${a} from dist/bundle/ but to ${b} from @apollo/gateway: ` +
          "the bundled gateway would load it past apolloGateway.ts's stand-in",
      );
    }
  }
}

/** More than one copy of a package bundled (e.g. graphql's index.js and index.mjs) is an error. */
function checkSingleCopies(metafile: Metafile, names: readonly string[]): void {
  for (const name of names) {
    const roots = new Set<string>();
    for (const input of Object.keys(metafile.inputs)) {
      const at = input.lastIndexOf(`node_modules/${name}/`);
      if (at >= 0) roots.add(input.slice(0, at + `node_modules/${name}`.length));
      if (name === 'graphql' && /node_modules\/graphql\/.*\.mjs$/.test(input)) roots.add(input);
    }
    if (roots.size > 1) {
      throw new Error(`the bundle holds ${roots.size} copies of ${name}: ${[...roots].join(', ')}`);
    }
  }
}

export async function writeBundle(
  log: (line: string) => void = (line) => process.stderr.write(`[bundle] ${line}\n`),
): Promise<BundleResult> {
  const started = Date.now();
  checkDeferredResolveAlike();
  // Built beside the old bundle and swapped in at the end: a build that fails or is stopped
  // leaves the old bundle whole, never half a new one. (A process still running from the old
  // bundle that has yet to import a chunk whose name changed fails to load it: rebuilding under
  // running processes is not supported.)
  const tmp = `${BUNDLE_DIST}.tmp-${process.pid}`;
  await rm(tmp, { recursive: true, force: true });
  try {
    const result = await build({
      absWorkingDir: ROOT,
      entryPoints: { main: INPUT },
      outdir: tmp,
      bundle: true,
      // The roles' modules (demo, central, gateway, node) stay behind their dynamic imports, each
      // process loading its own chunks and the shared ones.
      splitting: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // platform node's order (main before module): graphql resolves to its index.js for import
      // and require alike, one copy, as Node loads it (graphql refuses a schema of another copy).
      mainFields: ['main', 'module'],
      chunkNames: 'chunk-[hash]',
      entryNames: '[name]',
      external: EXTERNAL_PACKAGES.flatMap((name) => [name, `${name}/*`]),
      banner: { js: BANNER },
      // Linked maps through tsc's own: frames name the .ts files. Without the sources' text,
      // which nobody reads from a stack trace and Node would parse at every start.
      sourcemap: 'linked',
      sourcesContent: false,
      legalComments: 'none',
      logLevel: 'error',
      metafile: true,
    });
    checkSingleCopies(result.metafile, ['graphql', '@apollo/gateway', '@apollo/server']);
    let jsBytes = 0;
    let mapBytes = 0;
    const outputs = Object.entries(result.metafile.outputs);
    for (const [file, output] of outputs) {
      if (file.endsWith('.map')) mapBytes += output.bytes;
      else jsBytes += output.bytes;
    }
    await writeFile(
      path.join(tmp, path.basename(BUNDLE_MANIFEST)),
      `${JSON.stringify({ builtAt: new Date().toISOString(), files: outputs.length, jsBytes, mapBytes }, null, 2)}\n`,
    );
    await rm(BUNDLE_DIST, { recursive: true, force: true });
    await rename(tmp, BUNDLE_DIST);
    const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(1);
    log(
      `bundled dist/bundle/ in ${((Date.now() - started) / 1000).toFixed(1)} s ` +
        `(${outputs.length} files, ${mb(jsBytes)} MB of JavaScript, ${mb(mapBytes)} MB of maps)`,
    );
    return { jsBytes, mapBytes, files: outputs.length };
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
}
