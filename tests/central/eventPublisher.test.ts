// Central's event bus on real PostgreSQL (LISTEN/NOTIFY) under concurrent publishing: two buses on
// one database, as two centrals have, each publishing hundreds of events at once. Every event
// reaches every bus exactly once, and pg never warns that a query was sent to a client already
// executing one (the publisher used to be one pg.Client shared by every request).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../lib/log.ts';
import {
  createPostgresEventBus,
  type CentralEvent,
  type EventBus,
} from '../../subgraphs/central/events.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startPostgres } from '../helpers/postgres.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const PER_BUS = 300;
const warnings: string[] = [];
const onWarning = (warning: Error) => warnings.push(`${warning.name}: ${warning.message}`);
let buses: EventBus[];

beforeAll(async () => {
  process.on('warning', onWarning);
  leftovers.defer(() => {
    process.off('warning', onWarning);
  });
  const url = await leftovers
    .add(await startPostgres(), (cluster) => cluster.stop())
    .createDatabase('event_publisher');
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
