// Central's internal HTTP API for nodes (never through the gateway): heartbeats and membership
// checks and sync (see sync/httpApi.ts), authenticated by X-Node-API-Key. Users' and gateways' public keys (two separate JWKS) are served here too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { and, eq } from 'drizzle-orm';
import { errorBody } from '../../lib/errors.ts';
import { readBody, sendJson } from '../../lib/http.ts';
import {
  HEARTBEAT_PATH,
  MEMBERSHIP_PATH,
  type HeartbeatResponse,
  type MembershipResponse,
} from '../../lib/nodeApi.ts';
import { GATEWAY_JWKS_PATH } from '../../lib/gatewayAssertion.ts';
import { JWKS_PATH } from '../../lib/userAuth.ts';
import { NOTICE_ACK_PATH, PLACEMENT_PATH, validateNoticeAck } from '../../lib/nodeNotices.ts';
import type { CentralServices } from './context.ts';
import { roomMembers, rooms } from './db/schema.ts';
import { gatewayJwks } from './gatewayKeys.ts';
import {
  InvalidHeartbeatClockError,
  parseHeartbeatClock,
  type HeartbeatClock,
} from './nodeClock.ts';
import { writableRoomsOf } from './nodeNotices.ts';
import { recordHeartbeat } from './nodeLiveness.ts';
import { handleSyncApi } from './sync/httpApi.ts';
import * as valid from './validation.ts';

/** Wire shapes of the internal API, shared with the node's client (replies: lib/nodeApi.ts). */
/** What a node sends with each heartbeat. */
export interface HeartbeatRequest {
  /** Where the node is reached. */
  readonly url: string;
  /** Its clock as it measured it; absent from a node older than that. */
  readonly clock?: HeartbeatClock;
}
export type { HeartbeatResponse, MembershipResponse };

export const INTERNAL_PREFIX = '/internal/';

/** Handles the request if it is for the internal API or the JWKS; returns false otherwise. */
export async function handleInternal(
  services: CentralServices,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (url.pathname === JWKS_PATH && req.method === 'GET') {
    sendJson(res, 200, services.tokens.jwks);
    return true;
  }
  if (url.pathname === GATEWAY_JWKS_PATH && req.method === 'GET') {
    sendJson(res, 200, await gatewayJwks(services.db));
    return true;
  }
  if (!url.pathname.startsWith(INTERNAL_PREFIX)) return false;

  const node = await services.nodeAuth.authenticate(req);
  if (!node) {
    sendJson(res, 401, errorBody('UNAUTHENTICATED', 'a valid X-Node-API-Key header is required'));
    return true;
  }
  if (
    await handleSyncApi(
      { db: services.db, coordinator: services.sync, tokens: services.tokens },
      node,
      req,
      res,
      url.pathname,
    )
  )
    return true;
  if (url.pathname === HEARTBEAT_PATH && req.method === 'POST') {
    let reportedUrl: string | undefined;
    let clock: HeartbeatClock | undefined;
    try {
      const body = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}') as {
        url?: unknown;
        clock?: unknown;
      };
      reportedUrl = typeof body.url === 'string' ? valid.nodeUrl(body.url) : undefined;
      clock = parseHeartbeatClock(body.clock);
    } catch (error) {
      const message =
        error instanceof InvalidHeartbeatClockError
          ? `heartbeat body: ${error.message}`
          : 'heartbeat body must be JSON with an http(s) "url"';
      sendJson(res, 400, errorBody('BAD_USER_INPUT', message));
      return true;
    }
    await recordHeartbeat(services, node, reportedUrl, clock);
    const body: HeartbeatResponse = {
      nodeId: node.id,
      name: node.name,
      heartbeatIntervalMs: services.heartbeatIntervalMs,
      // Read last, as close to sending as possible: the node takes it as the trip's middle.
      centralTime: Date.now(),
    };
    sendJson(res, 200, body);
    return true;
  }
  if (url.pathname === PLACEMENT_PATH && req.method === 'GET') {
    sendJson(res, 200, { rooms: await writableRoomsOf(services.db, node.id) });
    return true;
  }
  if (url.pathname === NOTICE_ACK_PATH && req.method === 'POST') {
    let fenceId: string;
    try {
      ({ fenceId } = validateNoticeAck(
        JSON.parse((await readBody(req, 4 * 1024)).toString('utf8') || '{}'),
      ));
    } catch (error) {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', `invalid ack: ${(error as Error).message}`));
      return true;
    }
    await services.events.publish({ type: 'noticeAcked', nodeId: node.id, fenceId });
    sendJson(res, 200, {});
    return true;
  }
  if (url.pathname === MEMBERSHIP_PATH && req.method === 'GET') {
    const roomId = url.searchParams.get('roomId') ?? '';
    const userId = url.searchParams.get('userId') ?? '';
    const [room] = await services.db
      .select({ id: rooms.id, visibility: rooms.visibility })
      .from(rooms)
      .where(eq(rooms.id, roomId));
    const [member] = room
      ? await services.db
          .select({ userId: roomMembers.userId })
          .from(roomMembers)
          .where(and(eq(roomMembers.roomId, roomId), eq(roomMembers.userId, userId)))
      : [];
    const body: MembershipResponse = {
      roomExists: room !== undefined,
      member: member !== undefined,
      private: room?.visibility === 'PRIVATE',
    };
    sendJson(res, 200, body);
    return true;
  }
  sendJson(res, 404, errorBody('NOT_FOUND', `no internal endpoint ${req.method} ${url.pathname}`));
  return true;
}
