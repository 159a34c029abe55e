// The node's side of central's internal HTTP API (heartbeats, membership checks, sync), authenticated
// by the node's API key. Failures are told apart because they call for different reactions:
// a refused key stops the node; an unreachable central is retried or reported as unavailable.
// With several centrals (`--central-url a,b`), each request goes to the one that last answered and
// on to the next when it cannot be reached, times out or fails (5xx); a report or request that
// must not be repeated only when it provably never left (lib/centralEndpoints.ts).
import { centralEndpoints, type CentralEndpoints } from '../../lib/centralEndpoints.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { NOTICE_ACK_PATH, PLACEMENT_PATH, validatePlacementNotice } from '../../lib/nodeNotices.ts';
import { parseWire } from '../../lib/wire.ts';
import {
  SYNC_AUTHORITY_PATH,
  SYNC_CHANGED_PATH,
  SYNC_JOBS_PATH,
  SYNC_PULL_REQUEST_PATH,
  SYNC_LIVE_REPORT_PATH,
  SYNC_LIVE_REPORTS_PATH,
  SYNC_PULL_TOKEN_PATH,
  SYNC_REPORT_PATH,
  type AuthorityAnswer,
  type AuthorityQuery,
  type MembershipHistory,
  type LiveReport,
  type LiveReportResponse,
  type LiveReportResult,
  LiveReportsResponseSchema,
  type PullTokenResponse,
  type SyncReport,
  type SyncReportResponse,
} from '../../lib/syncProtocol.ts';
import type {
  HeartbeatRequest,
  HeartbeatResponse,
  MembershipResponse,
} from '../central/internalApi.ts';
import type { HeartbeatClock } from '../central/nodeClock.ts';

export type { HeartbeatResponse, MembershipResponse };

/** Central could not be reached, timed out, or failed (5xx, malformed reply). Worth retrying. */
export class CentralUnavailableError extends Error {
  override readonly name: string = 'CentralUnavailableError';
}

/**
 * Central refused the request itself (4xx other than 401): sending the same again will not help.
 * A kind of CentralUnavailableError, so callers that only tell "worked" from "did not" need no
 * change.
 */
