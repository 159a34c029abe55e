// What central keeps until an event says it changed is read again when events may have been missed
// (#15): its event listener's connection to PostgreSQL is cut (pg_terminate_backend, as a failover
// or a restart of PostgreSQL would), rows change meanwhile without any NOTIFY, and once the
// listener is back (the bus's gap) the node-row cache, the coordinator's placement, the membership
// tags and the gateways' event streams no longer hold what they held. The caches' TTLs are set far
// beyond the test, so only the gap can make them read again. A real central on the run's
// PostgreSQL; requests through its HTTP API with the node's key.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { GATEWAY_PREFIX, GATEWAY_SECRET_HEADER } from '../../lib/gatewayProtocol.ts';
import { SYNC_PULL_REQUEST_PATH } from '../../lib/syncProtocol.ts';
import {
  EVENT_LISTENER_APPLICATION_NAME,
  type CentralEvent,
} from '../../subgraphs/central/events.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { centralTestDatabase } from '../helpers/centralData.ts';
import { TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { createPlacedRoom, onlineNodes, type ProtocolNode } from '../helpers/syncCluster.ts';
import { postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const QUIET_MS = 600_000;
let t: TestCentral;
let admin: pg.Client;
let a: ProtocolNode;
let b: ProtocolNode;
let c: ProtocolNode;
let room: string;

/** A request of node `key` that reads no row it writes: 401 once its key is no node's. */
const askAsNode = async (key: string) =>
  (await postAsNode(t.url, key, SYNC_PULL_REQUEST_PATH, { sourceNodeId: 'no-such-node' })).status;

/** Every event this central heard, in order. */
const heard: CentralEvent[] = [];

beforeAll(async () => {
  const databaseUrl = await centralTestDatabase(leftovers);
  if (databaseUrl === undefined) throw new Error("the test needs the run's PostgreSQL");
  t = await startTestCentral(leftovers, {
    databaseUrl,
    heartbeatIntervalMs: QUIET_MS,
    instanceLeaseMs: QUIET_MS,
    nodeAuthTtlMs: QUIET_MS,
    roomMembersTagMaxAgeMs: QUIET_MS,
  });
  leftovers.defer(t.central.services.events.subscribe((event) => heard.push(event)));
  admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  leftovers.defer(() => admin.end());
  [a, b, c] = (await onlineNodes(t, ['gap-a', 'gap-b', 'gap-c'])) as [
    ProtocolNode,
    ProtocolNode,
    ProtocolNode,
  ];
  const alice = await t.createUser('alice');
  room = await createPlacedRoom(t, alice, a.id, [b.id], 'gapped');
  // The events of all that came back (through NOTIFY): none arrives later to forget what the test
  // has central keep.
  await vi.waitFor(() => {
    expect(heard.some((e) => e.type === 'nodeStatusChanged' && e.nodeId === c.id)).toBe(true);
    expect(heard.some((e) => e.type === 'roomChanged' && e.roomId === room)).toBe(true);
  });
});

const storageOf = async (roomId: string) =>
  [...((await t.central.services.sync.topology()).storage.get(roomId) ?? [])].sort();

/** Cuts the central's LISTEN connection and resolves once the bus says it is back. */
async function cutListener(): Promise<void> {
  const back = new Promise<void>((resolve) => {
    const off = t.central.services.events.onGap(() => {
      off();
      resolve();
    });
  });
  const cut = await admin.query<{ cut: boolean }>(
    `select pg_terminate_backend(pid) as cut from pg_stat_activity
      where datname = current_database() and application_name = $1`,
    [EVENT_LISTENER_APPLICATION_NAME],
  );
  expect(cut.rows).toEqual([{ cut: true }]);
  await back;
}

describe('events missed while the listener reconnects', () => {
  it('are made up for: every event-kept cache reads again once the listener is back', async () => {
    // a's row is kept (for the long TTL), and the room's placement.
    expect(await askAsNode(a.apiKey)).toBe(200);
    expect(await storageOf(room)).toEqual([a.id, b.id].sort());
    const tags = t.central.services.roomMembersTags;
    const tag = tags.begin([room]);
    expect(tags.matches(tag, [room])).toBe(true);
    const gateway = await fetch(new URL(`${GATEWAY_PREFIX}events`, t.url), {
      headers: { [GATEWAY_SECRET_HEADER]: TEST_GATEWAY_SECRET },
    });
    expect(gateway.status).toBe(200);
    const streamEnded = gateway.text().then(() => true);

    // Behind central's back, no NOTIFY: a's key is another now, c stores the room too.
    await admin.query(`update nodes set api_key_hash = $1 where id = $2`, ['0'.repeat(64), a.id]);
    await admin.query(`update rooms set replica_node_ids = $1 where id = $2`, [[b.id, c.id], room]);
    // Kept: what central holds has not changed.
    expect(await askAsNode(a.apiKey)).toBe(200);
    expect(await storageOf(room)).toEqual([a.id, b.id].sort());

    await cutListener();
    expect(await askAsNode(a.apiKey)).toBe(401);
    expect(await askAsNode(b.apiKey)).toBe(200);
    expect(await storageOf(room)).toEqual([a.id, b.id, c.id].sort());
    expect(tags.matches(tag, [room])).toBe(false);
    // The gateway connects again and reloads what it routes by.
    expect(await streamEnded).toBe(true);

    // And events come through the new connection.
    const count = heard.length;
    await t.central.services.events.publish({ type: 'roomChanged', roomId: room });
    await expect
      .poll(() => heard.slice(count))
      .toContainEqual({ type: 'roomChanged', roomId: room });
  });
});
