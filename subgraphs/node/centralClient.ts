// The node's side of central's internal HTTP API (heartbeats, membership checks, sync), authenticated
// by the node's API key. Failures are told apart because they call for different reactions:
// a refused key stops the node; an unreachable central is retried or reported as unavailable.
// With several centrals (`--central-url a,b`), each request goes to the one that last answered and
// on to the next when it cannot be reached, times out or fails (5xx); a report or request that
// must not be repeated only when it provably never left (lib/centralEndpoints.ts).
//
// Central's replies are read with their zod schemas (lib/nodeApi.ts, lib/syncProtocol.ts), not
// trusted: a malformed one is a CentralUnavailableError naming the path and the field at fault
// (`central answered /internal/heartbeat malformed: nodeId: expected a non-empty string`), and
// counts against that central like a failure.
import { z } from 'zod';
import { centralEndpoints, type CentralEndpoints } from '../../lib/centralEndpoints.ts';
import { errorBodyMessage } from '../../lib/errors.ts';
import { requestText, type PostedResponse } from '../../lib/httpClient.ts';
import {
  HEARTBEAT_PATH,
  HeartbeatResponseSchema,
  MEMBERSHIP_PATH,
  MembershipResponseSchema,
  type HeartbeatClock,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type MembershipResponse,
} from '../../lib/nodeApi.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { NOTICE_ACK_PATH, PLACEMENT_PATH, PlacementNoticeSchema } from '../../lib/nodeNotices.ts';
import {
  AuthorityAnswerSchema,
  LiveReportResponseSchema,
  PullTokenResponseSchema,
  SYNC_AUTHORITY_PATH,
  SYNC_CHANGED_PATH,
  SYNC_JOBS_PATH,
  SYNC_PULL_REQUEST_PATH,
  SYNC_LIVE_REPORT_PATH,
  SYNC_LIVE_REPORTS_PATH,
  SYNC_PULL_TOKEN_PATH,
  SYNC_REPORT_PATH,
  SyncReportResponseSchema,
  type AuthorityAnswer,
  type AuthorityQuery,
  type LiveReport,
  type LiveReportResponse,
  type LiveReportResult,
  LiveReportsResponseSchema,
  type PullTokenResponse,
  type SyncReport,
  type SyncReportResponse,
} from '../../lib/syncProtocol.ts';
import { parseWire, WireShapeError } from '../../lib/wire.ts';

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

/** What a call sends: a GET, or a POST of a JSON body. */
interface CallInit {
  readonly method?: 'POST';
  readonly body?: string;
}

