// gateway/apolloGateway.ts loads @apollo/gateway with the OpenTelemetry packages that only Apollo's
// telemetry uses, and make-fetch-happen that only Apollo's default fetcher uses, left as stand-ins
// (issue 18): a gateway with telemetry off loads its supergraph without them, and with it on (or
// at any use) they are the real packages. Each case is a fresh
// process running dist/ (the global setup built it): unit files share their worker's require
// cache, where another file may have loaded @apollo/gateway already.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { DIST } from '../../scripts/build.ts';

const run = promisify(execFile);

/** Runs `body` (an ES module, top-level await allowed) in a fresh Node process; its stdout's JSON. */
async function inFreshProcess(body: string, env: Record<string, string>): Promise<unknown> {
  const script = `
import { createRequire } from 'node:module';
const { ApolloGateway, RemoteGraphQLDataSource, deferredFetchLoaded, deferredTelemetryLoaded } = await import(
  ${JSON.stringify(`${DIST}/gateway/apolloGateway.js`)}
);
const { loadSupergraph } = await import(${JSON.stringify(`${DIST}/lib/supergraph.js`)});
const requireAsGateway = createRequire(createRequire(import.meta.url).resolve('@apollo/gateway'));
const out = {};
${body}
process.stdout.write(JSON.stringify(out));
// Not gateway.stop(): with telemetry on, that would send Apollo its metrics.
process.exit(0);
`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script], {
    cwd: DIST,
    env: { ...process.env, ...env },
  });
  return JSON.parse(stdout);
}

describe('@apollo/gateway with its telemetry packages deferred', () => {
  it('telemetry off: the gateway loads its supergraph without them; a use loads the real ones', async () => {
    const out = await inFreshProcess(
      `
const gateway = new ApolloGateway({ supergraphSdl: loadSupergraph().supergraphSdl });
await gateway.load();
out.schema = gateway.schema !== undefined;
out.loadedAfterStart = deferredTelemetryLoaded();
const sdk = requireAsGateway('@opentelemetry/sdk-metrics');
out.loadedAfterRequire = deferredTelemetryLoaded();
out.meterProvider = typeof sdk.MeterProvider;
out.loadedAfterUse = deferredTelemetryLoaded();
out.sameExports =
  sdk.MeterProvider === requireAsGateway('@opentelemetry/sdk-metrics').MeterProvider &&
  JSON.stringify(Object.keys(sdk)) ===
    JSON.stringify(Object.keys(requireAsGateway('@opentelemetry/sdk-metrics')));
`,
      { APOLLO_TELEMETRY_DISABLED: '1' },
    );
    expect(out).toEqual({
      schema: true,
      loadedAfterStart: false,
      // Requiring a stand-in is not using it.
      loadedAfterRequire: false,
      meterProvider: 'function',
      loadedAfterUse: true,
      sameExports: true,
    });
  });

  it("telemetry on: Apollo's data collection is built from the real packages", async () => {
    const out = await inFreshProcess(
      `
out.before = deferredTelemetryLoaded();
new ApolloGateway({ supergraphSdl: loadSupergraph().supergraphSdl });
out.after = deferredTelemetryLoaded();
`,
      { APOLLO_TELEMETRY_DISABLED: 'false' },
    );
    expect(out).toEqual({ before: false, after: true });
  });

  it("make-fetch-happen: loaded at the first call of Apollo's default fetcher, not before", async () => {
    const out = await inFreshProcess(
      `
const { createServer } = await import('node:http');
const gateway = new ApolloGateway({ supergraphSdl: loadSupergraph().supergraphSdl });
await gateway.load();
// A data source with its own fetcher (as ours), and one with Apollo's default.
new RemoteGraphQLDataSource({ url: 'http://127.0.0.1:1/graphql', fetcher: async () => null });
const source = new RemoteGraphQLDataSource({ url: 'http://127.0.0.1:1/graphql' });
const withDefaults = source.fetcher.defaults({ headers: { 'x-made': 'by defaults' } });
out.loadedBeforeCall = deferredFetchLoaded();
const server = createServer((req, res) => res.end(req.method + ' ' + req.headers['x-made']));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
const response = await withDefaults('http://127.0.0.1:' + server.address().port + '/', {
  method: 'POST',
  body: '{}',
});
out.answer = response.status + ' ' + (await response.text());
server.close();
out.loadedAfterCall = deferredFetchLoaded();
const real = requireAsGateway('make-fetch-happen');
out.realCached = typeof real.defaults === 'function' && real === requireAsGateway('make-fetch-happen');
out.sameHeaders = real.Headers === requireAsGateway('minipass-fetch').Headers;
`,
      { APOLLO_TELEMETRY_DISABLED: '1' },
    );
    expect(out).toEqual({
      loadedBeforeCall: false,
      answer: '200 POST by defaults',
      loadedAfterCall: true,
      realCached: true,
      sameHeaders: true,
    });
  });
});
