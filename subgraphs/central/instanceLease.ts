// This central process's row in central_instances: a random id taken at start and a lease it
// renews every third of its length. The sessions it dispatches name it as their owner; another
// central takes them over only once the lease has expired, so a central that starts (or a spare
// with no node attached) never fails the sessions of centrals that are alive. Times are the
// database's (now()): the centrals' clocks may differ, the database's is one.
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Logger } from '../../lib/log.ts';
import type { CentralDatabase } from './db/open.ts';
import { centralInstances } from './db/schema.ts';

/** @see InstanceLeaseOptions.leaseMs */
export const DEFAULT_INSTANCE_LEASE_MS = 15_000;
/** Rows of instances whose lease ended this long ago are deleted (their sessions are long taken over). */
const FORGET_AFTER = sql`interval '1 day'`;

export interface InstanceLeaseOptions {
  readonly db: CentralDatabase;
  readonly log: Logger;
  /**
   * How long the lease runs after each renewal: after a crash, this long (plus a sweep) passes
   * before another central takes over the sessions this one sent. @default 15000
   */
  readonly leaseMs?: number;
}

export interface InstanceLease {
  readonly id: string;
  readonly leaseMs: number;
  /** Ends the lease at once: another central may take over this one's sessions now. */
  close(): Promise<void>;
}

export async function startInstanceLease(options: InstanceLeaseOptions): Promise<InstanceLease> {
  const { db, log } = options;
  const leaseMs = options.leaseMs ?? DEFAULT_INSTANCE_LEASE_MS;
  const id = randomUUID();
  const expires = sql`now() + ${leaseMs} * interval '1 millisecond'`;
  // An upsert, not an update: a row another central pruned (this process was frozen for a day)
  // comes back.
  const renew = () =>
    db
      .insert(centralInstances)
      .values({ id, leaseExpiresAt: expires })
      .onConflictDoUpdate({ target: centralInstances.id, set: { leaseExpiresAt: expires } });
  await renew();
  await db
    .delete(centralInstances)
    .where(sql`${centralInstances.leaseExpiresAt} < now() - ${FORGET_AFTER}`);
  let closed = false;
  let running: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      running = renew().catch((error: unknown) =>
        // The next renewal may succeed; if none does for a whole lease, others take over.
        log.warn(`could not renew this central's lease: ${(error as Error).message}`),
      );
    },
    Math.max(10, Math.floor(leaseMs / 3)),
  );
  timer.unref();
  return {
    id,
    leaseMs,
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await running;
      await db.delete(centralInstances).where(eq(centralInstances.id, id));
    },
  };
}
