// What bin/switchboard.js runs: the bundle in dist/bundle/ (scripts/bundle.ts, built by vitest's
// global setup from dist/). Real processes of it: their stack traces name the .ts sources, and a
// gateway holds one copy of Apollo and graphql while the packages gateway/apolloGateway.ts defers
// stay stand-ins until used, as they do in dist/ (tests/gateway/apolloGateway.test.ts).
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';
import { packagePath } from '../../lib/packageRoot.ts';
import { BUNDLE_DIST, DEFERRED_PACKAGES, EXTERNAL_PACKAGES } from '../../scripts/bundle.ts';
import { TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const run = promisify(execFile);
const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const BIN = packagePath('bin', 'switchboard.js');

function bundleFiles(ext: string): string[] {
  return readdirSync(BUNDLE_DIST)
    .filter((name) => name.endsWith(ext))
    .map((name) => path.join(BUNDLE_DIST, name));
}

/** `@scope/name/sub` -> `@scope/name`, `name/sub` -> `name`. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return (specifier.startsWith('@') ? parts.slice(0, 2) : parts.slice(0, 1)).join('/');
}

// Loaded into the process with --import: at the ready line it prints the files of Node's require
// cache (what came from node_modules rather than from the bundle) and exits.
const PROBE = `import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
const write = process.stdout.write.bind(process.stdout);
for (const stream of [process.stdout, process.stderr]) {
  const original = stream.write.bind(stream);
  stream.write = (chunk, ...rest) => {
    if (/ready at http/.test(String(chunk))) {
      write('LOADED ' + JSON.stringify(Object.keys(cache)) + '\\n', () => process.exit(0));
      return true;
    }
    return original(chunk, ...rest);
  };
}
`;

/** A bundled gateway (central unreachable: it starts anyway), up to its ready line. */
async function gatewayLoads(env: Record<string, string>): Promise<string[]> {
  const probe = path.join(await leftovers.tempDir(), 'probe.mjs');
  await writeFile(probe, PROBE);
  const { stdout } = await run(
    process.execPath,
    ['--import', probe, BIN, 'gateway', '--port', '0', '--central-url', 'http://127.0.0.1:1'],
    {
      env: {
        ...process.env,
        SWITCHBOARD_LOG_LEVEL: 'info',
        SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
        ...env,
      },
    },
  );
  const line = stdout.split('\n').find((l) => l.startsWith('LOADED '));
  expect(line).toBeDefined();
  return JSON.parse(line!.slice('LOADED '.length)) as string[];
}

/** The files of `name` that were loaded, from wherever in node_modules. */
function filesOf(loaded: readonly string[], name: string): string[] {
  return loaded.filter((file) =>
    file.includes(`${path.sep}node_modules${path.sep}${name}${path.sep}`),
  );
}

describe('dist/bundle/', () => {
  it('imports from node_modules only the packages scripts/bundle.ts leaves out', () => {
    const found = new Set<string>();
    const files = bundleFiles('.js');
    expect(files.length).toBeGreaterThan(5);
    for (const file of files) {
      const code = readFileSync(file, 'utf8');
      // Imports, and what bundled CommonJS code requires through esbuild's __require.
      const specifiers = [
        ...ts.preProcessFile(code, true, true).importedFiles.map(({ fileName }) => fileName),
        ...[...code.matchAll(/\b__require\("([^"]+)"\)/g)].map((match) => match[1] as string),
      ];
      for (const specifier of specifiers) {
        if (!specifier.startsWith('.') && !isBuiltin(specifier)) found.add(packageName(specifier));
      }
    }
    // The deferred ones: Apollo's require of each.
    for (const name of DEFERRED_PACKAGES) expect(found).toContain(name);
    expect([...found].filter((name) => !EXTERNAL_PACKAGES.includes(name))).toEqual([]);
  });

  it('our code reads a dynamically imported CommonJS package through its default export', () => {
    // A chunk esbuild made for import() of a CommonJS package exports only `default`
    // (module.exports), where Node's import also offers the names it detects: `const { Gauge } =
    // await import('prom-client')` worked in dist/ and got undefined from the bundle. (Inside
    // node_modules, @apollo/server's probe for graphql 17 reads `version` so: undefined in the
    // bundle, 16.x under Node, not the 17 alpha it looks for either way.)
    const defaultOnly = bundleFiles('.js')
      .filter((file) => /^export default require_\w+\(\);$/m.test(readFileSync(file, 'utf8')))
      .map((file) => path.basename(file));
    // @apollo/gateway's and prom-client's, at least.
    expect(defaultOnly.length).toBeGreaterThanOrEqual(2);
    const misread: string[] = [];
    let ours = 0;
    for (const file of bundleFiles('.js')) {
      const code = readFileSync(file, 'utf8');
      for (const chunk of defaultOnly) {
        const call = `import("./${chunk}")`;
        for (let at = code.indexOf(call); at >= 0; at = code.indexOf(call, at + 1)) {
          // esbuild starts each module's code with a comment naming its input file.
          const module = /^\/\/ (\S+)\n/.exec(code.slice(code.lastIndexOf('\n// ', at) + 1))?.[1];
          if (module === undefined || !module.startsWith('dist/')) continue;
          ours += 1;
          const after = code.slice(at + call.length);
          if (!after.startsWith(').default')) misread.push(`${module} -> ${chunk}`);
        }
      }
    }
    expect(ours).toBeGreaterThanOrEqual(2);
    expect(misread).toEqual([]);
  });

  it("maps to the .ts sources through tsc's maps, without their text", () => {
    const map = JSON.parse(readFileSync(path.join(BUNDLE_DIST, 'main.js.map'), 'utf8')) as {
      sources: string[];
      sourcesContent?: unknown;
    };
    expect(map.sourcesContent).toBeUndefined();
    expect(map.sources).toContain('../../cli/main.ts');
    expect(map.sources.filter((source) => source.includes('dist/'))).toEqual([]);
  });

  it('a stack trace of a bundled process names the TypeScript files and lines', async () => {
    // A data dir below a plain file: the node's mkdir throws, and the error reaches the top.
    const file = path.join(await leftovers.tempDir(), 'not-a-dir');
    await writeFile(file, '');
    const failure = await run(
      process.execPath,
      [
        ...[BIN, 'node', '--name', 'n1', '--port', '0', '--central-url', 'http://127.0.0.1:1'],
        ...['--data-dir', path.join(file, 'data')],
      ],
      {
        env: {
          ...process.env,
          SWITCHBOARD_NODE_API_KEY: 'unused',
          SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
        },
      },
    )
      .then(() => undefined)
      .catch((error: unknown) => error as { code: number; stderr: string });
    expect(failure?.code).toBe(1);
    expect(failure?.stderr).toContain('ENOTDIR');
    const mkdirLine =
      readFileSync(packagePath('subgraphs/node/db/open.ts'), 'utf8')
        .split('\n')
        .findIndex((line) => line.includes('mkdirSync(')) + 1;
    expect(failure?.stderr).toContain(`subgraphs/node/db/open.ts:${mkdirLine}:`);
    expect(failure?.stderr).toMatch(/at (async )?run \(.*cli\/main\.ts:\d+:\d+\)/);
    expect(failure?.stderr).not.toContain('dist/bundle');
  });
});

describe('the bundled gateway', () => {
  it('holds Apollo and graphql itself, and leaves the deferred packages stand-ins', async () => {
    const loaded = await gatewayLoads({ APOLLO_TELEMETRY_DISABLED: '1' });
    // One copy: nothing of these came from node_modules.
    for (const name of ['graphql', '@apollo/gateway', '@apollo/server']) {
      expect(filesOf(loaded, name)).toEqual([]);
    }
    // Each deferred package is its stand-in: in the cache under its entry file, nothing more.
    for (const name of DEFERRED_PACKAGES) expect(filesOf(loaded, name)).toHaveLength(1);
    // Nor what the real ones bring.
    for (const name of ['cacache', 'minipass-fetch', '@opentelemetry/core']) {
      expect(filesOf(loaded, name)).toEqual([]);
    }
  });

  it("with Apollo's telemetry on, its bundled code gets the real packages through the stand-ins", async () => {
    const loaded = await gatewayLoads({ APOLLO_TELEMETRY_DISABLED: 'false' });
    expect(filesOf(loaded, '@opentelemetry/sdk-metrics').length).toBeGreaterThan(1);
    expect(filesOf(loaded, '@opentelemetry/resource-detector-aws').length).toBeGreaterThan(1);
    expect(filesOf(loaded, 'graphql')).toEqual([]);
  });
});
