// Apollo's gateway, unless APOLLO_TELEMETRY_DISABLED says otherwise, creates a "data collection"
// meter provider per instance: at start it probes the cloud metadata endpoints of AWS, GCP and
// Azure, and it sends Apollo anonymous metrics every hour and on close. A self-hosted chat
// service should not call out to third parties unless its operator asks: off by default here,
// and an operator who wants it sets APOLLO_TELEMETRY_DISABLED=false (any value other than
// `true`/`1` leaves Apollo's collection on).
const VARIABLE = 'APOLLO_TELEMETRY_DISABLED';

/** Turns Apollo's telemetry off in `env` unless the operator set the variable. */
export function disableApolloTelemetryByDefault(env: NodeJS.ProcessEnv = process.env): void {
  env[VARIABLE] ??= '1';
}
