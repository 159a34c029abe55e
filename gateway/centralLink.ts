// The gateway's link to central: the routing table (nodes and room placement) over central's
// internal gateway API, and its event stream (server-sent events) to keep the table current.
import {
  GATEWAY_PREFIX,
  GATEWAY_SECRET_HEADER,
  type RoomPlacement,
  type RoutingNode,
} from '../lib/gatewayProtocol.ts';
import type { JWK } from 'jose';
import { appError } from '../lib/errors.ts';
import { GATEWAY_KEYS_ROUTE } from '../lib/gatewayAssertion.ts';
import type { Logger } from '../lib/log.ts';
import type { CentralEvent } from '../subgraphs/central/events.ts';

export type { RoomPlacement, RoutingNode, CentralEvent };

export interface CentralLinkOptions {
  readonly centralUrl: string;
  readonly gatewaySecret: string;
  /** Deadline of each routing lookup. @default 5000 */
  readonly timeoutMs?: number;
  /**
   * Central writes a keep-alive comment every 15 s; a stream silent for this long is stalled
   * (a half-open connection, a hung central) and is reopened. @default 40000
   */
  readonly eventIdleMs?: number;
  readonly log: Logger;
}

export interface CentralLink {
  nodes(): Promise<RoutingNode[]>;
  rooms(ids: readonly string[]): Promise<RoomPlacement[]>;
  /** Registers (or renews) this gateway's public key, which nodes check its assertions with. */
  registerKey(jwk: JWK): Promise<void>;
  /**
   * Streams central's events until `stop()`. `onConnected` runs on every (re)connection, so the
   * caller can reload what it may have missed while disconnected.
   */
  watch(onEvent: (event: CentralEvent) => void, onConnected: () => void): { stop(): void };
}

export function createCentralLink(options: CentralLinkOptions): CentralLink {
  const timeoutMs = options.timeoutMs ?? 5000;
  const eventIdleMs = options.eventIdleMs ?? 40_000;
  const headers = { [GATEWAY_SECRET_HEADER]: options.gatewaySecret };

  /** Unreachable, timing out or failing (5xx): the client is told CENTRAL_UNAVAILABLE. */
  async function getJson<T>(path: string): Promise<T> {
    const route = path.split('?')[0] ?? path;
    let response: Response;
    try {
      response = await fetch(new URL(path, options.centralUrl), {
        headers,
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError';
      throw appError(
        'CENTRAL_UNAVAILABLE',
        timedOut
          ? `central did not answer ${route} within ${timeoutMs} ms`
          : `central could not be reached (${route}): ${(error as Error).message}`,
        { cause: error },
      );
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const message = `central ${route} answered ${response.status}: ${text.slice(0, 200)}`;
      if (response.status >= 500) throw appError('CENTRAL_UNAVAILABLE', message);
      throw new Error(message);
    }
    return (await response.json()) as T;
  }

  return {
    async registerKey(jwk) {
      const path = `${GATEWAY_PREFIX}${GATEWAY_KEYS_ROUTE}`;
      const response = await fetch(new URL(path, options.centralUrl), {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ jwk }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      if (!response.ok) {
        const text = await response.text().catch(() => '');
        throw new Error(`central ${path} answered ${response.status}: ${text.slice(0, 200)}`);
      }
      await response.body?.cancel();
    },
    nodes: async () => (await getJson<{ nodes: RoutingNode[] }>(`${GATEWAY_PREFIX}nodes`)).nodes,
    rooms: async (ids) =>
      ids.length === 0
        ? []
        : (
            await getJson<{ rooms: RoomPlacement[] }>(
              `${GATEWAY_PREFIX}rooms?ids=${ids.map(encodeURIComponent).join(',')}`,
            )
          ).rooms,
    watch(onEvent, onConnected) {
      let stopped = false;
      let controller: AbortController | undefined;
      let delay = 250;
      const loop = async () => {
        while (!stopped) {
          controller = new AbortController();
          const current = controller;
          let idle: NodeJS.Timeout | undefined;
          const resetIdle = () => {
            clearTimeout(idle);
            idle = setTimeout(() => current.abort(new Error('no data')), eventIdleMs);
            idle.unref();
          };
          try {
            resetIdle();
            const response = await fetch(new URL(`${GATEWAY_PREFIX}events`, options.centralUrl), {
              headers,
              signal: controller.signal,
            });
            if (!response.ok || !response.body)
              throw new Error(`event stream answered ${response.status}`);
            delay = 250;
            onConnected();
            let buffer = '';
            const decoder = new TextDecoder();
            for await (const chunk of response.body) {
              resetIdle();
              buffer += decoder.decode(chunk as Uint8Array, { stream: true });
              let end: number;
              while ((end = buffer.indexOf('\n\n')) >= 0) {
                const block = buffer.slice(0, end);
                buffer = buffer.slice(end + 2);
                for (const line of block.split('\n')) {
                  if (!line.startsWith('data: ')) continue;
                  try {
                    onEvent(JSON.parse(line.slice(6)) as CentralEvent);
                  } catch (error) {
                    options.log.warn(
                      `ignored a malformed central event: ${(error as Error).message}`,
                    );
                  }
                }
              }
            }
            if (!stopped) options.log.warn('central closed the event stream; reconnecting');
          } catch (error) {
            if (stopped) return;
            const reason = current.signal.aborted
              ? `silent for ${eventIdleMs} ms`
              : (error as Error).message;
            options.log.warn(`central event stream: ${reason}; retrying in ${delay} ms`);
          } finally {
            clearTimeout(idle);
          }
          if (stopped) return;
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
          delay = Math.min(delay * 2, 5000);
        }
      };
      void loop();
      return {
        stop() {
          stopped = true;
          controller?.abort();
        },
      };
    },
  };
}
