// The gateway's link to central: the routing table (nodes and room placement) over central's
// internal gateway API, and its event stream (server-sent events) to keep the table current.
// With several centrals (`--central-url a,b`), requests and streams go to the one that last
// answered and move on when it fails (lib/centralEndpoints.ts). The link also says whether the
// gateway follows central at all: a stream is open and some central answered within `staleMs`
// (a stream to a central that hangs stays open: it is probed, and left when it stops answering).
//
// Central's replies and events are read with their zod schemas (lib/gatewayProtocol.ts), not
// trusted: a malformed reply fails the lookup as CENTRAL_UNAVAILABLE naming the field at fault
// (and counts against that central), a malformed event is passed over with a log line.
import type { JWK } from 'jose';
import type { z } from 'zod';
import {
  GATEWAY_EVENT_TYPES,
  GATEWAY_PREFIX,
  GATEWAY_SECRET_HEADER,
  GatewayEventSchema,
  GatewayEventTypeSchema,
  RoomPlacementsReplySchema,
  RoutingNodesReplySchema,
  type GatewayEvent,
  type RoomPlacement,
  type RoutingNode,
} from '../lib/gatewayProtocol.ts';
import {
  centralEndpoints,
  describe,
  type CentralEndpoints,
  type EndpointView,
} from '../lib/centralEndpoints.ts';
import { appError } from '../lib/errors.ts';
import { GATEWAY_KEYS_ROUTE } from '../lib/gatewayAssertion.ts';
import type { Logger } from '../lib/log.ts';
import { readEvents } from '../lib/sseReader.ts';
import { parseWire, WireShapeError } from '../lib/wire.ts';

export type { RoomPlacement, RoutingNode, GatewayEvent };

export interface CentralLinkOptions {
  /** One URL, several (failover in that order), or endpoints shared with the gateway's other parts. */
  readonly centralUrl: string | readonly string[] | CentralEndpoints;
  readonly gatewaySecret: string;
  /** Deadline of each routing lookup. @default 5000 */
  readonly timeoutMs?: number;
  /**
   * Central writes a keep-alive comment every 15 s; a stream silent for this long is stalled
   * (a half-open connection, a hung central) and is reopened. @default 40000
   */
  readonly eventIdleMs?: number;
  /**
   * With no answer from any central for this long, the link counts as down (`/ready` 503) even
   * while a stream is open. @default 5000
   */
  readonly staleMs?: number;
  /** While a stream is open, central's `/ready` is asked when nothing answered for this long. @default 1000 */
  readonly probeMs?: number;
  readonly log: Logger;
}

/** Whether the gateway follows central, for /ready and the central_connected gauge. */
export interface CentralLinkState {
  readonly connected: boolean;
  /** Why not, naming each central tried and what it did; null while connected. */
  readonly reason: string | null;
  readonly centrals: readonly EndpointView[];
}

export interface CentralLink {
  nodes(): Promise<readonly RoutingNode[]>;
  rooms(ids: readonly string[]): Promise<readonly RoomPlacement[]>;
  /** Registers (or renews) this gateway's public key, which nodes check its assertions with. */
  registerKey(jwk: JWK): Promise<void>;
  /**
   * Streams central's events until `stop()`. `onConnected` runs on every (re)connection, so the
   * caller can reload what it may have missed while disconnected. Only the events a gateway acts
   * on reach `onEvent` (GatewayEventSchema).
   */
  watch(onEvent: (event: GatewayEvent) => void, onConnected: () => void): { stop(): void };
  state(): CentralLinkState;
  /**
   * Calls `listener` when the link goes down (for two seconds in a row) or comes back (as
   * `state().connected`, checked once a second while watched), and while down, when `answering`
   * changes: whether some central still answered within `staleMs` (a feed that just reconnected
   * to it, say), so the link is down only for want of its own event stream. Returns the
   * unsubscriber.
   */
  onStateChange(listener: (connected: boolean, answering: boolean) => void): () => void;
}

