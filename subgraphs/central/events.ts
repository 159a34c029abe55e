// Central's change events (node status, registrations, rooms, sync sessions). In process by default; on real
// PostgreSQL they travel through LISTEN/NOTIFY so every central (and later gateway) replica sees
// every change, whichever replica made it.
import { EventEmitter } from 'node:events';
import pg from 'pg';
import { z } from 'zod';
import { Backoff } from '../../lib/backoff.ts';
import { GatewayEventSchema } from '../../lib/gatewayProtocol.ts';
import type { Logger } from '../../lib/log.ts';
import { describeIssue, nonEmptyString } from '../../lib/wire.ts';
import { SyncSessionSnapshotSchema } from './sync/snapshot.ts';

/** What a node is told and acknowledges: its writable rooms now, or a member removed. */
const NodeNoticeSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('placement') }).readonly(),
  z
    .object({ kind: z.literal('membership'), roomId: nonEmptyString, userId: nonEmptyString })
    .readonly(),
]);
export type NodeNotice = z.infer<typeof NodeNoticeSchema>;

/**
 * Central's events as they travel between centrals (NOTIFY). The first three are also what central
 * streams to gateways, read there by the same schemas (lib/gatewayProtocol.ts).
 */
const CentralEventSchema = z.discriminatedUnion('type', [
  ...GatewayEventSchema.unwrap().options,
  /**
   * Carries the session as it was at that change: a subscriber sees every state (PENDING, then
   * IN_PROGRESS...) even when the row has moved on by the time the event is delivered.
   */
  z
    .object({ type: z.literal('syncSessionUpdated'), session: SyncSessionSnapshotSchema })
    .readonly(),
  /** For the centrals holding these nodes' job streams: send them `notice` (nodeNotices.ts). */
  z
    .object({
      type: z.literal('nodeNotice'),
      nodeIds: z.array(nonEmptyString).readonly(),
      fenceId: nonEmptyString,
      notice: NodeNoticeSchema,
    })
    .readonly(),
  /** A node acknowledged the notice `fenceId`. */
  z
    .object({ type: z.literal('noticeAcked'), nodeId: nonEmptyString, fenceId: nonEmptyString })
    .readonly(),
]);
export type CentralEvent = z.infer<typeof CentralEventSchema>;

/**
 * A NOTIFY payload as an event, or why it is none. An event of a type this central does not know
 * (a newer central's, during a rolling upgrade) is no fault: `unknown`, skipped without a warning.
 */
export function readEventPayload(
  payload: string,
): { readonly event: CentralEvent } | { readonly unknown: string } | { readonly fault: string } {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch (error) {
    return { fault: `not JSON (${(error as Error).message})` };
  }
  const result = CentralEventSchema.safeParse(value);
  if (result.success) return { event: result.data };
  const type = (value as { type?: unknown } | null)?.type;
  if (typeof type === 'string' && !KNOWN_TYPES.has(type)) return { unknown: type };
  const issue = result.error.issues[0];
  return { fault: issue ? describeIssue(issue, 'event') : 'invalid' };
}

const KNOWN_TYPES: ReadonlySet<string> = new Set(
  CentralEventSchema.options.map((option) => option.unwrap().shape.type.value),
);

export type EventListener = (event: CentralEvent) => void;
/** Events may have been missed: see EventBus.onGap. */
export type GapListener = () => void;

export interface EventBus {
  publish(event: CentralEvent): Promise<void>;
  /** Returns the function that unsubscribes. */
  subscribe(listener: EventListener): () => void;
  /**
   * `listener` runs when events may have been missed: the bus lost its way to the events (the
   * LISTEN connection dropped) and has it back. Whatever is kept until an event says it changed
   * must be read again then, or it stays wrong until its age runs out (or for good). Never on the
   * in-process bus: it loses nothing. Returns the function that unsubscribes.
   */
  onGap(listener: GapListener): () => void;
  close(): Promise<void>;
}

const CHANNEL = 'switchboard_events';
/** The LISTEN connection's application_name (pg_stat_activity). */
export const EVENT_LISTENER_APPLICATION_NAME = 'switchboard-central-events';
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
    onGap() {
      return () => {};
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
  const gapListeners = new Set<GapListener>();
  let closed = false;
  let listener: pg.Client | undefined;
  /** Set once LISTEN first succeeded: every later LISTEN follows a drop, hence a gap. */
  let listened = false;
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
    // Named, so that an operator (or a test) finds it among the database's connections.
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: EVENT_LISTENER_APPLICATION_NAME,
    });
    client.on('notification', (message) => {
      if (message.channel !== CHANNEL || message.payload === undefined) return;
      // Never thrown into pg's notification handler: one bad payload must not cost the others.
      const read = readEventPayload(message.payload);
      if ('event' in read) void local.publish(read.event);
      else if ('fault' in read)
        log.warn(`ignored a malformed event on ${message.channel}: ${read.fault}`);
      else log.debug(`ignored an event of unknown type ${read.unknown} on ${message.channel}`);
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
    if (listened) {
      // Only now: events NOTIFYed before this LISTEN are lost for good, those after it arrive.
      log.info('event listener is back: events may have been missed, what they keep is read again');
      for (const gap of [...gapListeners]) {
        try {
          gap();
        } catch (error) {
          log.error('a listener of the event gap failed', error);
        }
      }
    }
    listened = true;
  };
  await connect();

  return {
    async publish(event) {
      await publisher.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify(event)]);
    },
    subscribe: (l) => local.subscribe(l),
    onGap(gap) {
      gapListeners.add(gap);
      return () => void gapListeners.delete(gap);
    },
    async close() {
      closed = true;
      gapListeners.clear();
      await local.close();
      await Promise.allSettled([listener?.end(), publisher.end()]);
    },
  };
}
