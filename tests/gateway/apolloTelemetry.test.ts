// The gateway leaves Apollo's anonymous telemetry off unless the operator set
// APOLLO_TELEMETRY_DISABLED: a plain environment object, not the process's own.
import { describe, expect, it } from 'vitest';
import { disableApolloTelemetryByDefault } from '../../gateway/apolloTelemetry.ts';

describe('Apollo telemetry default', () => {
  it('is off when the operator said nothing, and as the operator said otherwise', () => {
    const unset: NodeJS.ProcessEnv = {};
    disableApolloTelemetryByDefault(unset);
    expect(unset['APOLLO_TELEMETRY_DISABLED']).toBe('1');

    const optedIn: NodeJS.ProcessEnv = { APOLLO_TELEMETRY_DISABLED: 'false' };
    disableApolloTelemetryByDefault(optedIn);
    expect(optedIn['APOLLO_TELEMETRY_DISABLED']).toBe('false');
  });
});
