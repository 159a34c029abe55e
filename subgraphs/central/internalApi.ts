// Central's internal HTTP API for nodes (never through the gateway): heartbeats and membership
// checks and sync (see sync/httpApi.ts), authenticated by X-Node-API-Key. Users' and gateways' public keys (two separate JWKS) are served here too.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { and, eq } from 'drizzle-orm';
import { errorBody } from '../../lib/errors.ts';
import { readBody, sendJson } from '../../lib/http.ts';
import {
  HEARTBEAT_PATH,
  HeartbeatRequestSchema,
  MEMBERSHIP_PATH,
  type HeartbeatRequest,
  type HeartbeatResponse,
  type MembershipResponse,
} from '../../lib/nodeApi.ts';
import { GATEWAY_JWKS_PATH } from '../../lib/gatewayAssertion.ts';
import { JWKS_PATH } from '../../lib/userAuth.ts';
import { NOTICE_ACK_PATH, PLACEMENT_PATH, validateNoticeAck } from '../../lib/nodeNotices.ts';
import { describeField } from '../../lib/wire.ts';
import type { CentralServices } from './context.ts';
import { roomMembers, rooms } from './db/schema.ts';
import { gatewayJwks } from './gatewayKeys.ts';
import { writableRoomsOf } from './nodeNotices.ts';
import { recordHeartbeat } from './nodeLiveness.ts';
import { handleSyncApi } from './sync/httpApi.ts';
import * as valid from './validation.ts';

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
      {
        db: services.db,
        coordinator: services.sync,
        tokens: services.tokens,
        roomMembersTags: services.roomMembersTags,
      },
      node,
      req,
      res,
      url.pathname,
    )
  )
    return true;
  if (url.pathname === HEARTBEAT_PATH && req.method === 'POST') {
    let request: HeartbeatRequest;
    let reportedUrl: string | undefined;
    try {
      const body: unknown = JSON.parse((await readBody(req, 64 * 1024)).toString('utf8') || '{}');
      const read = HeartbeatRequestSchema.safeParse(body);
      if (!read.success) {
        const issue = read.error.issues[0];
        // A clock fault is named (a node's measurement is wrong); anything else is the body's.
        const message =
          issue?.path[0] === 'clock'
            ? `heartbeat body: ${describeField(issue, 'clock')}`
            : 'heartbeat body must be JSON with an http(s) "url"';
        sendJson(res, 400, errorBody('BAD_USER_INPUT', message));
        return true;
      }
      request = read.data;
      reportedUrl = request.url === undefined ? undefined : valid.nodeUrl(request.url);
    } catch {
      sendJson(
        res,
        400,
        errorBody('BAD_USER_INPUT', 'heartbeat body must be JSON with an http(s) "url"'),
      );
      return true;
    }
    await recordHeartbeat(services, node, reportedUrl, request.clock);
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
