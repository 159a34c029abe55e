// What a release ships: the compiled code in dist/ (built by vitest's global setup), which the
// processes' bundle (dist/bundle/, tests/build/bundle.test.ts) is made from, its runtime
// `dependencies`, the files `npm pack` puts in the tarball, and bin/switchboard.js without dist/.
// The slow half, installing a packed release with `npm ci --omit=dev` and starting it, is
// `npm run check:release` (scripts/checkRelease.ts), run by .ci/run.
import { execFile } from 'node:child_process';
import { copyFile, mkdir } from 'node:fs/promises';
import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { packagePath } from '../../lib/packageRoot.ts';
import { build, compileIsStale } from '../../scripts/build.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const run = promisify(execFile);
const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const pkg = JSON.parse(readFileSync(packagePath('package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

/** Not tsc's output: the browser bundle, which imports nothing, and the processes' bundle. */
const BUNDLES = new Set([packagePath('dist', 'web'), packagePath('dist', 'bundle')]);

/** Compiled server code: everything tsc wrote under dist/. */
function compiledFiles(dir = packagePath('dist')): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return BUNDLES.has(full) ? [] : compiledFiles(full);
    return entry.name.endsWith('.js') ? [full] : [];
  });
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

/** Every bare specifier (static, dynamic or require) of the compiled code, with a file using it. */
function bareImports(): Map<string, string> {
  const found = new Map<string, string>();
  for (const file of [...compiledFiles(), packagePath('bin', 'switchboard.js')]) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    for (const { fileName } of importedFiles) {
      if (fileName.startsWith('.') || fileName.startsWith('/')) continue;
      found.set(fileName, path.relative(packagePath(), file));
    }
  }
  return found;
}

describe('dist/', () => {
  it('is up to date with the sources after the global setup, and a second build is a no-op', async () => {
    expect(compileIsStale()).toBe(false);
    await expect(build({ ifStale: true, log: () => undefined })).resolves.toEqual({
      compiled: false,
      bundled: false,
      web: false,
      supergraph: false,
    });
  });

  // The bundle holds most of these packages, but is made from this code, and loads the rest
  // (tests/build/bundle.test.ts): what dist/ imports is what the bundle needs installed or holds.
  it('imports only runtime dependencies and Node builtins, and uses every runtime dependency', () => {
    const imports = bareImports();
    // A real check needs real imports: the CLI, the servers and their databases.
    expect(compiledFiles().length).toBeGreaterThan(50);
    const undeclared = [...imports]
      .filter(([specifier]) => !isBuiltin(specifier))
      .filter(([specifier]) => !(packageName(specifier) in pkg.dependencies))
      .map(([specifier, file]) => `${specifier} (${file})`);
    expect(undeclared).toEqual([]);
    const used = new Set([...imports.keys()].map(packageName));
    expect(Object.keys(pkg.dependencies).filter((name) => !used.has(name))).toEqual([]);
    // The compiled code runs as plain JavaScript: no loader, no bundler, no type-only package.
    for (const tool of ['tsx', 'esbuild', 'typescript']) expect(used.has(tool)).toBe(false);
  });

  it('refers to its own modules with .js specifiers, never .ts', () => {
    const tsSpecifiers = compiledFiles().flatMap((file) =>
      ts
        .preProcessFile(readFileSync(file, 'utf8'), true, true)
        .importedFiles.filter(({ fileName }) => fileName.endsWith('.ts'))
        .map(({ fileName }) => `${fileName} (${path.relative(packagePath(), file)})`),
    );
    expect(tsSpecifiers).toEqual([]);
  });
});

describe('npm pack', () => {
  it('ships the compiled code and the files it reads at run time, and no sources', async () => {
    // --ignore-scripts: no rebuild (`prepare`); dist/ is fresh from the global setup.
    const { stdout } = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
      cwd: packagePath(),
    });
    const [report] = JSON.parse(stdout) as [{ files: { path: string }[] }];
    const files = report.files.map((f) => f.path);
    for (const needed of [
      'bin/switchboard.js',
      'dist/bundle/main.js',
      'dist/bundle/main.js.map',
      'dist/bundle/bundle.json',
      'dist/cli/main.js',
      'dist/gateway/index.js',
      'dist/subgraphs/central/index.js',
      'dist/subgraphs/node/index.js',
      'dist/supergraph.json',
      'dist/web/dashboard.html',
      'dist/web/ide.html',
      'schema/central.graphql',
      'schema/node.graphql',
      'subgraphs/central/migrations/0000_initial.sql',
      'subgraphs/central/migrations/meta/_journal.json',
      'subgraphs/node/migrations/0000_initial.sql',
      'subgraphs/node/migrations/meta/_journal.json',
      'package.json',
      'README.md',
    ]) {
      expect(files).toContain(needed);
    }
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files.filter((f) => f.startsWith('tests/') || f.startsWith('scripts/'))).toEqual([]);
    expect(files).not.toContain('dist/.tsbuildinfo');
  });
});

describe('bin/switchboard.js', () => {
  /** Runs a copy of bin/switchboard.js beside a copy of `files` of dist/. */
  async function runCopy(files: string[]): Promise<{ code: number; stderr: string } | undefined> {
    const dir = await leftovers.tempDir();
    await mkdir(path.join(dir, 'bin'));
    await copyFile(packagePath('bin', 'switchboard.js'), path.join(dir, 'bin', 'switchboard.js'));
    await copyFile(packagePath('package.json'), path.join(dir, 'package.json'));
    for (const file of files) {
      await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
      await copyFile(packagePath(file), path.join(dir, file));
    }
    return run(process.execPath, [path.join(dir, 'bin', 'switchboard.js'), '--help'])
      .then(() => undefined)
      .catch((error: unknown) => error as { code: number; stderr: string });
  }

  it('says what to run when dist/ is missing', async () => {
    const failure = await runCopy([]);
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('npm run build');
  });

  it("runs the bundle, not tsc's output: without dist/bundle/ it stops the same way", async () => {
    // Enough of tsc's output to answer --help (the CLI and the one module it imports).
    const failure = await runCopy(['dist/cli/main.js', 'dist/lib/config.js']);
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('dist/bundle/main.js is missing');
    expect(failure?.stderr).toContain('npm run build');
  });
});
