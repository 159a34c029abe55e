// Central's change events (node status, registrations, rooms, sync sessions). In process by default; on real
// PostgreSQL they travel through LISTEN/NOTIFY so every central (and later gateway) replica sees
// every change, whichever replica made it.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { Backoff } from '../../lib/backoff.ts';
import type { Logger } from '../../lib/log.ts';
import type { SyncSessionSnapshot } from './sync/snapshot.ts';

export type CentralEvent =
  | { readonly type: 'nodeStatusChanged'; readonly nodeId: string; readonly status: string }
  | { readonly type: 'nodeChanged'; readonly nodeId: string }
  | { readonly type: 'roomChanged'; readonly roomId: string }
  /**
   * Carries the session as it was at that change: a subscriber sees every state (PENDING, then
   * IN_PROGRESS...) even when the row has moved on by the time the event is delivered.
   */
  | { readonly type: 'syncSessionUpdated'; readonly session: SyncSessionSnapshot }
  /** For the centrals holding these nodes' job streams: send them `notice` (nodeNotices.ts). */
  | {
      readonly type: 'nodeNotice';
      readonly nodeIds: readonly string[];
      readonly fenceId: string;
      readonly notice: NodeNotice;
    }
  /** A node acknowledged the notice `fenceId`. */
  | { readonly type: 'noticeAcked'; readonly nodeId: string; readonly fenceId: string };

/** What a node is told and acknowledges: its writable rooms now, or a member removed. */
export type NodeNotice =
  | { readonly kind: 'placement' }
  | { readonly kind: 'membership'; readonly roomId: string; readonly userId: string };

export type EventListener = (event: CentralEvent) => void;

export interface EventBus {
  publish(event: CentralEvent): Promise<void>;
  /** Returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'switchboard_events';
/** Connections publishing at once; more publishes wait in the pool's queue. */
const PUBLISH_CONNECTIONS = 4;

export function createLocalEventBus(): EventBus {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    publish(event) {
      emitter.emit('event', event);
      return Promise.resolve();
    },
    subscribe(listener) {
      emitter.on('event', listener);
      return () => emitter.off('event', listener);
    },
    close() {
      emitter.removeAllListeners();
      return Promise.resolve();
    },
  };
}

/**
 * LISTEN/NOTIFY bus. Local listeners hear events only through NOTIFY, including this replica's
 * own, so every replica sees the same events in the same order.
 */
export async function createPostgresEventBus(databaseUrl: string, log: Logger): Promise<EventBus> {
  const local = createLocalEventBus();
  let closed = false;
  let listener: pg.Client | undefined;
  // NOTIFY goes through a pool of its own: one pg.Client takes one query at a time (pg warns, and
  // pg@9 refuses, when a second is sent before the first is answered), and events are published
  // from many requests at once. Its own, not the database's: reports waiting on locks can hold
  // every connection of that one, and events (a node going OFFLINE) must not wait behind them.
  const publisher = new pg.Pool({ connectionString: databaseUrl, max: PUBLISH_CONNECTIONS });
  publisher.on('error', (error) => log.warn(`event publisher: ${error.message}`));
  // Fails here, at start, if the database is unreachable, as the LISTEN below would.
  await publisher.query('SELECT 1');
  // A reconnect that fails is tried again, later and later, until PostgreSQL is back.
  const backoff = new Backoff({ initialMs: 1000, maxMs: 30_000 });
  let reconnecting = false;
  const reconnect = () => {
    if (closed || reconnecting) return;
    reconnecting = true;
    setTimeout(() => {
      reconnecting = false;
      if (closed) return;
      connect().then(
        () => backoff.reset(),
        (error: Error) => {
          log.warn(`event listener could not reconnect (${error.message}); retrying`);
          reconnect();
        },
      );
    }, backoff.next()).unref();
  };

  const connect = async (): Promise<void> => {
    const client = new pg.Client({ connectionString: databaseUrl });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || message.payload === undefined) return;
      try {
        void local.publish(JSON.parse(message.payload) as CentralEvent);
      } catch (error) {
        log.warn(`ignored malformed event: ${(error as Error).message}`);
      }
    });
    client.on('error', (error) => {
      log.warn(`event listener lost its connection (${error.message}); reconnecting`);
      void client.end().catch(() => {});
      reconnect();
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      void client.end().catch(() => {});
      throw error;
    }
    listener = client;
  };
  await connect();

  return {
    async publish(event) {
      await publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(event)]);
    },
    subscribe: (l) => local.subscribe(l),
    async close() {
      closed = true;
      await local.close();
      await Promise.allSettled([listener?.end(), publisher.end()]);
    },
  };
}
