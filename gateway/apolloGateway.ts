// The gateway's one way to @apollo/gateway's values (issue 18; eslint keeps the others to type
// imports). Apollo's package index loads its telemetry module (dist/utilities/opentelemetry.js),
// which requires the OpenTelemetry metrics SDK, its OTLP exporter and four cloud resource detectors
// when it loads: about 320 CommonJS modules, a third of a second of CPU at every gateway start,
// for one function only, the anonymous data collection Apollo runs when its telemetry is on
// (gateway/apolloTelemetry.ts: off unless the operator asks). So before the package loads, each
// of those packages is put in Node's require cache (documented: entries may be added) as a
// stand-in whose first use loads them all for real; with telemetry off, nothing ever uses them.
//
// make-fetch-happen, the same way: RemoteGraphQLDataSource's constructor asks it for a default
// fetcher (and Apollo's Uplink manager, unused with a static supergraph, does too) that every data
// source of ours replaces with its own (gateway/centralDataSource.ts; the nodes' router is no
// RemoteGraphQLDataSource). It brings cacache, minipass, @npmcli/agent, socks, semver and more:
// about 150 CommonJS modules, 0.1 s of CPU at every gateway start, for a fetcher nothing calls.
//
// The same in the processes' bundle (scripts/bundle.ts), which holds Apollo but not these packages
// (gateway/deferredPackages.ts): Apollo's bundled code requires them through Node's require cache.
import { createRequire, Module } from 'node:module';
import { DEFERRED_FETCH_PACKAGE, DEFERRED_TELEMETRY_PACKAGES } from './deferredPackages.ts';

const require = createRequire(import.meta.url);

const gatewayEntry = require.resolve('@apollo/gateway');
// Resolved as Apollo's modules resolve them: a copy nested under @apollo/gateway would win.
const requireAsGateway = createRequire(gatewayEntry);
const deferredFiles = DEFERRED_TELEMETRY_PACKAGES.map((name) => requireAsGateway.resolve(name));
const standIns = new Set<NodeJS.Module>();

/**
 * Loads every deferred package for real (once): the stand-ins leave the cache first, so that the
 * real packages, which require one another, get each other and not a stand-in.
 */
const loadDeferred = (() => {
  let loaded: Map<string, object> | undefined;
  return (): Map<string, object> => {
    if (loaded) return loaded;
    for (const file of deferredFiles) {
      const cached = require.cache[file];
      if (cached && standIns.has(cached)) delete require.cache[file];
    }
    standIns.clear();
    loaded = new Map(deferredFiles.map((file) => [file, requireAsGateway(file) as object]));
    return loaded;
  };
})();

/** A module whose exports answer as the real package's, loading it at the first question. */
function standIn(file: string): NodeJS.Module {
  const real = (): object => loadDeferred().get(file) ?? {};
  const exports = new Proxy(
    {},
    {
      get: (_target, key): unknown => Reflect.get(real(), key),
      has: (_target, key) => Reflect.has(real(), key),
      ownKeys: () => Reflect.ownKeys(real()),
      // Reported configurable: the real exports are getters defined non-configurable, which a
      // proxy over an empty target may not claim to have.
      getOwnPropertyDescriptor: (_target, key) => {
        const descriptor = Reflect.getOwnPropertyDescriptor(real(), key);
        return descriptor && { ...descriptor, configurable: true };
      },
    },
  );
  const module = new Module(file) as NodeJS.Module;
  module.filename = file;
  module.exports = exports;
  module.loaded = true;
  return module;
}

// Only before @apollo/gateway's first load (a test may have loaded it directly), and never over
// a package something already loaded.
if (!require.cache[gatewayEntry] && deferredFiles.every((file) => !require.cache[file])) {
  for (const file of deferredFiles) {
    const module = standIn(file);
    standIns.add(module);
    require.cache[file] = module;
  }
}

/** make-fetch-happen's function: `fetch(url, options)`, and `defaults(...)` making another. */
type FetchHappen = ((url: unknown, options?: unknown) => unknown) & {
  defaults: (...args: unknown[]) => FetchHappen;
};

const fetchFile = requireAsGateway.resolve(DEFERRED_FETCH_PACKAGE);
let fetchStandIn: NodeJS.Module | undefined;

/** The real make-fetch-happen, loaded at the first call (the stand-in leaves the cache first). */
const realFetch = (() => {
  let loaded: FetchHappen | undefined;
  return (): FetchHappen => {
    if (loaded) return loaded;
    if (fetchStandIn && require.cache[fetchFile] === fetchStandIn) delete require.cache[fetchFile];
    fetchStandIn = undefined;
    loaded = requireAsGateway(fetchFile) as FetchHappen;
    return loaded;
  };
})();

/**
 * A fetch function as make-fetch-happen's: calling it, or one that `defaults` made, calls the real
 * one (made from `real` when first called). Making defaults loads nothing.
 */
function lazyFetch(real: () => FetchHappen): FetchHappen {
  let made: FetchHappen | undefined;
  const resolve = (): FetchHappen => (made ??= real());
  const fetch = ((url: unknown, options?: unknown) => resolve()(url, options)) as FetchHappen;
  fetch.defaults = (...args: unknown[]) => lazyFetch(() => resolve().defaults(...args));
  return fetch;
}

if (!require.cache[gatewayEntry] && !require.cache[fetchFile]) {
  const exports = lazyFetch(realFetch);
  // Its other exports (minipass-fetch's classes) load it too, at their first read. Enumerable,
  // as the real ones: TypeScript's __importStar copies what `for...in` sees (as getters).
  for (const key of ['FetchError', 'Headers', 'Request', 'Response'])
    Object.defineProperty(exports, key, {
      enumerable: true,
      get: () => (realFetch() as unknown as Record<string, unknown>)[key],
    });
  const module = new Module(fetchFile) as NodeJS.Module;
  module.filename = fetchFile;
  module.exports = exports;
  module.loaded = true;
  require.cache[fetchFile] = module;
  fetchStandIn = module;
}

/** Whether make-fetch-happen was loaded for real (something called Apollo's default fetcher). */
export function deferredFetchLoaded(): boolean {
  const cached = require.cache[fetchFile];
  return cached !== undefined && cached !== fetchStandIn;
}

/** Whether any deferred package was loaded for real (Apollo's telemetry being on, or a test). */
export function deferredTelemetryLoaded(): boolean {
  return deferredFiles.some((file) => {
    const cached = require.cache[file];
    return cached !== undefined && !standIns.has(cached);
  });
}

// Imported, not required, and only now: after the stand-ins are in the cache (a static import
// would run before this module's body). In dist/, Node loads the package with its CommonJS loader,
// whose require finds the stand-ins; in the bundle (scripts/bundle.ts), esbuild bundles it, one copy
// of Apollo and graphql with the rest of the gateway, and leaves the deferred packages out, so that
// Apollo's bundled code requires them through Node and finds the stand-ins the same way. `default`
// (module.exports): Node's import also offers the names it detects, esbuild's chunk only that.
const apolloGateway = (await import('@apollo/gateway')).default;

export const { ApolloGateway, RemoteGraphQLDataSource } = apolloGateway;
