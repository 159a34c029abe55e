// Bundles the browser pages the gateway serves (the GraphiQL IDE at GET /graphql and the sync
// dashboard at /dashboard) from gateway/web/src into dist/web with esbuild. scripts/build.ts runs
// it with the compiler (`npm run build`, and before `npm start` / `npm test` when the output is
// missing or older than its sources); `npm run build:web` runs it alone. Nothing it writes refers
// to anything outside the gateway: every script, style, font and worker is a file in dist/web.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type Metafile, type Plugin } from 'esbuild';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = path.join(ROOT, 'gateway/web/src');
export const WEB_DIST = path.join(ROOT, 'dist/web');
/** Written last: its presence means the build finished. */
const MANIFEST = 'manifest.json';
/** Assets live under this path of the pages (relative, so a path prefix in a proxy still works). */
const ASSETS = 'web/assets';

/** Monaco's own editor workers plus GraphiQL's GraphQL language worker, as classic scripts. */
const WORKERS = {
  editor: 'monaco-editor/esm/vs/editor/editor.worker.js',
  json: 'monaco-editor/esm/vs/language/json/json.worker.js',
  graphql: 'monaco-graphql/esm/graphql.worker.js',
} as const;

const PAGES = {
  ide: { title: 'Switchboard GraphQL IDE', entry: 'ide.ts' },
  dashboard: { title: 'Switchboard sync dashboard', entry: 'dashboard.ts' },
} as const;

export interface BuildWebOptions {
  /** @default dist/web */
  readonly outDir?: string;
  /** Skip the build when the output exists and is newer than every source. @default false */
  readonly onlyIfStale?: boolean;
  /** @default true */
  readonly minify?: boolean;
  /** @default a line per build on stderr */
  readonly log?: (line: string) => void;
}

export interface BuildWebResult {
  readonly built: boolean;
  readonly outDir: string;
}

// graphiql/style.css already holds Monaco's styles (and its icon font inlined); Monaco's ESM files
// also import each piece of CSS themselves, which would ship every rule twice.
const monacoCssOnce: Plugin = {
  name: 'monaco-css-once',
  setup(b) {
    b.onResolve({ filter: /\.css$/ }, (args) =>
      args.importer.includes(`${path.sep}monaco-editor${path.sep}`)
        ? { path: args.path, namespace: 'monaco-css-once' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'monaco-css-once' }, () => ({
      contents: '',
      loader: 'css',
    }));
  },
};

function newestMtime(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Whether `outDir` lacks a finished build, or one of its inputs changed after it. */
export function webBuildIsStale(outDir = WEB_DIST): boolean {
  const manifest = path.join(outDir, MANIFEST);
  if (!existsSync(manifest)) return true;
  const builtAt = statSync(manifest).mtimeMs;
  const inputs = [
    newestMtime(SRC),
    statSync(fileURLToPath(import.meta.url)).mtimeMs,
    statSync(path.join(ROOT, 'package-lock.json')).mtimeMs,
  ];
  return inputs.some((mtime) => mtime > builtAt);
}

// esbuild names an entry by its real path: through a symlinked node_modules (a git worktree
// sharing another checkout's packages) that is not the path it was given.
function sameFile(a: string, b: string): boolean {
  try {
    return realpathSync(path.resolve(a)) === realpathSync(path.resolve(b));
  } catch {
    return false;
  }
}

function outputOf(metafile: Metafile, entry: string, ext: string): string {
  for (const [file, output] of Object.entries(metafile.outputs)) {
    const from = output.entryPoint;
    if (from !== undefined && file.endsWith(ext) && (from === entry || sameFile(from, entry)))
      return path.basename(file);
  }
  throw new Error(`esbuild wrote no ${ext} file for ${entry}`);
}

function cssOf(metafile: Metafile, entry: string): string | undefined {
  for (const [file, output] of Object.entries(metafile.outputs)) {
    if (output.entryPoint === entry && file.endsWith('.js') && output.cssBundle) {
      return path.basename(output.cssBundle);
    }
  }
  return undefined;
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function page(title: string, script: string, style: string | undefined): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    // No favicon request to answer with a 404.
    '<link rel="icon" href="data:,">',
    ...(style ? [`<link rel="stylesheet" href="${ASSETS}/${style}">`] : []),
    `<script type="module" src="${ASSETS}/${script}"></script>`,
    '</head>',
    '<body><div id="root"></div></body>',
    '</html>',
    '',
  ].join('\n');
}

