// HTTP binding of the coordinator for nodes (X-Node-API-Key, already verified by internalApi.ts):
// the job stream (Server-Sent Events: jobs and live peers), sync reports, live window reports,
// change notifications, writer authority and pull tokens.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { z } from 'zod';
import { errorBody, errorCodes, isErrorCode } from '../../../lib/errors.ts';
import { PayloadTooLargeError, readBody, sendJson } from '../../../lib/http.ts';
import {
  SYNC_AUTHORITY_PATH,
  SYNC_CHANGED_PATH,
  SYNC_JOBS_PATH,
  SYNC_PULL_REQUEST_PATH,
  SYNC_LIVE_REPORT_PATH,
  SYNC_LIVE_REPORTS_PATH,
  SYNC_PULL_TOKEN_PATH,
  SYNC_REPORT_PATH,
  LiveReportsRequestSchema,
  PullRequestSchema,
  PullTokenRequestSchema,
  RoomsChangedSchema,
  type LiveReport,
  type LiveReportResult,
} from '../../../lib/syncProtocol.ts';
import { describeField } from '../../../lib/wire.ts';
import type { CentralDatabase } from '../db/open.ts';
import type { NodeRow } from '../db/schema.ts';
import type { TokenSigner } from '../tokens.ts';
import {
  answerAuthority,
  InvalidAuthorityQueryError,
  validateAuthorityQuery,
} from './authority.ts';
import type { SyncCoordinator } from './coordinator.ts';
import { InvalidLiveReportError, validateLiveReport } from './liveReport.ts';
import type { RoomMembersTags } from './roomMembersTags.ts';
import { loadTopology } from './topology.ts';
import { InvalidSyncReportError, validateSyncReport } from './validateReport.ts';

export interface SyncApiOptions {
  readonly db: CentralDatabase;
  readonly coordinator: SyncCoordinator;
  readonly tokens: Pick<TokenSigner, 'signPull'>;
  /** Lets a membership refresh that changed nothing be answered without reading. */
  readonly roomMembersTags?: RoomMembersTags;
  /** Largest accepted report body. @default 33554432 (32 MiB) */
  readonly maxReportBytes?: number;
  /** Comment lines on idle job streams keep proxies from closing them. @default 15000 */
  readonly keepAliveMs?: number;
}

/**
 * How the result of a report refused as malformed names it: its window and sequence as sent when
 * they are a string and a number, else '' and 0 (the node matches results by position, and the
 * result's shape wants both).
 */
const RefusedReportNameSchema = z
  .object({ windowId: z.string().catch(''), sequence: z.number().catch(0) })
  .catch({ windowId: '', sequence: 0 });

/** Serves the request if it is a sync endpoint; returns false otherwise. */
export async function handleSyncApi(
  options: SyncApiOptions,
  node: NodeRow,
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
): Promise<boolean> {
  if (pathname === SYNC_JOBS_PATH && req.method === 'GET') {
    streamJobs(options, node, req, res);
    return true;
  }
  if (pathname === SYNC_REPORT_PATH && req.method === 'POST') {
    const body = await readJson(req, res, options.maxReportBytes ?? 32 * 1024 * 1024);
    if (body === undefined) return true;
    let report;
    try {
      report = validateSyncReport(body);
    } catch (error) {
      if (!(error instanceof InvalidSyncReportError)) throw error;
      sendJson(res, 400, errorBody('BAD_USER_INPUT', `invalid sync report: ${error.message}`));
      return true;
    }
    await answer(res, () => options.coordinator.report(node, report));
    return true;
  }
  if (pathname === SYNC_LIVE_REPORT_PATH && req.method === 'POST') {
    const body = await readJson(req, res, options.maxReportBytes ?? 32 * 1024 * 1024);
    if (body === undefined) return true;
    let report;
    try {
      report = validateLiveReport(body);
    } catch (error) {
      if (!(error instanceof InvalidLiveReportError)) throw error;
      sendJson(res, 400, errorBody('BAD_USER_INPUT', `invalid live report: ${error.message}`));
      return true;
    }
    await answer(res, () => options.coordinator.liveReport(node, report));
    return true;
  }
  if (pathname === SYNC_LIVE_REPORTS_PATH && req.method === 'POST') {
    const body = await readJson(req, res, options.maxReportBytes ?? 32 * 1024 * 1024);
    if (body === undefined) return true;
    const request = parseBody(res, LiveReportsRequestSchema, body, 'live reports');
    if (request === undefined) return true;
    // Each report is judged on its own: an invalid one is refused, the others are recorded.
    const reports = request.reports.map((entry, i): LiveReport | LiveReportResult => {
      try {
        return validateLiveReport(entry);
      } catch (error) {
        if (!(error instanceof InvalidLiveReportError)) throw error;
        return {
          ...RefusedReportNameSchema.parse(entry),
          error: {
            code: 'BAD_USER_INPUT',
            message: `invalid live report (reports[${i}]): ${error.message}`,
          },
        };
      }
    });
    await answer(res, () => options.coordinator.liveReports(node, reports));
    return true;
  }
  if (pathname === SYNC_CHANGED_PATH && req.method === 'POST') {
    const body = await readJson(req, res, 256 * 1024);
    if (body === undefined) return true;
    const request = parseBody(res, RoomsChangedSchema, body, 'rooms changed');
    if (request === undefined) return true;
    await answer(res, async () => ({
      sessionIds: (await options.coordinator.roomsChanged(node, request.roomIds)).map((s) => s.id),
    }));
    return true;
  }
  if (pathname === SYNC_PULL_REQUEST_PATH && req.method === 'POST') {
    const body = await readJson(req, res, 16 * 1024);
    if (body === undefined) return true;
    const request = parseBody(res, PullRequestSchema, body, 'pull request');
    if (request === undefined) return true;
    const { sourceNodeId } = request;
    await answer(res, async () => ({
      sessionIds: (await options.coordinator.pullRequested(node, sourceNodeId)).map((s) => s.id),
    }));
    return true;
  }
  if (pathname === SYNC_AUTHORITY_PATH && req.method === 'POST') {
    // 5000 checks of two ids and a time fit in well under 2 MiB.
    const body = await readJson(req, res, 2 * 1024 * 1024);
    if (body === undefined) return true;
    let query;
    try {
      query = validateAuthorityQuery(body);
    } catch (error) {
      if (!(error instanceof InvalidAuthorityQueryError)) throw error;
      sendJson(res, 400, errorBody('BAD_USER_INPUT', `invalid authority query: ${error.message}`));
      return true;
    }
    sendJson(res, 200, await answerAuthority(options.db, query, options.roomMembersTags));
    return true;
  }
  if (pathname === SYNC_PULL_TOKEN_PATH && req.method === 'POST') {
    const body = await readJson(req, res, 256 * 1024);
    if (body === undefined) return true;
    await servePullToken(options, node, body, res);
    return true;
  }
  return false;
}

