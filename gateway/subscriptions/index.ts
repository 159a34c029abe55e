// Subscriptions through the gateway, as one object server.ts wires in: the data source wrapper
// that answers event lookups from the event itself (before Apollo starts), then the bridge that
// serves graphql-ws `subscribe` (once the API schema exists).
import type { GraphQLDataSource } from '@apollo/gateway';
import type { ExecutionArgs, ExecutionResult, GraphQLSchema } from 'graphql';
import { ASSERTION_PARAM, type GatewaySigner } from '../../lib/gatewayAssertion.ts';
import { GATEWAY_SECRET_PARAM } from '../../lib/gatewayProtocol.ts';
import { centralEndpoints, type CentralEndpoints } from '../../lib/centralEndpoints.ts';
import type { Logger } from '../../lib/log.ts';
import type { CentralLink } from '../centralLink.ts';
import type { GatewayContext } from '../context.ts';
import type { RoutingTable } from '../routingTable.ts';
import { SubscriptionBridge } from './bridge.ts';
import type { Execute } from './eventExecutor.ts';
import { bridgedFields, type Subgraph } from './fieldCatalog.ts';
import { PrefetchingDataSource } from './prefetch.ts';
import { UpstreamPool } from './upstreamPool.ts';

export type { EventContext } from './prefetch.ts';

export interface GatewaySubscriptionsOptions {
  /** Each subgraph's name and schema (central, and the one node schema as "messages"). */
  readonly subgraphs: readonly Subgraph[];
  /** The central(s); endpoints shared with the gateway's other parts move together. */
  readonly centralUrl: string | readonly string[] | CentralEndpoints;
  /** Sent to central with its upstream subscriptions (connectionParams), as central requires. */
  readonly gatewaySecret: string;
  /** Signs the assertion of each upstream subscription to a node (connectionParams). */
  readonly signer: GatewaySigner;
  readonly routing: RoutingTable;
  readonly link: CentralLink;
  readonly log: Logger;
  /** Message versions remembered per room topic to pass each on once. @default 10_000 */
  readonly dedupeWindow?: number;
  /** Events a client may have waiting before it is cut off. @default 10_000 */
  readonly maxPendingEvents?: number;
}

export interface SubscriptionStats {
  /** Open upstream subscriptions (one per topic and subgraph instance). */
  readonly upstream: number;
  /** Client subscriptions being served. */
  readonly clients: number;
  /** Event executions run (shared ones counted once). */
  readonly executions: number;
}

export class GatewaySubscriptions {
  readonly #o: GatewaySubscriptionsOptions;
  readonly #subgraphs: Subgraph[];
  #bridge: SubscriptionBridge | undefined;
  #pool: UpstreamPool | undefined;
  #watch: { stop(): void } | undefined;
  #unfollow: (() => void) | undefined;

  constructor(options: GatewaySubscriptionsOptions) {
    this.#o = options;
    this.#subgraphs = [...options.subgraphs];
  }

  /** The subgraph's data source, answering event lookups from the event when it can. */
  wrap(
    name: string,
    dataSource: GraphQLDataSource<GatewayContext>,
  ): GraphQLDataSource<GatewayContext> {
    const subgraph = this.#subgraphs.find((s) => s.name === name);
    return subgraph ? new PrefetchingDataSource(name, dataSource, subgraph.schema) : dataSource;
  }

  /** Starts serving, once Apollo has loaded the API schema. */
  start(apiSchema: GraphQLSchema, execute: Execute): void {
    const pool = new UpstreamPool({
      central: centralEndpoints(this.#o.centralUrl),
      connectionParams: async (target, scope) =>
        target.kind === 'central'
          ? {
              [GATEWAY_SECRET_PARAM]: this.#o.gatewaySecret,
              ...(scope?.authorization ? { authorization: scope.authorization } : {}),
            }
          : {
              [ASSERTION_PARAM]: await this.#o.signer.assertion(
                target.nodeId,
                scope?.viewer ?? null,
              ),
            },
      candidates: (ids) => this.#o.routing.candidates(ids),
      placement: async (roomId) => (await this.#o.link.rooms([roomId]))[0] ?? null,
      log: this.#o.log,
      ...(this.#o.dedupeWindow === undefined ? {} : { dedupeWindow: this.#o.dedupeWindow }),
    });
    const bridge = new SubscriptionBridge({
      apiSchema,
      fields: bridgedFields(apiSchema, this.#subgraphs),
      pool,
      execute,
      log: this.#o.log,
      ...(this.#o.maxPendingEvents === undefined
        ? {}
        : { maxPendingEvents: this.#o.maxPendingEvents }),
    });
    this.#pool = pool;
    this.#bridge = bridge;
    // The routing table follows the same events; this stream is for what subscriptions must
    // react to at once: membership (roomChanged) and nodes coming back (their feeds reopen).
    this.#watch = this.#o.link.watch(
      (event) => {
        if (event.type === 'roomChanged') {
          void bridge.roomChanged(event.roomId).catch((error: unknown) => {
            this.#o.log.warn(`re-checking room ${event.roomId}: ${(error as Error).message}`);
          });
        } else if (event.type === 'nodeStatusChanged' || event.type === 'nodeChanged') {
          pool.reconcile();
        }
      },
      () => pool.reconcile(),
    );
    this.#unfollow = this.#o.link.onStateChange((connected, answering) =>
      pool.centralState(connected, answering),
    );
  }

  subscribe(args: ExecutionArgs): Promise<AsyncIterable<ExecutionResult> | ExecutionResult> {
    if (!this.#bridge) throw new Error('subscriptions are not started');
    return this.#bridge.subscribe(args);
  }

  stats(): SubscriptionStats {
    return {
      upstream: this.#pool?.upstreamCount() ?? 0,
      clients: this.#pool?.subscriberCount() ?? 0,
      executions: this.#bridge?.executor.executions ?? 0,
    };
  }

  /** Open upstream subscriptions: what tests poll to see them released. */
  upstreamCount(): number {
    return this.#pool?.upstreamCount() ?? 0;
  }

  close(): void {
    this.#unfollow?.();
    this.#watch?.stop();
    this.#pool?.close();
  }
}
