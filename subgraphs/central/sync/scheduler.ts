// Scheduled sync: every node with syncEnabled pulls INCREMENTAL from its peers every
// autoSyncInterval seconds (one timer per node, re-armed when updateNode changes it). With several
// central replicas on PostgreSQL only the holder of an advisory lock schedules; the others retry
// to take it over, so scheduling survives the leader's death.
import { eq } from 'drizzle-orm';
import pg from 'pg';
import { nodeLabel } from '../../../lib/syncProtocol.ts';
import type { CentralServices } from '../context.ts';
import { activeNode, nodes } from '../db/schema.ts';
import type { SyncCoordinator } from './coordinator.ts';

export interface SyncSchedulerOptions {
  readonly services: Pick<CentralServices, 'db' | 'events' | 'log'>;
  readonly coordinator: Pick<SyncCoordinator, 'schedule'>;
  /** Real PostgreSQL: elect one scheduler among the replicas. Unset (PGlite): always schedule. */
  readonly databaseUrl?: string;
  /** Milliseconds per unit of autoSyncInterval; tests shorten it. @default 1000 */
  readonly unitMs?: number;
  /** How often a replica that is not the scheduler tries to become it. @default 10000 */
  readonly leaderRetryMs?: number;
}

export interface SyncScheduler {
  /** Whether this replica schedules now. */
  readonly leading: () => boolean;
  close(): Promise<void>;
}

// Any fixed number distinct from the migration lock in db/open.ts.
const SCHEDULER_LOCK = 727_002;

export async function startSyncScheduler(options: SyncSchedulerOptions): Promise<SyncScheduler> {
  const { db, events, log } = options.services;
  const unitMs = options.unitMs ?? 1000;
  const timers = new Map<string, { seconds: number; timer: NodeJS.Timeout }>();
  let leading = false;
  let closed = false;
  let lockClient: pg.Client | undefined;
  let retry: NodeJS.Timeout | undefined;

  const disarm = (nodeId: string) => {
    const current = timers.get(nodeId);
    if (current) clearInterval(current.timer);
    timers.delete(nodeId);
  };
  const arm = async (nodeId: string) => {
    const [node] = await db.select().from(nodes).where(eq(nodes.id, nodeId));
    if (!leading || closed || !node || node.removedAt !== null || !node.syncEnabled)
      return disarm(nodeId);
    if (timers.get(nodeId)?.seconds === node.autoSyncInterval) return;
    disarm(nodeId);
    const timer = setInterval(() => {
      options.coordinator
        .schedule(nodeId)
        .catch((error: unknown) =>
          log.error(`scheduled sync of node ${nodeLabel(node)} failed`, error),
        );
    }, node.autoSyncInterval * unitMs);
    timer.unref();
    timers.set(nodeId, { seconds: node.autoSyncInterval, timer });
  };
  /** Every active node's timer from its row, and any armed timer whose node is gone dropped. */
  const armAll = async () => {
    const active = await db.select({ id: nodes.id }).from(nodes).where(activeNode);
    for (const id of new Set([...timers.keys(), ...active.map((n) => n.id)])) await arm(id);
  };
  const stopLeading = () => {
    leading = false;
    for (const id of [...timers.keys()]) disarm(id);
  };

  const unsubscribe = events.subscribe((event) => {
    if (event.type !== 'nodeChanged' || !leading) return;
    arm(event.nodeId).catch((error: unknown) => log.error('re-arming a sync timer failed', error));
  });
  // A nodeChanged missed while the bus's listener reconnected (an interval changed, a node added
  // or removed) would leave its timer as it was: every timer is armed again from its node's row.
  const unsubscribeGap = events.onGap(() => {
    if (!leading) return;
    armAll().catch((error: unknown) => log.error('re-arming the sync timers failed', error));
  });

  const tryLead = async (): Promise<void> => {
    if (closed || leading) return;
    if (options.databaseUrl === undefined) {
      leading = true;
    } else {
      const client = new pg.Client({ connectionString: options.databaseUrl });
      client.on('error', (error) => {
        log.warn(`sync scheduler lost its lock connection (${error.message})`);
        stopLeading();
        void client.end().catch(() => {});
        if (lockClient === client) lockClient = undefined;
      });
      try {
        await client.connect();
        const result = await client.query<{ locked: boolean }>(
          'SELECT pg_try_advisory_lock($1) AS locked',
          [SCHEDULER_LOCK],
        );
        if (result.rows[0]?.locked !== true || closed) {
          await client.end();
          return;
        }
        lockClient = client;
        leading = true;
      } catch (error) {
        log.warn(`sync scheduler could not take its lock: ${(error as Error).message}`);
        await client.end().catch(() => {});
        return;
      }
    }
    log.info('this central schedules the nodes’ periodic syncs');
    await armAll();
  };

  await tryLead();
  if (options.databaseUrl !== undefined) {
    retry = setInterval(() => {
      tryLead().catch((error: unknown) => log.warn(`sync scheduler: ${(error as Error).message}`));
    }, options.leaderRetryMs ?? 10_000);
    retry.unref();
  }

  return {
    leading: () => leading,
    async close() {
      closed = true;
      if (retry) clearInterval(retry);
      unsubscribe();
      unsubscribeGap();
      stopLeading();
      await lockClient?.end().catch(() => {});
    },
  };
}
