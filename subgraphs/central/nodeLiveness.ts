// Heartbeats and their absence: a heartbeat marks a node ONLINE; `offlineAfterMs` without one
// (three heartbeat intervals by default: 4.5 s) marks it OFFLINE. Every status change is
// published for `nodeStatusChanged` and the gateway's routing; a node coming back also has its
// sync pairs queued (see SyncCoordinator.nodeBack). A heartbeat also carries the node's clock
// offset (nodeClock.ts); its going beyond the node's bound, or back, is published the same way.
// The heartbeats of nodes ONLINE already are written together, once per sweep (heartbeatBatch.ts).
import { performance } from 'node:perf_hooks';
import { and, eq, inArray, isNull, lt, ne, or, sql } from 'drizzle-orm';
import type { HeartbeatClock } from '../../lib/nodeApi.ts';
import { nodeLabel } from '../../lib/syncProtocol.ts';
import type { CentralServices } from './context.ts';
import { activeNode, nodes, type NodeRow } from './db/schema.ts';
import type { Seen } from './heartbeatBatch.ts';
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
 * change it. The usual heartbeat, of a node ONLINE already that changes nothing else, is kept and
 * written with the others at the sweep's next tick (heartbeatBatch.ts); any other is written now.
 */
export async function recordHeartbeat(
  services: CentralServices,
  node: NodeRow,
  reportedUrl: string | undefined,
  clock?: HeartbeatClock,
): Promise<void> {
  const url = reportedUrl !== undefined && reportedUrl !== node.url ? reportedUrl : undefined;
  const seen: Seen = {
    lastSeenAt: new Date(),
    // Part of the update every heartbeat makes anyway: the clock costs no write of its own.
    ...(clock === undefined
      ? {}
      : { clockOffsetMs: clock.offsetMs, clockMaxDriftMs: clock.maxDriftMs }),
  };
  const skewChanges = clock !== undefined && isClockSkewed(node) !== isClockSkewed(clockOf(seen));
  // `node.status` is this central's latest knowledge: its auth cache forgets a node whose status
  // an event says changed. Were the row OFFLINE after all (another central's sweep, its event
  // still on the way), the batched write finds it so and writes the comeback (flushHeartbeats).
  if (node.status === 'ONLINE' && node.lastSeenAt !== null && url === undefined && !skewChanges) {
    services.heartbeats.add({ node, seen });
    services.nodeAuth.remember({ ...node, ...seen });
    return;
  }
  await writeHeartbeat(services, node, seen, url);
}

/** The clock a beat carries, as the skew checks read it from a row. */
function clockOf(seen: Seen): Pick<NodeRow, 'clockOffsetMs' | 'clockMaxDriftMs'> {
  return {
    clockOffsetMs: seen.clockOffsetMs ?? null,
    clockMaxDriftMs: seen.clockMaxDriftMs ?? null,
  };
}

