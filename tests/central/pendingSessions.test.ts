// The dispatcher's view of a target's queue (sessions.ts pendingSessionsOf): a PENDING session whose
// pair already runs a dispatched session is left out, since claiming it would be refused by the
// one-running-per-pair index; a live window of the pair blocks nothing. Real PGlite.
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { nodes, syncSessions } from '../../subgraphs/central/db/schema.ts';
import {
  claimSession,
  enqueueSession,
  pendingSessionsOf,
} from '../../subgraphs/central/sync/sessions.ts';
import { seedCentralDataDir } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const node = (id: string) => ({ id, name: id, url: `http://${id}`, apiKeyHash: `hash-${id}` });

describe('pendingSessionsOf', () => {
  it('leaves out the sessions of pairs that run a dispatched session, not those of live windows', async () => {
    const dataDir = await leftovers.tempDir('switchboard-pending-');
    await seedCentralDataDir(dataDir);
    const central = await openCentralDb({ dataDir });
    leftovers.defer(() => central.close());
    const { db } = central;
    await db.insert(nodes).values([node('a'), node('b'), node('c')]);

    const first = await enqueueSession(
      db,
      { sourceNodeId: 'a', targetNodeId: 'b' },
      'INCREMENTAL',
      'CHANGE',
    );
    expect(await claimSession(db, first.session, ['r1'], 'instance-1')).not.toBeNull();
    // The pair's next request queues behind the running one.
    const queued = await enqueueSession(
      db,
      { sourceNodeId: 'a', targetNodeId: 'b' },
      'INCREMENTAL',
      'CHANGE',
    );
    expect(queued.created).toBe(true);
    const other = await enqueueSession(
      db,
      { sourceNodeId: 'c', targetNodeId: 'b' },
      'INCREMENTAL',
      'SCHEDULE',
    );
    // A live window of c -> b runs beside its scheduled sessions.
    await db.insert(syncSessions).values({
      id: 'window-1',
      sourceNodeId: 'c',
      targetNodeId: 'b',
      status: 'IN_PROGRESS',
      syncType: 'INCREMENTAL',
      trigger: 'CHANGE',
      liveReportSeq: 1,
    });

    expect((await pendingSessionsOf(db, 'b')).map((s) => s.id)).toEqual([other.session.id]);
    // Claiming the left-out one is what the filter spares: the index refuses it.
    expect(await claimSession(db, queued.session, ['r1'], 'instance-1')).toBeNull();

    // Once the running session ended, the queued one is offered again.
    await db
      .update(syncSessions)
      .set({ status: 'COMPLETED', completedAt: new Date() })
      .where(eq(syncSessions.id, first.session.id));
    expect((await pendingSessionsOf(db, 'b')).map((s) => s.id).sort()).toEqual(
      [queued.session.id, other.session.id].sort(),
    );
  });
});
