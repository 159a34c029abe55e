// HTTP binding of the coordinator for nodes (X-Node-API-Key, already verified by internalApi.ts):
// the job stream (Server-Sent Events), sync reports, change notifications, writer authority and
// peer key checks.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { eq } from 'drizzle-orm';
import { GraphQLError } from 'graphql';
import { errorBody, errorCodes, isErrorCode } from '../../../lib/errors.ts';
import { PayloadTooLargeError, readBody, sendJson } from '../../../lib/http.ts';
import { hashApiKey, sameDigest } from '../../../lib/nodeKeys.ts';
import {
  NODE_VERIFY_PATH,
  SYNC_AUTHORITY_PATH,
  SYNC_CHANGED_PATH,
  SYNC_JOBS_PATH,
  SYNC_REPORT_PATH,
  type VerifiedNode,
} from '../../../lib/syncProtocol.ts';
import type { CentralDatabase } from '../db/open.ts';
import { nodes, rooms, type NodeRow } from '../db/schema.ts';
import { storageNodeIdsOf } from '../placement.ts';
import {
  answerAuthority,
  InvalidAuthorityQueryError,
  validateAuthorityQuery,
} from './authority.ts';
import type { SyncCoordinator } from './coordinator.ts';
import { InvalidSyncReportError, validateSyncReport } from './validateReport.ts';

export interface SyncApiOptions {
  readonly db: CentralDatabase;
  readonly coordinator: SyncCoordinator;
  /** Largest accepted report body. @default 33554432 (32 MiB) */
  readonly maxReportBytes?: number;
  /** Comment lines on idle job streams keep proxies from closing them. @default 15000 */
  readonly keepAliveMs?: number;
}

const MAX_CHANGED_ROOMS = 1000;

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
  if (pathname === SYNC_CHANGED_PATH && req.method === 'POST') {
    const body = await readJson(req, res, 256 * 1024);
    if (body === undefined) return true;
    const roomIds = (body as { roomIds?: unknown } | null)?.roomIds;
    if (
      !Array.isArray(roomIds) ||
      roomIds.length > MAX_CHANGED_ROOMS ||
      !roomIds.every((id) => typeof id === 'string' && id.length > 0 && id.length <= 128)
    ) {
      sendJson(
        res,
        400,
        errorBody(
          'BAD_USER_INPUT',
          `body must be { "roomIds": [...] } with at most ${MAX_CHANGED_ROOMS} room ids`,
        ),
      );
      return true;
    }
    await answer(res, async () => ({
      sessionIds: (await options.coordinator.roomsChanged(node, roomIds as string[])).map(
        (s) => s.id,
      ),
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
    sendJson(res, 200, await answerAuthority(options.db, query));
    return true;
  }
  if (pathname === NODE_VERIFY_PATH && req.method === 'POST') {
    const body = await readJson(req, res, 4096);
    if (body === undefined) return true;
    const apiKey = (body as { apiKey?: unknown } | null)?.apiKey;
    if (typeof apiKey !== 'string' || apiKey.length === 0 || apiKey.length > 512) {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', 'body must be { "apiKey": "<a node key>" }'));
      return true;
    }
    const digest = hashApiKey(apiKey);
    const [owner] = await options.db.select().from(nodes).where(eq(nodes.apiKeyHash, digest));
    if (!owner || !sameDigest(owner.apiKeyHash, digest)) {
      sendJson(res, 401, errorBody('UNAUTHENTICATED', 'that is not the API key of any node'));
      return true;
    }
    // The rooms the owner stores, so the source serves it those and no others. Computed over all
    // rooms: fine for the hundreds of rooms Switchboard is built for, an index if ever more.
    const [allRooms, allNodes] = await Promise.all([
      options.db
        .select({
          id: rooms.id,
          homeNodeId: rooms.homeNodeId,
          replicaNodeIds: rooms.replicaNodeIds,
        })
        .from(rooms),
      options.db.select({ id: nodes.id }).from(nodes),
    ]);
    const roomIds = allRooms
      .filter((r) => storageNodeIdsOf(r, allNodes).includes(owner.id))
      .map((r) => r.id);
    sendJson(res, 200, { nodeId: owner.id, name: owner.name, roomIds } satisfies VerifiedNode);
    return true;
  }
  return false;
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
