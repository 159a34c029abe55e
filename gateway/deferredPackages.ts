// The packages gateway/apolloGateway.ts leaves as stand-ins until something uses them (issue 18),
// named here without loading anything: apolloGateway.ts installs the stand-ins, and the bundle
// (scripts/bundle.ts) keeps these packages out of itself, so that Apollo's bundled code requires
// them through Node's require cache, where the stand-ins wait.

/** What only Apollo's data collection (createDataCollectionMeterProvider) uses. */
export const DEFERRED_TELEMETRY_PACKAGES = [
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/resources',
  '@opentelemetry/resource-detector-alibaba-cloud',
  '@opentelemetry/resource-detector-aws',
  '@opentelemetry/resource-detector-gcp',
  '@opentelemetry/resource-detector-azure',
  '@opentelemetry/exporter-metrics-otlp-http',
] as const;

/** What only Apollo's default fetcher uses (every data source of ours brings its own). */
export const DEFERRED_FETCH_PACKAGE = 'make-fetch-happen';
