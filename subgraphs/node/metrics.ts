// `GET /metrics` of a chat node (Prometheus text): its clock against central's, which an operator
// alerts on (a node beyond the bound takes no writes), and the versions it holds deferred for
// their clock. A registry per node, so several nodes in one process (tests) keep their own.
import type { Registry } from 'prom-client';
import type { ClockOffset } from './clockOffset.ts';

export interface NodeMetricsSources {
  readonly clock: ClockOffset;
  /** Versions deferred for their clock, waiting to be applied. */
  readonly deferredVersions: () => number;
  /** Central's asOf plus margin of the oldest room membership held (NaN: none held yet). */
  readonly heldMembershipsUntil?: () => number;
}

/**
 * The node's registry, built at the first scrape. Every gauge is read when scraped, so none has
 * anything to count before then; prom-client (with @opentelemetry/api) is 40-110 ms of CPU to
 * load, which a node's start paid whether or not anything ever scraped it (issue 18).
 */
export function nodeMetrics(sources: NodeMetricsSources): () => Promise<Registry> {
  let registry: Promise<Registry> | undefined;
  return () => (registry ??= buildRegistry(sources));
}

async function buildRegistry(sources: NodeMetricsSources): Promise<Registry> {
  // `default` (module.exports): Node's import of this CommonJS package also offers the names it
  // detects, the bundle's chunk of it only that (scripts/bundle.ts).
  const { Gauge, Registry } = (await import('prom-client')).default;
  const registry = new Registry();
  const registers = [registry];
  const { clock } = sources;
  new Gauge({
    name: 'switchboard_node_clock_offset_ms',
    help: "Central's clock minus this node's, as measured on heartbeats (NaN before the first)",
    registers,
    collect() {
      this.set(clock.state().offsetMs ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'switchboard_node_clock_offset_error_ms',
    help: 'How wrong the measured offset may be: half the round trip it comes from',
    registers,
    collect() {
      this.set(clock.state().errorMs ?? Number.NaN);
    },
  });
  new Gauge({
    name: 'switchboard_node_clock_max_drift_ms',
    help: 'The bound: beyond it this node refuses writes and peers defer its versions',
    registers,
    collect() {
      this.set(clock.maxDriftMs);
    },
  });
  new Gauge({
    name: 'switchboard_node_clock_within_bound',
    help: '1 when the clock is measured and within the bound (writes accepted), else 0',
    registers,
    collect() {
      this.set(clock.state().withinBound ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchboard_node_sync_deferred_versions',
    help: "Versions received from peers and deferred for their clock (ahead of this node's)",
    registers,
    collect() {
      this.set(sources.deferredVersions());
    },
  });
  const heldUntil = sources.heldMembershipsUntil;
  if (heldUntil) {
    new Gauge({
      name: 'switchboard_node_sync_memberships_certain_until_ms',
      help: "How far (epoch ms, central's clock) the memberships held of this node's rooms are certain: the oldest room's",
      registers,
      collect() {
        this.set(heldUntil());
      },
    });
  }
  return registry;
}
