// The node's side of central's internal HTTP API (heartbeats, membership checks), authenticated
// by the node's API key. Failures are told apart because they call for different reactions:
// a refused key stops the node; an unreachable central is retried or reported as unavailable.
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import type { HeartbeatResponse, MembershipResponse } from '../central/internalApi.ts';

export type { HeartbeatResponse, MembershipResponse };

/** Central could not be reached, timed out, or failed (5xx, malformed reply). Worth retrying. */
export class CentralUnavailableError extends Error {
  override readonly name = 'CentralUnavailableError';
}

/** Central answered that the API key is not valid (401): retrying will not help. */
export class CentralRejectedError extends Error {
  override readonly name = 'CentralRejectedError';
}

export interface CentralClient {
  readonly centralUrl: string;
  heartbeat(publicUrl: string): Promise<HeartbeatResponse>;
  membership(roomId: string, userId: string): Promise<MembershipResponse>;
}

export interface CentralClientOptions {
  readonly centralUrl: string;
  readonly apiKey: string;
  /** Per request. @default 5000 */
  readonly timeoutMs?: number;
}

export function createCentralClient(options: CentralClientOptions): CentralClient {
  const timeoutMs = options.timeoutMs ?? 5000;

  async function call(path: string, init: RequestInit = {}): Promise<unknown> {
    const url = new URL(path, options.centralUrl);
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers: {
          [NODE_KEY_HEADER]: options.apiKey,
          'content-type': 'application/json',
          ...init.headers,
        },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : describe(error);
      throw new CentralUnavailableError(
        `central at ${options.centralUrl} is unreachable: ${reason}`,
        { cause: error },
      );
    }
    const text = await response.text().catch(() => '');
    if (response.status === 401) {
      throw new CentralRejectedError(
        `central at ${options.centralUrl} refused this node's API key`,
      );
    }
    if (!response.ok) {
      throw new CentralUnavailableError(
        `central answered ${url.pathname} with HTTP ${response.status}`,
      );
    }
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new CentralUnavailableError(
        `central answered ${url.pathname} with a body that is not JSON`,
      );
    }
  }

  return {
    centralUrl: options.centralUrl,
    async heartbeat(publicUrl) {
      const body = await call('/internal/heartbeat', {
        method: 'POST',
        body: JSON.stringify({ url: publicUrl }),
      });
      if (
        !isRecord(body) ||
        typeof body['nodeId'] !== 'string' ||
        body['nodeId'] === '' ||
        typeof body['name'] !== 'string' ||
        typeof body['heartbeatIntervalMs'] !== 'number' ||
        !(body['heartbeatIntervalMs'] > 0)
      ) {
        throw new CentralUnavailableError(
          'central answered the heartbeat without nodeId, name and heartbeatIntervalMs',
        );
      }
      return {
        nodeId: body['nodeId'],
        name: body['name'],
        heartbeatIntervalMs: body['heartbeatIntervalMs'],
      };
    },
    async membership(roomId, userId) {
      const query = new URLSearchParams({ roomId, userId });
      const body = await call(`/internal/membership?${query.toString()}`);
      if (
        !isRecord(body) ||
        typeof body['roomExists'] !== 'boolean' ||
        typeof body['member'] !== 'boolean'
      ) {
        throw new CentralUnavailableError(
          'central answered the membership check without roomExists and member',
        );
      }
      return { roomExists: body['roomExists'], member: body['member'] };
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch hides the socket error (ECONNREFUSED...) in `cause`.
  const cause = error.cause;
  return cause instanceof Error ? cause.message : error.message;
}
