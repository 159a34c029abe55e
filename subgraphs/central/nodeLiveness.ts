// Heartbeats and their absence: a heartbeat marks a node ONLINE; `offlineAfterMs` without one
// (three heartbeat intervals by default: 4.5 s) marks it OFFLINE. Every status change is
// published for `nodeStatusChanged` and the gateway's routing; a node coming back also has its
// sync pairs queued (see SyncCoordinator.nodeBack). A heartbeat also carries the node's clock
// offset (nodeClock.ts); its going beyond the node's bound, or back, is published the same way.
import { and, eq, isNull, lt, ne, or } from 'drizzle-orm';
import type { HeartbeatClock } from '../../lib/nodeApi.ts';
import { nodeLabel } from '../../lib/syncProtocol.ts';
import type { CentralServices } from './context.ts';
import { nodes, type NodeRow } from './db/schema.ts';
import { describeClock, isClockSkewed } from './nodeClock.ts';

/** Default heartbeat interval: with three missed beats for OFFLINE, a dead node is OFFLINE in 3-5 s. */
export const DEFAULT_HEARTBEAT_INTERVAL_MS = 1500;
/** Intervals without a heartbeat after which a node is OFFLINE, unless `offlineAfterMs` is set. */
export const MISSED_HEARTBEATS_FOR_OFFLINE = 3;

/**
 * How often silent nodes are looked for: a tenth of the OFFLINE threshold, so that a node is
 * marked at most 10% later than the threshold says (at least every 50 ms, to keep tests with
 * tiny intervals from spinning).
 */
export function sweepIntervalMs(offlineAfterMs: number): number {
  return Math.max(50, Math.round(offlineAfterMs / 10));
}

/**
 * Records a heartbeat. `reportedUrl` is where the node says it can be reached: it knows that better
 * than whoever registered it (it may listen on a port picked at start), and only its own key can
 * change it.
 */
export async function recordHeartbeat(
  services: CentralServices,
  node: NodeRow,
  reportedUrl: string | undefined,
  clock?: HeartbeatClock,
): Promise<void> {
  const url = reportedUrl !== undefined && reportedUrl !== node.url ? reportedUrl : undefined;
  const clockNow =
    clock === undefined
      ? undefined
      : { clockOffsetMs: clock.offsetMs, clockMaxDriftMs: clock.maxDriftMs };
  const seen = {
    lastSeenAt: new Date(),
    ...(url === undefined ? {} : { url }),
    // Part of the update every heartbeat makes anyway: the clock costs no write of its own.
    ...clockNow,
  };
  // The comeback is detected by the conditional UPDATE itself, not by the row read when the
  // request was authenticated: with several centrals on one database, or two heartbeats in flight,
  // exactly one of them changes the status and so acts on the transition.
  // The usual heartbeat, of a node ONLINE already, is this one statement; only a node that is not
  // ONLINE goes on to the conditional UPDATE that decides the comeback.
  const [stayed] = await services.db
    .update(nodes)
    .set(seen)
    .where(and(eq(nodes.id, node.id), eq(nodes.status, 'ONLINE')))
    .returning({ id: nodes.id });
  const [cameBack] = stayed
    ? []
    : await services.db
        .update(nodes)
        .set({ status: 'ONLINE', ...seen })
        .where(and(eq(nodes.id, node.id), ne(nodes.status, 'ONLINE')))
        .returning({ id: nodes.id });
  // Another heartbeat made the same comeback meanwhile: this one is only seen.
  if (!stayed && !cameBack) await services.db.update(nodes).set(seen).where(eq(nodes.id, node.id));
  // The next requests are authenticated with the row as written (the clock compared below at the
  // next heartbeat is this one's), not re-read: nodeAuth.ts.
  services.nodeAuth.remember({ ...node, ...seen, status: 'ONLINE' });
  if (url !== undefined) {
    services.log.info(`node ${nodeLabel(node)} now reachable at ${url}`);
    await services.events.publish({ type: 'nodeChanged', nodeId: node.id });
  }
  if (cameBack) {
    services.log.info(`node ${nodeLabel(node)} ONLINE`);
    // Before the event: the sessions are queued when the dispatchers wake up to it. A failure
    // here must not fail the heartbeat: the status has changed and the node's stream reconnect or
    // the schedule still catch up. A node's first heartbeat ever is no comeback: it has missed
    // nothing, and opening its job stream catches it up.
    if (node.lastSeenAt !== null)
      await services.sync
        .nodeBack(node.id)
        .catch((error: unknown) =>
          services.log.error(`queuing the sync pairs of node ${nodeLabel(node)} failed`, error),
        );
    await services.events.publish({ type: 'nodeStatusChanged', nodeId: node.id, status: 'ONLINE' });
  }
  // The node read when the request was authenticated has the clock of the previous heartbeat: a
  // change of the skew state is told once, in the log and to nodeStatusChanged (the dashboard's
  // alert), unless the comeback above told it already.
  if (clockNow !== undefined) {
    const wasSkewed = isClockSkewed(node);
    const skewed = isClockSkewed(clockNow);
    if (skewed !== wasSkewed) {
      if (skewed)
        services.log.warn(
          `node ${node.name}: ${describeClock(clockNow)}, beyond its bound: it refuses writes`,
        );
      else
        services.log.info(`node ${node.name}: ${describeClock(clockNow)}, within its bound again`);
      if (!cameBack)
        await services.events.publish({
          type: 'nodeStatusChanged',
          nodeId: node.id,
          status: 'ONLINE',
        });
    }
  }
}

/**
 * Marks silent nodes OFFLINE. Safe with several central replicas: each row changes once.
 * `graceMs` is added to the threshold: silence that central itself caused by not running.
 */
export async function sweepSilentNodes(services: CentralServices, graceMs = 0): Promise<void> {
  const now = Date.now();
  const cutoff = new Date(now - services.offlineAfterMs - graceMs);
  const silent = await services.db
    .update(nodes)
    .set({ status: 'OFFLINE' })
    .where(
      and(ne(nodes.status, 'OFFLINE'), or(isNull(nodes.lastSeenAt), lt(nodes.lastSeenAt, cutoff))),
    )
    .returning();
  for (const node of silent) {
    const silence =
      node.lastSeenAt === null
        ? 'no heartbeat yet'
        : `no heartbeat for ${((now - node.lastSeenAt.getTime()) / 1000).toFixed(1)} s`;
    services.log.info(`node ${nodeLabel(node)} OFFLINE (${silence})`);
    await services.events.publish({
      type: 'nodeStatusChanged',
      nodeId: node.id,
      status: 'OFFLINE',
    });
  }
}

/** Sweeps every `sweepIntervalMs(offlineAfterMs)`; returns the function that stops it. */
export function startLivenessSweep(services: CentralServices): () => Promise<void> {
  const periodMs = sweepIntervalMs(services.offlineAfterMs);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const schedule = () => {
    if (stopped) return;
    const due = Date.now() + periodMs;
    timer = setTimeout(() => {
      // A sweep that runs late means central's own event loop was held up (load, a long GC):
      // heartbeats that arrived meanwhile still wait behind this timer, unrecorded. That much
      // of the silence is central's, not the nodes', and must not make them flap OFFLINE.
      const stalledMs = Math.max(0, Date.now() - due);
      running = sweepSilentNodes(services, stalledMs)
        .catch((error: unknown) => services.log.error('liveness sweep failed', error))
        .finally(schedule);
    }, periodMs);
    timer.unref();
  };
  schedule();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await running;
  };
}
