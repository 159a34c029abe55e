// The coordinator's topology: the rooms' placement is read once and kept until an event says it
// changed, the nodes are read every time. Real PGlite; queries counted through the driver's log.
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { openCentralDb } from '../../subgraphs/central/db/open.ts';
import { nodes, rooms } from '../../subgraphs/central/db/schema.ts';
import { writableRoomsOf } from '../../subgraphs/central/nodeNotices.ts';
import { TopologyCache } from '../../subgraphs/central/sync/topology.ts';
import { seedCentralDataDir } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const node = (id: string) => ({ id, name: id, url: `http://${id}`, apiKeyHash: `hash-${id}` });

describe('TopologyCache', () => {
  it('reads the rooms once between invalidations, the nodes every time', async () => {
    const queries: string[] = [];
    // From the run's migrated template: a first PGlite start (initdb, every migration) is seconds.
    const dataDir = await leftovers.tempDir('switchboard-topology-');
    await seedCentralDataDir(dataDir);
    const central = await openCentralDb({ dataDir, onQuery: (sql) => queries.push(sql) });
    leftovers.defer(() => central.close());
    const { db } = central;
    await db.insert(nodes).values([node('a'), node('b')]);
    await db.insert(rooms).values({ id: 'r1', name: 'r1', homeNodeId: 'a', replicaNodeIds: null });
    // Relative to what the setup read (the migrations and inserts may read rooms too).
    const readsBefore = queries.filter((q) => /^select .* from "rooms"/i.test(q)).length;
    const roomReads = () =>
      queries.filter((q) => /^select .* from "rooms"/i.test(q)).length - readsBefore;
    const cache = new TopologyCache(db);

    expect((await cache.get()).sharedRooms('a', 'b')).toEqual(['r1']);
    await db.update(nodes).set({ status: 'ONLINE' }).where(eq(nodes.id, 'b'));
    await db.insert(rooms).values({ id: 'r2', name: 'r2', homeNodeId: 'a', replicaNodeIds: null });
    const second = await cache.get();
    // The nodes are fresh; the placement is the one kept (no event said it changed).
    expect(second.nodes.get('b')?.status).toBe('ONLINE');
    expect(second.sharedRooms('a', 'b')).toEqual(['r1']);
    expect(roomReads()).toBe(1);

    cache.invalidate();
    expect((await cache.get()).sharedRooms('a', 'b')).toEqual(['r1', 'r2']);
    expect(roomReads()).toBe(2);

    // A node registered: rooms without a replica list are on it too, without another room read.
    await db.insert(nodes).values(node('c'));
    const third = await cache.get();
    expect(third.sharedRooms('a', 'c')).toEqual(['r1', 'r2']);
    expect(third.storage.get('r1')).toEqual(['a', 'b', 'c']);
    expect(roomReads()).toBe(2);

    // The rooms a node takes writes for, from the kept placement: the same list, in the same
    // order, as the tables give (the coordinator compares the two to decide whether to resend).
    // A node listed among a room's former holders is leaving it and takes no writes there.
    await db.insert(rooms).values([
      { id: 'r0', name: 'r0', homeNodeId: 'b', replicaNodeIds: ['c'] },
      { id: 'r3', name: 'r3', homeNodeId: 'a', replicaNodeIds: ['b'], formerHolderIds: ['b'] },
    ]);
    cache.invalidate();
    const fourth = await cache.get();
    for (const id of ['a', 'b', 'c'])
      expect(fourth.writableRoomsOf(id)).toEqual(await writableRoomsOf(db, id));
    expect(fourth.writableRoomsOf('b')).toEqual(['r0', 'r1', 'r2']);
    expect(fourth.writableRoomsOf('a')).toEqual(['r1', 'r2', 'r3']);
    expect(fourth.writableRoomsOf('c')).toEqual(['r0', 'r1', 'r2']);
  });
});