/**
 * A pull token for the caller (the target) to read `roomIds` from `sourceNodeId`'s feed, only if
 * both nodes store every one of those rooms now: the token can never widen what the caller reads.
 */
async function servePullToken(
  options: SyncApiOptions,
  node: NodeRow,
  body: unknown,
  res: ServerResponse,
): Promise<void> {
  const request = parseBody(res, PullTokenRequestSchema, body, 'pull token request');
  if (request === undefined) return;
  const { sourceNodeId, roomIds } = request;
  if (sourceNodeId === node.id) {
    sendJson(res, 400, errorBody('BAD_USER_INPUT', 'a node does not pull from itself'));
    return;
  }
  const topology = await loadTopology(options.db);
  if (!topology.nodes.has(sourceNodeId)) {
    sendJson(res, 404, errorBody('NOT_FOUND', `no node ${sourceNodeId}`));
    return;
  }
  const shared = new Set(topology.sharedRooms(sourceNodeId, node.id));
  const foreign = [...new Set(roomIds)].filter((room) => !shared.has(room));
  if (foreign.length > 0) {
    sendJson(
      res,
      403,
      errorBody(
        'FORBIDDEN',
        `${foreign.length} of these rooms are not stored by both ${sourceNodeId} and this node: ${foreign.slice(0, 5).join(', ')}`,
      ),
    );
    return;
  }
  sendJson(
    res,
    200,
    await options.tokens.signPull({ sourceNodeId, targetNodeId: node.id, roomIds }),
  );
}

/** The body as `schema` reads it; else answered 400 naming the first fault's field, and undefined. */
function parseBody<S extends z.ZodType>(
  res: ServerResponse,
  schema: S,
  body: unknown,
  what: string,
): z.output<S> | undefined {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  sendJson(
    res,
    400,
    errorBody(
      'BAD_USER_INPUT',
      `invalid ${what}: ${describeField(result.error.issues[0], 'the body')}`,
    ),
  );
  return undefined;
}

async function readJson(
  req: IncomingMessage,
  res: ServerResponse,
  maxBytes: number,
): Promise<unknown> {
  let raw: Buffer;
  try {
    raw = await readBody(req, maxBytes);
  } catch (error) {
    if (!(error instanceof PayloadTooLargeError)) throw error;
    sendJson(res, 413, errorBody('PAYLOAD_TOO_LARGE', error.message));
    return undefined;
  }
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    sendJson(res, 400, errorBody('BAD_USER_INPUT', 'request body is not valid JSON'));
    return undefined;
  }
}

/** Sends `run`'s result as JSON, or the registry error it threw with its HTTP status. */
async function answer(res: ServerResponse, run: () => Promise<object>): Promise<void> {
  try {
    sendJson(res, 200, await run());
  } catch (error) {
    const code = error instanceof GraphQLError ? error.extensions['code'] : undefined;
    if (!isErrorCode(code)) throw error;
    sendJson(res, errorCodes[code].http, errorBody(code, (error as Error).message));
  }
}

function streamJobs(
  options: SyncApiOptions,
  node: NodeRow,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  res.writeHead(200, {
    'content-type': 'text/event-stream',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.write(': connected\n\n');
  let open = true;
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), options.keepAliveMs ?? 15_000);
  keepAlive.unref();
  const detach = options.coordinator.attach(node, {
    send: (job) => {
      if (open) res.write(`event: job\ndata: ${JSON.stringify(job)}\n\n`);
    },
    sendPeers: (peers) => {
      if (open) res.write(`event: peers\ndata: ${JSON.stringify({ peers })}\n\n`);
    },
    sendNotice: (event, notice) => {
      if (open) res.write(`event: ${event}\ndata: ${JSON.stringify(notice)}\n\n`);
    },
    close: () => res.end(),
  });
  const stop = () => {
    if (!open) return;
    open = false;
    clearInterval(keepAlive);
    detach();
  };
  req.on('close', stop);
  res.on('close', stop);
}