export function createCentralClient(options: CentralClientOptions): CentralClient {
  const timeoutMs = options.timeoutMs ?? 5000;
  const central = centralEndpoints(options.centralUrl);
  const answered = (error: unknown) =>
    error instanceof CentralRejectedError || error instanceof CentralRefusedError;

  /** The error for an answer that is not 2xx, or undefined for a 2xx. */
  function refusal(base: string, path: string, status: number, text: string): Error | undefined {
    if (status >= 200 && status <= 299) return undefined;
    if (status === 401)
      return new CentralRejectedError(`central at ${base} refused this node's API key`);
    const said = `central answered ${new URL(path, base).pathname} with HTTP ${status}${errorMessageOf(text)}`;
    return status >= 400 && status < 500
      ? new CentralRefusedError(said, status)
      : new CentralUnavailableError(said);
  }

  function unreachable(base: string, error: unknown): CentralUnavailableError {
    const reason =
      error instanceof Error && error.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : describe(error);
    return new CentralUnavailableError(`central at ${base} is unreachable: ${reason}`, {
      cause: error,
    });
  }

  /** A request whose whole answer is read: every call but the job stream. */
  async function send(base: string, path: string, init: CallInit): Promise<string> {
    let response: PostedResponse;
    try {
      response = await requestText(
        new URL(path, base),
        {
          ...init,
          headers: { [NODE_KEY_HEADER]: options.apiKey, 'content-type': 'application/json' },
        },
        timeoutMs,
      );
    } catch (error) {
      throw unreachable(base, error);
    }
    const refused = refusal(base, path, response.status, response.body);
    if (refused) throw refused;
    return response.body;
  }

  /**
   * The job stream: through fetch, whose body is a web stream the SSE reader takes as it comes
   * (one request per node's run, so fetch's cost per request does not matter here).
   */
  async function openStream(base: string, path: string, signal: AbortSignal): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(new URL(path, base), {
        headers: {
          [NODE_KEY_HEADER]: options.apiKey,
          'content-type': 'application/json',
          accept: 'text/event-stream',
        },
        signal,
      });
    } catch (error) {
      throw unreachable(base, error);
    }
    if (!response.ok) {
      const text = await response.text().catch(() => '');
      const refused = refusal(base, path, response.status, text);
      if (refused) throw refused;
    }
    return response;
  }

  /**
   * Central's reply to `path` as `schema` reads it (any JSON for `z.unknown()`). `idempotent`:
   * central may see it twice (reads, heartbeats, live reports, which central records once per
   * sequence); otherwise it goes to another central only if it never left.
   */
  async function call<S extends z.ZodType>(
    schema: S,
    path: string,
    init: CallInit = {},
    idempotent = init.method === undefined,
  ): Promise<z.output<S>> {
    return central.call(
      async (base) => {
        const text = await send(base, path, init);
        let body: unknown;
        try {
          body = JSON.parse(text) as unknown;
        } catch {
          throw new CentralUnavailableError(
            `central answered ${new URL(path, base).pathname} with a body that is not JSON`,
          );
        }
        try {
          return parseWire(schema, body);
        } catch (error) {
          if (!(error instanceof WireShapeError)) throw error;
          throw new CentralUnavailableError(
            `central answered ${new URL(path, base).pathname} malformed: ${error.message}`,
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
      return call(
        HeartbeatResponseSchema,
        HEARTBEAT_PATH,
        { method: 'POST', body: JSON.stringify(request) },
        true,
      );
    },
    async membership(roomId, userId) {
      const query = new URLSearchParams({ roomId, userId });
      return call(MembershipResponseSchema, `${MEMBERSHIP_PATH}?${query.toString()}`);
    },
    async pullToken(sourceNodeId, roomIds) {
      // A second token for the same pull is as good as the first.
      return call(
        PullTokenResponseSchema,
        SYNC_PULL_TOKEN_PATH,
        { method: 'POST', body: JSON.stringify({ sourceNodeId, roomIds }) },
        true,
      );
    },
    reportSync: (report) =>
      call(SyncReportResponseSchema, SYNC_REPORT_PATH, {
        method: 'POST',
        body: JSON.stringify(report),
      }),
    liveReport: (report) =>
      call(
        LiveReportResponseSchema,
        SYNC_LIVE_REPORT_PATH,
        { method: 'POST', body: JSON.stringify(report) },
        true,
      ),
    async liveReports(reports) {
      const { results } = await call(
        LiveReportsResponseSchema,
        SYNC_LIVE_REPORTS_PATH,
        { method: 'POST', body: JSON.stringify({ reports }) },
        true,
      );
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
      const answer = await call(
        AuthorityAnswerSchema,
        SYNC_AUTHORITY_PATH,
        { method: 'POST', body: JSON.stringify({ ...query, intervals: true }) },
        true,
      );
      return checkAuthorityAnswer(answer, query.senders.length);
    },
    async requestPull(sourceNodeId) {
      await call(z.unknown(), SYNC_PULL_REQUEST_PATH, {
        method: 'POST',
        body: JSON.stringify({ sourceNodeId }),
      });
    },
    async roomsChanged(roomIds) {
      await call(z.unknown(), SYNC_CHANGED_PATH, {
        method: 'POST',
        body: JSON.stringify({ roomIds }),
      });
    },
    async placement() {
      return (await call(PlacementNoticeSchema, PLACEMENT_PATH)).rooms;
    },
    async ackNotice(fenceId) {
      // Acknowledging a notice twice changes nothing: any central may take it again.
      await call(
        z.unknown(),
        NOTICE_ACK_PATH,
        { method: 'POST', body: JSON.stringify({ fenceId }) },
        true,
      );
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
            const response = await openStream(
              base,
              SYNC_JOBS_PATH,
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

/**
 * Central's word on writers, past what its schema checks, or CentralUnavailableError: a half
 * answer is no answer.
 */
function checkAuthorityAnswer(answer: AuthorityAnswer, senders: number): AuthorityAnswer {
  if (answer.senders.length !== senders)
    throw new CentralUnavailableError(
      `central answered ${SYNC_AUTHORITY_PATH} with ${answer.senders.length} sender answers, not ${senders}`,
    );
  const { memberships, roomMemberships, asOf, marginMs } = answer;
  const { roomMembersTag, roomMembershipsUnchanged } = answer;
  const storageNodes = answer.storageNodes;
  const senderAnswers = answer.senders;
  if (
    memberships === undefined &&
    roomMemberships === undefined &&
    roomMembershipsUnchanged === undefined
  )
    return { storageNodes, senders: senderAnswers };
  if (asOf === undefined || marginMs === undefined)
    throw new CentralUnavailableError(
      `central answered ${SYNC_AUTHORITY_PATH} with memberships but without asOf and marginMs`,
    );
  return {
    storageNodes,
    senders: senderAnswers,
    ...(memberships === undefined ? {} : { memberships }),
    ...(roomMemberships === undefined ? {} : { roomMemberships }),
    ...(roomMembersTag === undefined ? {} : { roomMembersTag }),
    ...(roomMembershipsUnchanged === undefined ? {} : { roomMembershipsUnchanged }),
    asOf,
    marginMs,
  };
}

function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch hides the socket error (ECONNREFUSED...) in `cause`.
  const cause = error.cause;
  return cause instanceof Error ? cause.message : error.message;
}

/** ": <message>" of an error answer in the GraphQL error shape; nothing for anything else. */
function errorMessageOf(text: string): string {
  const message = errorBodyMessage(text);
  return message === undefined ? '' : `: ${message.slice(0, 300)}`;
}
