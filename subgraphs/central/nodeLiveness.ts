// Heartbeats and their absence: a heartbeat marks a node ONLINE; three missed intervals mark it
// OFFLINE. Every status change is published for `nodeStatusChanged` and the gateway's routing.
import { and, eq, isNull, lt, ne, or } from 'drizzle-orm';
import type { CentralServices } from './context.ts';
import { nodes, type NodeRow } from './db/schema.ts';

export const MISSED_HEARTBEATS_FOR_OFFLINE = 3;

/**
 * Records a heartbeat. `reportedUrl` is where the node says it can be reached: it knows that better
 * than whoever registered it (it may listen on a port picked at start), and only its own key can
 * change it.
 */
export async function recordHeartbeat(
  services: CentralServices,
  node: NodeRow,
  reportedUrl: string | undefined,
): Promise<void> {
  const url = reportedUrl !== undefined && reportedUrl !== node.url ? reportedUrl : undefined;
  await services.db
    .update(nodes)
    .set({ status: 'ONLINE', lastSeenAt: new Date(), ...(url === undefined ? {} : { url }) })
    .where(eq(nodes.id, node.id));
  if (url !== undefined) {
    services.log.info(`node ${node.name} now reachable at ${url}`);
    await services.events.publish({ type: 'nodeChanged', nodeId: node.id });
  }
  if (node.status !== 'ONLINE') {
    services.log.info(`node ${node.name} ONLINE`);
    await services.events.publish({ type: 'nodeStatusChanged', nodeId: node.id, status: 'ONLINE' });
  }
}

/** Marks silent nodes OFFLINE. Safe with several central replicas: each row changes once. */
export async function sweepSilentNodes(services: CentralServices): Promise<void> {
  const cutoff = new Date(
    Date.now() - MISSED_HEARTBEATS_FOR_OFFLINE * services.heartbeatIntervalMs,
  );
  const silent = await services.db
    .update(nodes)
    .set({ status: 'OFFLINE' })
    .where(
      and(ne(nodes.status, 'OFFLINE'), or(isNull(nodes.lastSeenAt), lt(nodes.lastSeenAt, cutoff))),
    )
    .returning();
  for (const node of silent) {
    services.log.info(
      `node ${node.name} OFFLINE (no heartbeat for ${MISSED_HEARTBEATS_FOR_OFFLINE} intervals)`,
    );
    await services.events.publish({
      type: 'nodeStatusChanged',
      nodeId: node.id,
      status: 'OFFLINE',
    });
  }
}

/** Runs the sweep every heartbeat interval; returns the function that stops it. */
export function startLivenessSweep(services: CentralServices): () => Promise<void> {
  let running: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    running = running
      .then(() => sweepSilentNodes(services))
      .catch((error: unknown) => services.log.error('liveness sweep failed', error));
  }, services.heartbeatIntervalMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
