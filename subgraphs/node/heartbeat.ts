// The node's link to central: at start it learns its id (central's id for its API key) from a
// first heartbeat and keeps it in its own database; afterwards it heartbeats at the interval
// central asks for. A node that has reached central once restarts even while central is down;
// one that never has refuses to start, because every message it stores must name its origin.
import { Backoff } from '../../lib/backoff.ts';
import type { Logger } from '../../lib/log.ts';
import {
  CentralRejectedError,
  CentralUnavailableError,
  type CentralClient,
  type HeartbeatResponse,
} from './centralClient.ts';
import type { ClockOffset } from './clockOffset.ts';
import { META_NODE_ID, readMeta, writeMeta } from './db/meta.ts';
import type { NodeQueryable } from './db/open.ts';

/** Why the node cannot start; the message is meant to be printed as one line. */
export class NodeStartupError extends Error {
  override readonly name = 'NodeStartupError';
}

export interface CentralIdentity {
  readonly nodeId: string;
  /** How often central wants heartbeats. */
  readonly heartbeatIntervalMs: number;
}

export interface ConnectOptions {
  readonly client: Pick<CentralClient, 'heartbeat' | 'centralUrl'>;
  readonly db: NodeQueryable;
  /** The node's own name (`--name`), to warn when central knows it by another one. */
  readonly name: string;
  /** The URL the node reports in its heartbeats. */
  readonly publicUrl: string;
  /** How long to keep trying when the node has never reached central. */
  readonly waitMs: number;
  /** Used until central tells the interval. @default 1500 */
  readonly defaultIntervalMs?: number;
  /** Takes the clock sample of every heartbeat's round trip. */
  readonly clock?: ClockOffset;
  readonly log: Logger;
}

/** A heartbeat, timed: its round trip is a sample of this node's clock offset. */
async function timedHeartbeat(
  client: Pick<CentralClient, 'heartbeat'>,
  publicUrl: string,
  clock: ClockOffset | undefined,
): Promise<HeartbeatResponse> {
  const sentAt = clock?.mark() ?? 0;
  // The offset measured so far (this trip's sample is taken after it): central shows it as
  // Node.clockOffsetMs and alerts when it is beyond the bound.
  const state = clock?.state();
  const reply = await client.heartbeat(
    publicUrl,
    state && { offsetMs: state.offsetMs ?? null, maxDriftMs: state.maxDriftMs },
  );
  if (clock && reply.centralTime !== undefined) {
    clock.record(sentAt, clock.mark(), reply.centralTime);
  }
  return reply;
}

/** The node's id: from a first heartbeat, or from its database when central is unreachable. */
export async function connectToCentral(options: ConnectOptions): Promise<CentralIdentity> {
  const stored = readMeta(options.db, META_NODE_ID);
  const deadline = Date.now() + options.waitMs;
  const backoff = new Backoff({ initialMs: 200, maxMs: 2000 });
  for (;;) {
    try {
      const reply = await timedHeartbeat(options.client, options.publicUrl, options.clock);
      if (stored !== undefined && stored !== reply.nodeId) {
        throw new NodeStartupError(
          `this data dir belongs to node ${stored}, but central knows this API key as node ${reply.nodeId} ` +
            `("${reply.name}"): use that node's key, or a fresh data dir`,
        );
      }
      if (stored === undefined) writeMeta(options.db, META_NODE_ID, reply.nodeId);
      if (reply.name !== options.name) {
        options.log.warn(`central knows this node as "${reply.name}", not "${options.name}"`);
      }
      return { nodeId: reply.nodeId, heartbeatIntervalMs: reply.heartbeatIntervalMs };
    } catch (error) {
      if (error instanceof CentralRejectedError) throw new NodeStartupError(error.message);
      if (!(error instanceof CentralUnavailableError)) throw error;
      if (stored !== undefined) {
        options.log.warn(
          `${error.message}; starting as node ${stored} (from the data dir) and retrying in the background`,
        );
        return {
          nodeId: stored,
          heartbeatIntervalMs: options.defaultIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS,
        };
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new NodeStartupError(
          `${error.message}; gave up after ${options.waitMs} ms: a node must reach central once before it can start`,
        );
      }
      options.log.info(`${error.message}; retrying`);
      await new Promise((resolve) => setTimeout(resolve, Math.min(backoff.next(), left)));
    }
  }
}

/** Until central says otherwise: central's own default (its `--heartbeat-interval-ms`). */
const DEFAULT_HEARTBEAT_INTERVAL_MS = 1500;

export interface HeartbeatsOptions {
  readonly client: Pick<CentralClient, 'heartbeat'>;
  readonly publicUrl: string;
  readonly nodeId: string;
  readonly intervalMs: number;
  /** Takes the clock sample of every heartbeat's round trip. */
  readonly clock?: ClockOffset;
  readonly log: Logger;
}

export interface Heartbeats {
  /** Stops beating; waits for a beat in flight. */
  stop(): Promise<void>;
}

export function startHeartbeats(options: HeartbeatsOptions): Heartbeats {
  let intervalMs = options.intervalMs;
  let stopped = false;
  let failing = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();

  const beat = async () => {
    try {
      const reply = await timedHeartbeat(options.client, options.publicUrl, options.clock);
      intervalMs = reply.heartbeatIntervalMs;
      if (reply.nodeId !== options.nodeId) {
        options.log.error(
          `central now knows this API key as node ${reply.nodeId}, not ${options.nodeId}`,
        );
      }
      if (failing) options.log.info('central reachable again');
      failing = false;
    } catch (error) {
      // One line per outage, not one per beat.
      if (!failing)
        options.log.warn(
          `heartbeat failed: ${error instanceof Error ? error.message : String(error)}`,
        );
      failing = true;
    }
  };
  // Beats start one interval apart, however long each took to answer: central marks a node
  // OFFLINE after a few intervals of silence, and a slow answer must not stretch the gaps.
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      const startedAt = Date.now();
      inFlight = beat().finally(() => schedule(Math.max(0, intervalMs - (Date.now() - startedAt))));
    }, delayMs);
    timer.unref();
  };
  schedule(intervalMs);
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    },
  };
}