/** Writes one heartbeat now, acting on what it changes (comeback, URL, clock skew). */
async function writeHeartbeat(
  services: CentralServices,
  node: NodeRow,
  seen: Seen,
  url: string | undefined,
): Promise<void> {
  const written = { ...seen, ...(url === undefined ? {} : { url }) };
  // The comeback is detected by the conditional UPDATE itself, not by the row read when the
  // request was authenticated: with several centrals on one database, or two heartbeats in flight,
  // exactly one of them changes the status and so acts on the transition.
  const [stayed] = await services.db
    .update(nodes)
    .set(written)
    .where(and(eq(nodes.id, node.id), eq(nodes.status, 'ONLINE')))
    .returning({ id: nodes.id });
  const [cameBack] = stayed
    ? []
    : await services.db
        .update(nodes)
        .set({ status: 'ONLINE', ...written })
        .where(and(eq(nodes.id, node.id), ne(nodes.status, 'ONLINE')))
        .returning({ id: nodes.id });
  // Another heartbeat made the same comeback meanwhile: this one is only seen.
  if (!stayed && !cameBack)
    await services.db.update(nodes).set(written).where(eq(nodes.id, node.id));
  // The next requests are authenticated with the row as written (the clock compared below at the
  // next heartbeat is this one's), not re-read: nodeAuth.ts.
  services.nodeAuth.remember({ ...node, ...written, status: 'ONLINE' });
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
  if (seen.clockMaxDriftMs !== undefined) {
    const clockNow = clockOf(seen);
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
 * Writes the kept heartbeats (heartbeatBatch.ts) in one statement: the rows of nodes still ONLINE,
 * locked in id order like every multi-row writer of `nodes` (sync/reportLocks.ts). A time never
 * goes back (another central may have written a later beat). A node the statement finds not ONLINE
 * (marked OFFLINE meanwhile, by this central or another) is written on its own: its comeback.
 * The rows it answers refresh the nodes' authentication (nodeAuth.ts): they are read as a select
 * would read them, so beating nodes cost no select of their own either.
 */
export async function flushHeartbeats(services: CentralServices): Promise<void> {
  const beats = services.heartbeats.take();
  if (beats.length === 0) return;
  const generation = services.nodeAuth.generation;
  const rows = JSON.stringify(
    beats.map(({ node, seen }) => ({
      id: node.id,
      seen: seen.lastSeenAt.toISOString(),
      c: seen.clockMaxDriftMs !== undefined,
      o: seen.clockOffsetMs ?? null,
      d: seen.clockMaxDriftMs ?? null,
    })),
  );
  const x = sql`json_to_recordset(${rows}::json) as x(id text, seen timestamptz, c boolean, o double precision, d integer)`;
  const locked = services.db
    .select({ id: nodes.id })
    .from(nodes)
    .where(
      and(
        inArray(
          nodes.id,
          beats.map((b) => b.node.id),
        ),
        eq(nodes.status, 'ONLINE'),
        activeNode,
      ),
    )
    .orderBy(nodes.id)
    .for('no key update');
  let written: NodeRow[];
  try {
    written = await services.db
      .update(nodes)
      .set({
        lastSeenAt: sql`greatest(${nodes.lastSeenAt}, x.seen)`,
        clockOffsetMs: sql`case when x.c then x.o else ${nodes.clockOffsetMs} end`,
        clockMaxDriftMs: sql`case when x.c then x.d else ${nodes.clockMaxDriftMs} end`,
      })
      .from(x)
      .where(and(sql`${nodes.id} = x.id`, inArray(nodes.id, locked), eq(nodes.status, 'ONLINE')))
      .returning();
  } catch (error) {
    // Kept for the next tick: a beat is late by one tick, not lost.
    services.heartbeats.restore(beats);
    throw error;
  }
  services.nodeAuth.refresh(written, generation);
  const done = new Set(written.map((row) => row.id));
  for (const { node, seen } of beats)
    if (!done.has(node.id)) await writeHeartbeat(services, node, seen, undefined);
}

/**
 * Marks silent nodes OFFLINE. Safe with several central replicas: each row changes once.
 * `graceMs` is added to the threshold: silence that central itself caused by not running.
 */
export async function sweepSilentNodes(services: CentralServices, graceMs = 0): Promise<void> {
  // Silence is judged as of now, before the kept beats are written: a write that takes long (a
  // saturated central) must not make the nodes look silent for the time it took.
  const now = Date.now();
  // The kept beats first: a node whose beat waits here is not silent.
  await flushHeartbeats(services);
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

/**
 * Event-loop utilisation over a sweep period from which central counts the whole period as time it
 * could not hear its nodes: its loop never waited for input, so heartbeats sent meanwhile sat
 * unread in its sockets (a saturated 12-node bench showed them read 2-5 s late in such bursts).
 */
export const SATURATED_UTILIZATION = 0.9;

/**
 * Time central itself could not read its input over the last window: sweep periods its event loop
 * was saturated, and the delay of sweeps that ran late because it was held up (a long GC, a
 * descheduled process). That much of a node's silence is central's, so the sweep adds it to the
 * threshold. Capped, so that a central that stays saturated still finds a dead node, late by at
 * most the cap. Without this an overloaded central marks healthy nodes OFFLINE in bursts, and
 * every comeback's catch-up sessions and live-stream restarts load it further.
 */
export class DeafTime {
  readonly #spans: { endsAt: number; ms: number }[] = [];
  readonly #windowMs: number;
  readonly #capMs: number;

  /** `windowMs`: how far back deaf time counts; `capMs`: the most grace it gives. */
  constructor(windowMs: number, capMs: number) {
    this.#windowMs = windowMs;
    this.#capMs = capMs;
  }

  /**
   * A sweep period of `elapsedMs` ended at `at`: its loop utilisation (0-1), and how late the
   * sweep's timer fired.
   */
  record(at: number, elapsedMs: number, utilization: number, lateMs: number): void {
    const deafMs = utilization >= SATURATED_UTILIZATION ? Math.max(elapsedMs, lateMs) : lateMs;
    if (deafMs > 0) this.#spans.push({ endsAt: at, ms: deafMs });
    while ((this.#spans[0]?.endsAt ?? at) < at - this.#windowMs) this.#spans.shift();
  }

  /** What to add to the OFFLINE threshold now. */
  graceMs(): number {
    const total = this.#spans.reduce((sum, span) => sum + span.ms, 0);
    return Math.min(this.#capMs, total);
  }
}

/** Sweeps every `sweepIntervalMs(offlineAfterMs)`; returns the function that stops it. */
export function startLivenessSweep(services: CentralServices): () => Promise<void> {
  const periodMs = sweepIntervalMs(services.offlineAfterMs);
  // Grace of at most one threshold: a node dead while central is saturated is OFFLINE within
  // twice the threshold. Deaf time counts over the longest silence the sweep may judge.
  const deaf = new DeafTime(2 * services.offlineAfterMs, services.offlineAfterMs);
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let loopFrom = performance.eventLoopUtilization();
  const schedule = () => {
    if (stopped) return;
    const due = Date.now() + periodMs;
    timer = setTimeout(() => {
      const now = Date.now();
      // A sweep that runs late means central's own event loop was held up; one whose period the
      // loop spent busy means it read no input meanwhile. Either way, heartbeats that arrived
      // wait unrecorded: that much of the silence is central's, not the nodes'.
      // The loop's busy and idle time since the last tick: together, the period's length.
      const loop = performance.eventLoopUtilization(loopFrom);
      loopFrom = performance.eventLoopUtilization();
      deaf.record(now, loop.active + loop.idle, loop.utilization, Math.max(0, now - due));
      running = sweepSilentNodes(services, deaf.graceMs())
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
    // The last kept beats: a central stopping must not leave its nodes looking silent longer.
    await flushHeartbeats(services).catch((error: unknown) =>
      services.log.warn(`could not write the last heartbeats: ${(error as Error).message}`),
    );
  };
}
