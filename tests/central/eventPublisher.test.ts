// Central's event bus on real PostgreSQL (LISTEN/NOTIFY) under concurrent publishing: two buses on
// one database, as two centrals have, each publishing hundreds of events at once. Every event
// reaches every bus exactly once, and pg never warns that a query was sent to a client already
// executing one (the publisher used to be one pg.Client shared by every request). A payload on the
// channel that is no event (another program's NOTIFY, a bug) is logged with its fault's place and
// skipped: the listener goes on to the next one.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger, silentLogger } from '../../lib/log.ts';
import {
  createPostgresEventBus,
  type CentralEvent,
  type EventBus,
} from '../../subgraphs/central/events.ts';
import type { SyncSessionSnapshot } from '../../subgraphs/central/sync/snapshot.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres, type PostgresCluster } from '../helpers/postgres.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const PER_BUS = 300;
const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
let buses: EventBus[];
let cluster: PostgresCluster;

beforeAll(async () => {
  process.on('warning', onWarning);
  leftovers.defer(() => {
    process.off('warning', onWarning);
  });
  cluster = leftovers.add(await startPostgres(), (c) => c.stop());
  const url = await cluster.createDatabase('event_publisher');
  buses = [];
  for (let i = 0; i < 2; i += 1)
    buses.push(
      leftovers.add(await createPostgresEventBus(url, silentLogger), (bus) => bus.close()),
    );
});

describe('the PostgreSQL event bus', () => {
  it('delivers every event published at once to every replica exactly once, with no pg warning', async () => {
    const received = buses.map(() => new Map<string, number>());
    buses.forEach((bus, i) =>
      bus.subscribe((event: CentralEvent) => {
        if (event.type !== 'roomChanged') return;
        const seen = received[i] as Map<string, number>;
        seen.set(event.roomId, (seen.get(event.roomId) ?? 0) + 1);
      }),
    );
    const ids = buses.flatMap((_, b) =>
      Array.from({ length: PER_BUS }, (_, n) => `room-${b}-${n}`),
    );
    // Not awaited one by one: every publish is in flight at once, as from concurrent requests.
    await Promise.all(
      ids.map((roomId, n) =>
        (buses[n < PER_BUS ? 0 : 1] as EventBus).publish({ type: 'roomChanged', roomId }),
      ),
    );
    for (const seen of received) {
      await expect.poll(() => seen.size, { timeout: 30_000 }).toBe(ids.length);
      expect([...seen.values()].every((count) => count === 1)).toBe(true);
    }
    expect(warnings).toEqual([]);
  });
});

const session: SyncSessionSnapshot = {
  id: '0190f0a0-0000-7000-8000-000000000001',
  sourceNodeId: 'node-a',
  targetNodeId: 'node-b',
  status: 'IN_PROGRESS',
  syncType: 'FULL',
  trigger: 'MANUAL',
  messagesSynced: 3,
  messagesChecked: 4,
  messagesTotal: null,
  startedAt: 1_700_000_000_000,
  dispatchedAt: 1_700_000_000_100,
  completedAt: null,
  error: null,
  cursorBefore: 0,
  cursorAfter: 7,
  digestsMatch: null,
  messagesQuarantined: 1,
  entriesRefused: 0,
  liveReportSeq: null,
  reportSeq: null,
  ownerInstanceId: 'instance-1',
  updatedAt: 1_700_000_000_200,
};

describe("the PostgreSQL event bus's listener", () => {
  it('logs a payload that is no event with its fault, skips it, and delivers the next event', async () => {
    const url = await cluster.createDatabase('event_payloads');
    const lines: string[] = [];
    const logger = createLogger('central', { level: 'warn', write: (line) => lines.push(line) });
    const bus = leftovers.add(await createPostgresEventBus(url, logger), (b) => b.close());
    const received: CentralEvent[] = [];
    bus.subscribe((event) => received.push(event));

    // Sent by pg directly, on one connection: delivered in this order, the good event last.
    const notifier = new pg.Client({ connectionString: url });
    await notifier.connect();
    leftovers.defer(() => notifier.end());
    const good: CentralEvent = { type: 'syncSessionUpdated', session };
    for (const payload of [
      'not json {',
      JSON.stringify({ type: 'roomChanged', roomId: 42 }),
      JSON.stringify({ type: 'syncSessionUpdated', session: { ...session, startedAt: 'today' } }),
      JSON.stringify({ type: 'nodeNotice', nodeIds: ['n1'], fenceId: 'f1', notice: {} }),
      JSON.stringify({ roomId: 'r1' }),
      // A newer central's kind of event: skipped, but no fault of the payload's.
      JSON.stringify({ type: 'somethingNew', roomId: 'r1' }),
      JSON.stringify(good),
    ])
      await notifier.query('SELECT pg_notify($1, $2)', ['switchboard_events', payload]);

    await expect.poll(() => received.length).toBe(1);
    expect(received).toEqual([good]);
    expect(lines).toEqual([
      expect.stringMatching(
        /^\[central\] warn: ignored a malformed event on switchboard_events: not JSON \(/,
      ),
      '[central] warn: ignored a malformed event on switchboard_events: event.roomId: expected a non-empty string',
      expect.stringMatching(
        /^\[central\] warn: ignored a malformed event on switchboard_events: event\.session\.startedAt: /,
      ),
      expect.stringMatching(
        /^\[central\] warn: ignored a malformed event on switchboard_events: event\.notice\.kind: /,
      ),
      expect.stringMatching(
        /^\[central\] warn: ignored a malformed event on switchboard_events: event\.type: /,
      ),
    ]);

    // A real session's snapshot, published by the bus itself, passes the schema whole.
    const published: CentralEvent = {
      type: 'syncSessionUpdated',
      session: { ...session, status: 'COMPLETED', completedAt: 1_700_000_000_300 },
    };
    await bus.publish(published);
    await expect.poll(() => received.length).toBe(2);
    expect(received[1]).toEqual(published);
    expect(lines).toHaveLength(5);
  });
});