/** Gzipped copies of the text assets, which the gateway sends to clients that accept gzip. */
async function precompress(dir: string): Promise<void> {
  for (const name of readdirSync(dir)) {
    if (!/\.(js|css|svg|json|ttf)$/.test(name)) continue;
    const file = path.join(dir, name);
    const data = await readFile(file);
    if (data.length < 1024) continue;
    await writeFile(`${file}.gz`, gzipSync(data, { level: 9 }));
  }
}

export async function buildWeb(options: BuildWebOptions = {}): Promise<BuildWebResult> {
  const outDir = options.outDir ?? WEB_DIST;
  const log = options.log ?? ((line: string) => process.stderr.write(`[build:web] ${line}\n`));
  if (options.onlyIfStale && !webBuildIsStale(outDir)) return { built: false, outDir };
  const started = Date.now();
  // Built beside the old output and swapped in at the end, so a gateway serving the old files
  // never sees half a build.
  const tmp = `${outDir}.tmp-${process.pid}-${createHash('sha1').update(String(started)).digest('hex').slice(0, 6)}`;
  const assetsDir = path.join(tmp, ASSETS);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(assetsDir, { recursive: true });
  const minify = options.minify ?? true;
  const common = {
    bundle: true,
    minify,
    target: ['chrome110', 'firefox115', 'safari16'],
    legalComments: 'linked' as const,
    logLevel: 'warning' as const,
    absWorkingDir: ROOT,
    outdir: assetsDir,
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    metafile: true as const,
    loader: { '.ttf': 'file', '.woff': 'file', '.woff2': 'file', '.svg': 'file' } as const,
    define: { 'process.env.NODE_ENV': '"production"' },
    plugins: [monacoCssOnce],
  };
  try {
    const workers = await build({
      ...common,
      entryPoints: Object.entries(WORKERS).map(([name, file]) => ({
        in: file,
        out: `${name}.worker`,
      })),
      format: 'iife',
    });
    const workerUrls = Object.fromEntries(
      Object.entries(WORKERS).map(([name, file]) => [
        name,
        `${ASSETS}/${outputOf(workers.metafile, `node_modules/${file}`, '.js')}`,
      ]),
    );
    const pages = await build({
      ...common,
      entryPoints: Object.entries(PAGES).map(([name, p]) => ({
        in: path.join(SRC, p.entry),
        out: name,
      })),
      format: 'esm',
      splitting: true,
      chunkNames: 'chunk-[hash]',
      define: { ...common.define, __MONACO_WORKERS__: JSON.stringify(workerUrls) },
    });
    for (const [name, p] of Object.entries(PAGES)) {
      const entry = path.relative(ROOT, path.join(SRC, p.entry)).split(path.sep).join('/');
      await writeFile(
        path.join(tmp, `${name}.html`),
        page(p.title, outputOf(pages.metafile, entry, '.js'), cssOf(pages.metafile, entry)),
      );
    }
    await precompress(assetsDir);
    const outputs = [
      ...Object.keys(workers.metafile.outputs),
      ...Object.keys(pages.metafile.outputs),
    ];
    await writeFile(
      path.join(tmp, MANIFEST),
      `${JSON.stringify({ builtAt: new Date().toISOString(), pages: Object.keys(PAGES), workers: workerUrls, files: outputs.length }, null, 2)}\n`,
    );
    await rm(outDir, { recursive: true, force: true });
    try {
      await rename(tmp, outDir);
    } catch (error) {
      // Two builds at once (parallel test workers): the one that finished first wins.
      const code = (error as NodeJS.ErrnoException).code;
      if ((code !== 'ENOTEMPTY' && code !== 'EEXIST') || !existsSync(path.join(outDir, MANIFEST)))
        throw error;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  log(`wrote ${path.relative(ROOT, outDir)} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { built: true, outDir };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const unknown = args.filter((a) => a !== '--if-stale' && a !== '--no-minify');
  if (unknown.length > 0) {
    process.stderr.write(`buildWeb: unknown argument ${unknown.join(' ')}\n`);
    process.stderr.write('usage: buildWeb.ts [--if-stale] [--no-minify]\n');
    process.exit(2);
  }
  await buildWeb({
    onlyIfStale: args.includes('--if-stale'),
    minify: !args.includes('--no-minify'),
  });
}
