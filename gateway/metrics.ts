// `GET /metrics` (Prometheus text): what an operator graphs and alerts on for a gateway. Registries
// per gateway (not prom-client's global one), so several gateways in one process (tests) keep
// their own figures. Labels stay bounded: node names come from central's registry, paths and
// outcomes from fixed sets. Series labelled per node are kept in a registry of their own, served
// only to callers allowed the details (gateway/statusEndpoints.ts): node names tell a stranger
// the cluster's layout.
import type { ApolloServerPlugin } from '@apollo/server';
import {
  collectDefaultMetrics,
  Counter,
  Gauge,
  Histogram,
  Registry,
  type CounterConfiguration,
} from 'prom-client';
import type { GatewayContext } from './context.ts';

/** Paths the gateway serves; anything else is counted as "other" so labels cannot explode. */
const KNOWN_PATHS = new Set(['/graphql', '/health', '/ready', '/metrics', '/dashboard']);

function pathLabel(path: string): string {
  if (KNOWN_PATHS.has(path)) return path;
  return path.startsWith('/web/assets/') ? '/web/assets' : 'other';
}

/** `cancelled`: a hedged read another node answered first; the gateway stopped waiting. */
export type NodeOutcome = 'ok' | 'unreachable' | 'timeout' | 'failed' | 'cancelled';

export interface GaugeSources {
  readonly routing: () => {
    centralConnected: boolean;
    nodes: ReadonlyArray<{
      name: string;
      status: string;
      schema: { state: string };
      health: { state: string };
    }>;
  };
  readonly subscriptions: () => { upstream: number; clients: number; executions: number };
}

export class GatewayMetrics {
  /** Series anyone may read: no node ids, names or URLs in them. */
  readonly registry = new Registry();
  /** Series labelled per node: ADMIN tokens and the metrics token only. */
  readonly perNodeRegistry = new Registry();
  readonly #httpRequests: Histogram<'path' | 'method' | 'status'>;
  readonly #operations: Counter<'type' | 'outcome'>;
  readonly #nodeRequests: Histogram<'node' | 'outcome'>;
  readonly #hedgedReads: Counter;

  constructor(sources: GaugeSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'switchboard_gateway_' });
    this.#httpRequests = new Histogram({
      name: 'switchboard_gateway_http_request_duration_seconds',
      help: 'HTTP requests served by the gateway, by path, method and status',
      labelNames: ['path', 'method', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.#operations = new Counter({
      name: 'switchboard_gateway_operations_total',
      help: 'GraphQL operations over HTTP, by type (query, mutation, unknown) and outcome (ok, error)',
      labelNames: ['type', 'outcome'],
      registers,
    } satisfies CounterConfiguration<'type' | 'outcome'>);
    this.#nodeRequests = new Histogram({
      name: 'switchboard_gateway_node_request_duration_seconds',
      help: 'Requests from the gateway to chat nodes, by node and outcome (ok, unreachable, timeout, failed, cancelled)',
      labelNames: ['node', 'outcome'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers: [this.perNodeRegistry],
    });
    this.#hedgedReads = new Counter({
      name: 'switchboard_gateway_hedged_reads_total',
      help: 'Reads that stopped waiting for a node slower than its hedge bound: another storage node answered, or was asked too',
      registers,
    });
    new Gauge({
      name: 'switchboard_gateway_node_healthy',
      help: "1 while the gateway's own view of the node is healthy, 0 while suspect or down (central's status aside)",
      labelNames: ['node'],
      registers: [this.perNodeRegistry],
      collect() {
        this.reset();
        for (const node of sources.routing().nodes) {
          if (node.status === 'ONLINE')
            this.set({ node: node.name }, node.health.state === 'healthy' ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'switchboard_gateway_central_connected',
      help: "1 when the gateway follows central's event stream, else 0",
      registers,
      collect() {
        this.set(sources.routing().centralConnected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchboard_gateway_nodes',
      help: 'Chat nodes known to the gateway, by status and whether they are routable',
      labelNames: ['status', 'routable'],
      registers,
      collect() {
        this.reset();
        for (const node of sources.routing().nodes) {
          const routable = node.status === 'ONLINE' && node.schema.state === 'ok';
          this.inc({ status: node.status, routable: String(routable) });
        }
      },
    });
    new Gauge({
      name: 'switchboard_gateway_subscription_clients',
      help: 'Client subscriptions open on the gateway (graphql-ws)',
      registers,
      collect() {
        this.set(sources.subscriptions().clients);
      },
    });
    new Gauge({
      name: 'switchboard_gateway_upstream_subscriptions',
      help: 'Upstream subscriptions the gateway holds to central and nodes (shared by clients)',
      registers,
      collect() {
        this.set(sources.subscriptions().upstream);
      },
    });
  }

  /** Times one HTTP request from now until its response is finished. */
  httpRequest(path: string, method: string): (status: number) => void {
    const end = this.#httpRequests.startTimer({
      path: pathLabel(path),
      method: method === 'GET' || method === 'POST' ? method : 'other',
    });
    return (status) => end({ status: String(status) });
  }

  operation(type: string | undefined, failed: boolean): void {
    this.#operations.inc({
      type: type === 'query' || type === 'mutation' ? type : 'unknown',
      outcome: failed ? 'error' : 'ok',
    });
  }

  /** Counts the client's HTTP operations by type and outcome. */
  plugin(): ApolloServerPlugin<GatewayContext> {
    return {
      requestDidStart: ({ contextValue }) => {
        // Subscription events are the gateway's own executions, not client operations.
        if (contextValue.internal) return Promise.resolve();
        return Promise.resolve({
          willSendResponse: ({ operation, response }) => {
            const failed =
              response.body.kind === 'single' &&
              (response.body.singleResult.errors?.length ?? 0) > 0;
            this.operation(operation?.operation, failed);
            return Promise.resolve();
          },
        });
      },
    };
  }

  nodeRequest(node: string, outcome: NodeOutcome, seconds: number): void {
    this.#nodeRequests.observe({ node, outcome }, seconds);
  }

  hedgedRead(): void {
    this.#hedgedReads.inc();
  }

  /** The Prometheus text: with `perNode`, the per-node series too. */
  async text(perNode: boolean): Promise<{ contentType: string; body: string }> {
    const shared = await this.registry.metrics();
    return {
      contentType: this.registry.contentType,
      body: perNode ? `${shared}\n${await this.perNodeRegistry.metrics()}` : shared,
    };
  }
}