/** Central answered, but not with success: its own word (4xx) or a failure of its own (5xx). */
class CentralAnswerError extends Error {
  override readonly name = 'CentralAnswerError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const isAnswer = (error: unknown) => error instanceof CentralAnswerError && error.status < 500;

export function createCentralLink(options: CentralLinkOptions): CentralLink {
  const central = centralEndpoints(options.centralUrl, { log: options.log });
  const timeoutMs = options.timeoutMs ?? 5000;
  const eventIdleMs = options.eventIdleMs ?? 40_000;
  const staleMs = options.staleMs ?? 5000;
  const probeMs = options.probeMs ?? 1000;
  const headers = { [GATEWAY_SECRET_HEADER]: options.gatewaySecret };
  /** Open event streams, each with the central it reads and how to close it. */
  const streams = new Set<{ url: string; abort: (reason: Error) => void }>();
  let watchers = 0;
  let probeTimer: NodeJS.Timeout | undefined;
  let probing = false;
  let wasConnected: boolean | undefined;
  const stateListeners = new Set<(connected: boolean, answering: boolean) => void>();
  let notified: string | undefined;
  let downTicks = 0;

  /** Fails with the raw error (for failover to judge), or CentralAnswerError for a non-2xx. */
  async function fetchOk(url: string, path: string, init: RequestInit = {}): Promise<Response> {
    const response = await fetch(new URL(path, url), {
      ...init,
      headers: { ...headers, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const route = path.split('?')[0] ?? path;
      throw new CentralAnswerError(
        response.status,
        `central ${route} answered ${response.status}: ${text.slice(0, 200)}`,
      );
    }
    return response;
  }

  /**
   * Central's reply to GET `path` as `schema` reads it. Unreachable, timing out, failing (5xx) or
   * answering a malformed reply everywhere: the client is told CENTRAL_UNAVAILABLE.
   */
  async function getReply<S extends z.ZodType>(schema: S, path: string): Promise<z.output<S>> {
    const route = path.split('?')[0] ?? path;
    try {
      return await central.call(
        async (url) => {
          const text = await (await fetchOk(url, path)).text();
          try {
            return parseWire(schema, parseJson(text));
          } catch (error) {
            if (!(error instanceof WireShapeError)) throw error;
            // Central's bug or another release's shape: told once per reply, with the central.
            options.log.warn(`central ${url} answered ${route} malformed: ${error.message}`);
            throw new WireShapeError(`central answered ${route} malformed: ${error.message}`);
          }
        },
        { idempotent: true, answered: isAnswer },
      );
    } catch (error) {
      if (isAnswer(error)) throw new Error((error as Error).message);
      if (error instanceof CentralAnswerError) throw appError('CENTRAL_UNAVAILABLE', error.message);
      if (error instanceof WireShapeError)
        throw appError('CENTRAL_UNAVAILABLE', error.message, { cause: error });
      const timedOut = (error as Error).name === 'TimeoutError';
      throw appError(
        'CENTRAL_UNAVAILABLE',
        timedOut
          ? `central did not answer ${route} within ${timeoutMs} ms`
          : `central could not be reached (${route}): ${describe(error)}`,
        { cause: error },
      );
    }
  }

  function connected(): boolean {
    const last = central.lastAnswerAt;
    return streams.size > 0 && last !== undefined && Date.now() - last <= staleMs;
  }

  function state(): CentralLinkState {
    const now = connected();
    if (now !== wasConnected) {
      // One line per change, whoever asked first (the probe, /ready, a scrape).
      if (now) options.log.info(`following central at ${central.current}`);
      else if (wasConnected) options.log.warn(`no central answers: ${central.describeFailures()}`);
      wasConnected = now;
    }
    return {
      connected: now,
      reason: now
        ? null
        : streams.size === 0
          ? `no event stream to central is open; tried ${central.describeFailures()}`
          : `no central answered for ${staleMs} ms; tried ${central.describeFailures()}`,
      centrals: central.view(),
    };
  }

  /**
   * Tells the state's listeners of a change, once a second: "down" only once it lasted two ticks,
   * so a stream reopened on the next central at once (a central stopped, another listed) is no
   * outage to them.
   */
  function tick(): void {
    const now = state().connected;
    downTicks = now ? 0 : downTicks + 1;
    const settled = now ? true : downTicks >= 2 ? false : undefined;
    if (settled === undefined) return;
    const last = central.lastAnswerAt;
    const answering = settled || (last !== undefined && Date.now() - last <= staleMs);
    const key = `${settled}/${answering}`;
    if (key === notified) return;
    const first = notified === undefined;
    notified = key;
    if (!first) for (const listener of [...stateListeners]) listener(settled, answering);
  }

  /** Asks the current central's `/ready` when nothing answered lately: a hung central is left. */
  async function probe(): Promise<void> {
    const last = central.lastAnswerAt;
    if (probing || streams.size === 0 || (last !== undefined && Date.now() - last < probeMs)) {
      tick();
      return;
    }
    probing = true;
    const url = central.current;
    try {
      const response = await fetch(new URL('/ready', url), {
        // Well within staleMs: a hung central is left (for the next) before the link goes stale.
        signal: AbortSignal.timeout(Math.min(timeoutMs, Math.max(500, Math.floor(staleMs / 2)))),
      });
      await response.body?.cancel().catch(() => {});
      if (response.ok) central.answered(url);
      else central.failed(url, `/ready answered ${response.status}`);
    } catch (error) {
      central.failed(url, describe(error));
    } finally {
      probing = false;
    }
    tick();
  }

  /** The event in `data` if it is one the gateway acts on; a malformed one is logged. */
  function readEvent(data: string): GatewayEvent | undefined {
    try {
      const value = parseJson(data);
      const typed = GatewayEventTypeSchema.safeParse(value);
      if (typed.success && !GATEWAY_EVENT_TYPES.has(typed.data.type)) return undefined;
      return parseWire(GatewayEventSchema, value, 'event');
    } catch (error) {
      if (!(error instanceof WireShapeError)) throw error;
      options.log.warn(`ignored a malformed central event: ${error.message}`);
      return undefined;
    }
  }

  // A stream on a central everyone has just left (a request or probe found it failing) moves too.
  central.onSwitch((url) => {
    for (const stream of streams)
      if (stream.url !== url) stream.abort(new Error(`central moved to ${url}`));
  });

  return {
    async registerKey(jwk) {
      const path = `${GATEWAY_PREFIX}${GATEWAY_KEYS_ROUTE}`;
      // Registering a key again only renews it: safe to send to the next central.
      await central.call(
        async (url) => {
          const response = await fetchOk(url, path, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ jwk }),
          });
          await response.body?.cancel();
        },
        { idempotent: true, answered: isAnswer },
      );
    },
    nodes: async () => (await getReply(RoutingNodesReplySchema, `${GATEWAY_PREFIX}nodes`)).nodes,
    rooms: async (ids) =>
      ids.length === 0
        ? []
        : (
            await getReply(
              RoomPlacementsReplySchema,
              `${GATEWAY_PREFIX}rooms?ids=${ids.map(encodeURIComponent).join(',')}`,
            )
          ).rooms,
    state,
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    watch(onEvent, onConnected) {
      let stopped = false;
      let controller: AbortController | undefined;
      watchers += 1;
      if (watchers === 1) {
        probeTimer = setInterval(() => void probe(), probeMs);
        probeTimer.unref();
      }
      const loop = async () => {
        while (!stopped) {
          controller = new AbortController();
          const current = controller;
          const url = central.current;
          const stream = { url, abort: (reason: Error) => current.abort(reason) };
          let idle: NodeJS.Timeout | undefined;
          let opened = false;
          const resetIdle = () => {
            clearTimeout(idle);
            idle = setTimeout(
              () => current.abort(new Error(`silent for ${eventIdleMs} ms`)),
              eventIdleMs,
            );
            idle.unref();
          };
          try {
            resetIdle();
            const response = await fetch(new URL(`${GATEWAY_PREFIX}events`, url), {
              headers,
              signal: controller.signal,
            });
            if (!response.ok || !response.body)
              throw new CentralAnswerError(
                response.status,
                `event stream answered ${response.status}`,
              );
            opened = true;
            streams.add(stream);
            central.answered(url);
            onConnected();
            state();
            // Any bytes, keep-alive comments too, show that central is there.
            const alive = new TransformStream<Uint8Array, Uint8Array>({
              transform(chunk, out) {
                resetIdle();
                central.answered(url);
                out.enqueue(chunk);
              },
            });
            await readEvents(response.body.pipeThrough(alive), (_name, data) => {
              const event = readEvent(data);
              if (event === undefined) return;
              try {
                onEvent(event);
              } catch (error) {
                options.log.warn(`central event ${event.type} failed: ${(error as Error).message}`);
              }
            });
            if (!stopped) options.log.warn(`central ${url} closed the event stream; reconnecting`);
          } catch (error) {
            if (stopped) return;
            const reason = current.signal.aborted
              ? describe(current.signal.reason)
              : describe(error);
            // A stream that never opened counts against its central; one that stood and ended
            // (a restart, a move) is simply opened again, on whichever central is current.
            if (!opened) central.failed(url, reason);
            options.log.warn(`central event stream (${url}): ${reason}`);
          } finally {
            clearTimeout(idle);
            streams.delete(stream);
          }
          if (stopped) return;
          state();
          // Straight on to the next central; a pause only once every one failed (with backoff
          // and jitter), or briefly after a stream that stood, so a central that closes streams
          // at once is not hammered.
          const delay = Math.max(central.retryDelay(), opened ? 100 : 0);
          if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay).unref());
        }
      };
      void loop();
      return {
        stop() {
          if (stopped) return;
          stopped = true;
          controller?.abort();
          watchers -= 1;
          if (watchers === 0) clearInterval(probeTimer);
        },
      };
    },
  };
}

/** JSON.parse, failing as a WireShapeError: a body that is not JSON is malformed like any other. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new WireShapeError(`not JSON (${(error as Error).message})`);
  }
}