export class CentralRefusedError extends CentralUnavailableError {
  override readonly name = 'CentralRefusedError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Central answered that the API key is not valid (401): retrying will not help. */
export class CentralRejectedError extends Error {
  override readonly name = 'CentralRejectedError';
}

export interface CentralClient {
  /** The central requests go to now. */
  readonly centralUrl: string;
  /** Every central, which one is current, and when each last answered (the node's /ready). */
  readonly central?: CentralEndpoints;
  /** `clock`: this node's measured offset and bound, for central's Node.clockSkewed. */
  heartbeat(publicUrl: string, clock?: HeartbeatClock): Promise<HeartbeatResponse>;
  membership(roomId: string, userId: string): Promise<MembershipResponse>;
  /**
   * A fresh pull token for reading `roomIds` from `sourceNodeId`'s feed (a session outliving the
   * token of its job). Central refuses rooms the two nodes do not both store.
   */
  pullToken(sourceNodeId: string, roomIds: readonly string[]): Promise<PullTokenResponse>;
  /** Progress or outcome of a session this node pulls in. */
  reportSync(report: SyncReport): Promise<SyncReportResponse>;
  /** A report of a live window (what a live stream applied). */
  liveReport(report: LiveReport): Promise<LiveReportResponse>;
  /**
   * The next reports of several live windows in one request: each one's result, in order. A
   * central that predates it answers 404 (CentralRefusedError): send them one by one then.
   */
  liveReports(reports: readonly LiveReport[]): Promise<readonly LiveReportResult[]>;
  /**
   * Who may write what, for versions a session received: the rooms' storage nodes now, and
   * whether each sender was a member of its room when the message was made.
   */
  syncAuthority(query: AuthorityQuery): Promise<AuthorityAnswer>;
  /** Asks for a session from `sourceNodeId`: versions deferred for their clock came due. */
  requestPull(sourceNodeId: string): Promise<void>;
  /** Tells central that local writes changed these rooms (change-triggered sync). */
  roomsChanged(roomIds: readonly string[]): Promise<void>;
  /** The rooms this node takes writes for now (heldRooms.ts). */
  placement(): Promise<readonly string[]>;
  /** Acknowledges a notice of the job stream that carried `fenceId` (lib/nodeNotices.ts). */
  ackNotice(fenceId: string): Promise<void>;
  /**
   * Opens the Server-Sent Events stream of this node's sync jobs. Resolves once central answered
   * with a stream (timing out only while waiting for that answer); `signal` closes it.
   */
  openSyncJobs(signal: AbortSignal): Promise<ReadableStream<Uint8Array>>;
}

export interface CentralClientOptions {
  /** One URL, several (comma-separated or a list), or endpoints shared with the node's other parts. */
  readonly centralUrl: string | readonly string[] | CentralEndpoints;
  readonly apiKey: string;
  /** Per request. @default 5000 */
  readonly timeoutMs?: number;
}

export function createCentralClient(options: CentralClientOptions): CentralClient {
  const timeoutMs = options.timeoutMs ?? 5000;
  const central = centralEndpoints(options.centralUrl);
  const answered = (error: unknown) =>
    error instanceof CentralRejectedError || error instanceof CentralRefusedError;

  async function send(
    base: string,
    path: string,
    init: RequestInit,
    signal: AbortSignal,
  ): Promise<Response> {
    const url = new URL(path, base);
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers: {
          [NODE_KEY_HEADER]: options.apiKey,
          'content-type': 'application/json',
          ...init.headers,
        },
        signal,
      });
    } catch (error) {
      const reason =
        error instanceof Error && error.name === 'TimeoutError'
          ? `no answer within ${timeoutMs} ms`
          : describe(error);
      throw new CentralUnavailableError(`central at ${base} is unreachable: ${reason}`, {
        cause: error,
      });
    }
    if (response.status === 401) {
      await response.body?.cancel().catch(() => {});
      throw new CentralRejectedError(`central at ${base} refused this node's API key`);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      if (response.status >= 400 && response.status < 500) {
        throw new CentralRefusedError(
          `central answered ${url.pathname} with HTTP ${response.status}${errorMessage(text)}`,
          response.status,
        );
      }
      throw new CentralUnavailableError(
        `central answered ${url.pathname} with HTTP ${response.status}${errorMessage(text)}`,
      );
    }
    return response;
  }

  /**
   * `idempotent`: central may see it twice (reads, heartbeats, live reports, which central records
   * once per sequence); otherwise it goes to another central only if it never left.
   */
  async function call(
    path: string,
    init: RequestInit = {},
    idempotent = init.method === undefined,
  ): Promise<unknown> {
    return central.call(
      async (base) => {
        const response = await send(base, path, init, AbortSignal.timeout(timeoutMs));
        const text = await response.text().catch(() => '');
        try {
          return JSON.parse(text) as unknown;
        } catch {
          throw new CentralUnavailableError(
            `central answered ${new URL(path, base).pathname} with a body that is not JSON`,
          );
        }
      },
      { idempotent, answered },
    );
  }

  return {
    get centralUrl() {
      return central.current;
    },
    central,
    async heartbeat(publicUrl, clock) {
      const request: HeartbeatRequest = { url: publicUrl, ...(clock ? { clock } : {}) };
      const body = await call(
        '/internal/heartbeat',
        { method: 'POST', body: JSON.stringify(request) },
        true,
      );
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
      const centralTime = body['centralTime'];
      return {
        nodeId: body['nodeId'],
        name: body['name'],
        heartbeatIntervalMs: body['heartbeatIntervalMs'],
        ...(typeof centralTime === 'number' && Number.isFinite(centralTime) ? { centralTime } : {}),
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
      // An older central says nothing of visibility: every room was public then.
      return {
        roomExists: body['roomExists'],
        member: body['member'],
        private: body['private'] === true,
      };
    },
    async pullToken(sourceNodeId, roomIds) {
      // A second token for the same pull is as good as the first.
      const body = await call(
        SYNC_PULL_TOKEN_PATH,
        { method: 'POST', body: JSON.stringify({ sourceNodeId, roomIds }) },
        true,
      );
      if (
        !isRecord(body) ||
        typeof body['token'] !== 'string' ||
        typeof body['expiresAt'] !== 'number'
      ) {
        throw new CentralUnavailableError(
          'central answered the pull token without token and expiresAt',
        );
      }
      return { token: body['token'], expiresAt: body['expiresAt'] };
    },
    async reportSync(report) {
      const body = await call(SYNC_REPORT_PATH, { method: 'POST', body: JSON.stringify(report) });
      if (!isRecord(body) || typeof body['continue'] !== 'boolean') {
        throw new CentralUnavailableError('central answered the sync report without "continue"');
      }
      return { continue: body['continue'] };
    },
    async liveReport(report) {
      const body = await call(
        SYNC_LIVE_REPORT_PATH,
        { method: 'POST', body: JSON.stringify(report) },
        true,
      );
      if (!isRecord(body) || typeof body['recorded'] !== 'boolean') {
        throw new CentralUnavailableError('central answered the live report without "recorded"');
      }
      return { recorded: body['recorded'] };
    },
    async liveReports(reports) {
      const body = await call(
        SYNC_LIVE_REPORTS_PATH,
        { method: 'POST', body: JSON.stringify({ reports }) },
        true,
      );
      let results: readonly LiveReportResult[];
      try {
        ({ results } = parseWire(LiveReportsResponseSchema, body, 'live reports answer'));
      } catch (error) {
        throw new CentralUnavailableError(describe(error));
      }
      if (results.length !== reports.length) {
        throw new CentralUnavailableError(
          `central answered ${results.length} results for ${reports.length} live reports`,
        );
      }
      return results;
    },
    async syncAuthority(query) {
      // Always with the senders' histories: the node keeps them (sync/writerRights.ts), and a
      // central that predates them answers without, which the node copes with.
      const body = await call(
        SYNC_AUTHORITY_PATH,
        { method: 'POST', body: JSON.stringify({ ...query, intervals: true }) },
        true,
      );
      return parseAuthorityAnswer(body, query.senders.length);
    },
    async requestPull(sourceNodeId) {
      await call(SYNC_PULL_REQUEST_PATH, {
        method: 'POST',
        body: JSON.stringify({ sourceNodeId }),
      });
    },
    async roomsChanged(roomIds) {
      await call(SYNC_CHANGED_PATH, { method: 'POST', body: JSON.stringify({ roomIds }) });
    },
    async placement() {
      const body = await call(PLACEMENT_PATH);
      try {
        return validatePlacementNotice(body).rooms;
      } catch (error) {
        throw new CentralUnavailableError(
          `central answered ${PLACEMENT_PATH} with ${(error as Error).message}`,
        );
      }
    },
    async ackNotice(fenceId) {
      // Acknowledging a notice twice changes nothing: any central may take it again.
      await call(NOTICE_ACK_PATH, { method: 'POST', body: JSON.stringify({ fenceId }) }, true);
    },
    async openSyncJobs(signal) {
      // The stream stays open for as long as the node runs: only the wait for the response
      // headers is bounded, by an abort that is cancelled once they arrived.
      return central.call(
        async (base) => {
          const connecting = new AbortController();
          const timer = setTimeout(
            () => connecting.abort(new DOMException('timed out', 'TimeoutError')),
            timeoutMs,
          );
          // A stream on a central the node's requests have left is closed, to be reopened on
          // the current one: jobs come from wherever the node reports to.
          const moved = new AbortController();
          const unfollow = central.onSwitch((url) => {
            if (url !== base) moved.abort(new Error(`central moved to ${url}`));
          });
          try {
            const response = await send(
              base,
              SYNC_JOBS_PATH,
              { headers: { accept: 'text/event-stream' } },
              AbortSignal.any([signal, connecting.signal, moved.signal]),
            );
            if (!response.body)
              throw new CentralUnavailableError('central sent no sync job stream');
            return untilEnd(response.body, unfollow);
          } catch (error) {
            unfollow();
            throw error;
          } finally {
            clearTimeout(timer);
          }
        },
        { idempotent: true, answered },
      );
    },
  };
}

