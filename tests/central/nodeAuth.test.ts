// The node-row cache of central's authentication (nodeAuth.ts), as another central sharing the
// database changes a node: its event forgets the row at once, and without an event the TTL bounds
// how long the old key is taken. Real PGlite; the other central's change is a direct UPDATE, its
// event published on this central's bus as the LISTEN/NOTIFY bus would deliver it.
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashApiKey, NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { openCentralDb, type CentralDb } from '../../subgraphs/central/db/open.ts';
import { nodes } from '../../subgraphs/central/db/schema.ts';
import { createLocalEventBus } from '../../subgraphs/central/events.ts';
import { NodeAuthenticator } from '../../subgraphs/central/nodeAuth.ts';
import { seedCentralDataDir } from '../helpers/centralData.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const queries: string[] = [];
let central: CentralDb;
const keyLookups = () => queries.filter((q) => /from "nodes" where .*"api_key_hash"/i.test(q));
const withKey = (key: string) => ({ headers: { [NODE_KEY_HEADER]: key } });

beforeAll(async () => {
  const dataDir = await leftovers.tempDir('switchboard-node-auth-');
  await seedCentralDataDir(dataDir);
  central = await openCentralDb({ dataDir, onQuery: (sql) => queries.push(sql) });
  leftovers.defer(() => central.close());
});

async function registered(id: string, key: string): Promise<void> {
  await central.db
    .insert(nodes)
    .values({ id, name: id, url: `http://${id}`, apiKeyHash: hashApiKey(key) });
}

describe('NodeAuthenticator', () => {
  it('reads a key once, and forgets it when another central says the node changed', async () => {
    const events = createLocalEventBus();
    const auth = new NodeAuthenticator(central.db, events, 600_000);
    leftovers.defer(() => auth.close());
    await registered('evented', 'key-evented');
    const before = keyLookups().length;
    for (let i = 0; i < 5; i += 1)
      expect((await auth.authenticate(withKey('key-evented')))?.id).toBe('evented');
    expect(keyLookups().length - before).toBe(1);
    expect(await auth.authenticate(withKey('no-such-key'))).toBeNull();

    // Rotated elsewhere: the old key still works here until the event arrives, not after it.
    await central.db
      .update(nodes)
      .set({ apiKeyHash: hashApiKey('key-evented-2') })
      .where(eq(nodes.id, 'evented'));
    expect((await auth.authenticate(withKey('key-evented')))?.id).toBe('evented');
    await events.publish({ type: 'nodeChanged', nodeId: 'evented' });
    expect(await auth.authenticate(withKey('key-evented'))).toBeNull();
    expect((await auth.authenticate(withKey('key-evented-2')))?.id).toBe('evented');
  });

  it('takes a removed node no longer than the TTL without an event', async () => {
    const auth = new NodeAuthenticator(central.db, createLocalEventBus(), 300);
    leftovers.defer(() => auth.close());
    await registered('silent', 'key-silent');
    expect((await auth.authenticate(withKey('key-silent')))?.id).toBe('silent');
    await central.db.update(nodes).set({ removedAt: new Date() }).where(eq(nodes.id, 'silent'));
    await expect.poll(() => auth.authenticate(withKey('key-silent'))).toBeNull();
  });
});