/** The same stream, calling `done` once it ends, fails or is cancelled. */
function untilEnd(
  stream: ReadableStream<Uint8Array>,
  done: () => void,
): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: ended, value } = await reader.read();
        if (ended) {
          done();
          controller.close();
        } else controller.enqueue(value);
      } catch (error) {
        done();
        controller.error(error);
      }
    },
    async cancel(reason) {
      done();
      await reader.cancel(reason);
    },
  });
}

/** Central's word on writers, or CentralUnavailableError: a half answer is no answer. */
function parseAuthorityAnswer(body: unknown, senders: number): AuthorityAnswer {
  const storage = isRecord(body) ? body['storageNodes'] : undefined;
  const members = isRecord(body) ? body['senders'] : undefined;
  if (
    !isRecord(storage) ||
    !Object.values(storage).every(
      (nodes) => Array.isArray(nodes) && nodes.every((id) => typeof id === 'string'),
    ) ||
    !Array.isArray(members) ||
    members.length !== senders ||
    !members.every((member) => typeof member === 'boolean')
  ) {
    throw new CentralUnavailableError(
      `central answered ${SYNC_AUTHORITY_PATH} without storageNodes and ${senders} sender answers`,
    );
  }
  const answer = {
    storageNodes: storage as Record<string, readonly string[]>,
    senders: members.map((member) => member === true),
  };
  const histories = isRecord(body) ? body['memberships'] : undefined;
  const roomHistories = isRecord(body) ? body['roomMemberships'] : undefined;
  if (histories === undefined && roomHistories === undefined) return answer;
  const asOf = isRecord(body) ? body['asOf'] : undefined;
  const marginMs = isRecord(body) ? body['marginMs'] : undefined;
  const historyList = (list: unknown): list is MembershipHistory[] | undefined =>
    list === undefined || (Array.isArray(list) && list.every(isMembershipHistory));
  if (
    !historyList(histories) ||
    !historyList(roomHistories) ||
    typeof asOf !== 'number' ||
    typeof marginMs !== 'number' ||
    !Number.isFinite(asOf) ||
    !Number.isFinite(marginMs)
  ) {
    throw new CentralUnavailableError(
      `central answered ${SYNC_AUTHORITY_PATH} with memberships that are not histories`,
    );
  }
  return {
    ...answer,
    ...(histories === undefined ? {} : { memberships: histories }),
    ...(roomHistories === undefined ? {} : { roomMemberships: roomHistories }),
    asOf,
    marginMs,
  };
}

function isMembershipHistory(value: unknown): value is MembershipHistory {
  return (
    isRecord(value) &&
    typeof value['roomId'] === 'string' &&
    typeof value['userId'] === 'string' &&
    Array.isArray(value['intervals']) &&
    value['intervals'].every(
      (interval) =>
        isRecord(interval) &&
        Number.isFinite(interval['from']) &&
        (interval['until'] === null || Number.isFinite(interval['until'])),
    )
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** ": <message>" of an error answer in the GraphQL error shape; nothing for anything else. */
function errorMessage(text: string): string {
  try {
    const message = (JSON.parse(text) as { errors?: Array<{ message?: unknown }> }).errors?.[0]
      ?.message;
    return typeof message === 'string' ? `: ${message.slice(0, 300)}` : '';
  } catch {
    return '';
  }
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch hides the socket error (ECONNREFUSED...) in `cause`.
  const cause = error.cause;
  return cause instanceof Error ? cause.message : error.message;
}
