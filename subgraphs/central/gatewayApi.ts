// Central's internal API for gateways: the routing table (nodes, room placement) and a stream of
// change events (server-sent events), authenticated by the secret shared with the gateways.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { asc, inArray } from 'drizzle-orm';
import { errorBody } from '../../lib/errors.ts';
import { GATEWAY_KEYS_ROUTE, GatewayKeyRequestSchema } from '../../lib/gatewayAssertion.ts';
import {
  GATEWAY_PREFIX,
  GATEWAY_SECRET_HEADER,
  type RoomPlacement,
  type RoutingNode,
} from '../../lib/gatewayProtocol.ts';
import { readBody, sendJson } from '../../lib/http.ts';
import { openSseStream } from '../../lib/sseWriter.ts';
import type { CentralServices } from './context.ts';
import { activeNode, nodes, rooms } from './db/schema.ts';
import { registerGatewayKey } from './gatewayKeys.ts';
import { storageNodeIdsOf } from './placement.ts';

function digest(value: string): Buffer {
  return createHash('sha256').update(value).digest();
}

export function gatewaySecretMatches(expected: string | undefined, req: IncomingMessage): boolean {
  const header = req.headers[GATEWAY_SECRET_HEADER];
  const given = Array.isArray(header) ? header[0] : header;
  // Hashing both sides first makes the comparison constant-time whatever the lengths.
  return (
    expected !== undefined &&
    given !== undefined &&
    timingSafeEqual(digest(expected), digest(given))
  );
}

export async function handleGatewayApi(
  services: CentralServices,
  gatewaySecret: string | undefined,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<boolean> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  if (!url.pathname.startsWith(GATEWAY_PREFIX)) return false;
  if (!gatewaySecretMatches(gatewaySecret, req)) {
    sendJson(
      res,
      401,
      errorBody('UNAUTHENTICATED', `a valid ${GATEWAY_SECRET_HEADER} header is required`),
    );
    return true;
  }
  const route = url.pathname.slice(GATEWAY_PREFIX.length);
  if (route === 'nodes' && req.method === 'GET') {
    const rows = await services.db
      .select({ id: nodes.id, name: nodes.name, url: nodes.url, status: nodes.status })
      .from(nodes)
      .where(activeNode)
      .orderBy(asc(nodes.name));
    sendJson(res, 200, { nodes: rows satisfies RoutingNode[] });
    return true;
  }
  if (route === 'rooms' && req.method === 'GET') {
    const ids = (url.searchParams.get('ids') ?? '').split(',').filter(Boolean).slice(0, 1000);
    const [found, all] = await Promise.all([
      ids.length === 0
        ? []
        : services.db
            .select({
              id: rooms.id,
              homeNodeId: rooms.homeNodeId,
              replicaNodeIds: rooms.replicaNodeIds,
            })
            .from(rooms)
            .where(inArray(rooms.id, ids)),
      services.db.select({ id: nodes.id }).from(nodes).where(activeNode).orderBy(asc(nodes.name)),
    ]);
    const placements: RoomPlacement[] = found.map((r) => ({
      id: r.id,
      homeNodeId: r.homeNodeId,
      storageNodeIds: storageNodeIdsOf(r, all),
    }));
    sendJson(res, 200, { rooms: placements });
    return true;
  }
  if (route === GATEWAY_KEYS_ROUTE && req.method === 'POST') {
    let request;
    try {
      request = GatewayKeyRequestSchema.safeParse(
        JSON.parse((await readBody(req, 4 * 1024)).toString('utf8') || '{}'),
      );
    } catch {
      request = undefined;
    }
    if (!request?.success) {
      sendJson(
        res,
        400,
        errorBody(
          'BAD_USER_INPUT',
          'body must be JSON {"jwk": <Ed25519 public JWK with a "gw-" kid>}, private parts never',
        ),
      );
      return true;
    }
    const { jwk } = request.data;
    const outcome = await registerGatewayKey(services.db, jwk);
    if (outcome === 'conflict') {
      sendJson(res, 409, errorBody('CONFLICT', `key id ${jwk.kid} is held by another key`));
      return true;
    }
    sendJson(res, 200, { kid: jwk.kid });
    return true;
  }
  if (route === 'events' && req.method === 'GET') {
    streamEvents(services, req, res);
    return true;
  }
  sendJson(res, 404, errorBody('NOT_FOUND', `no gateway endpoint ${req.method} ${url.pathname}`));
  return true;
}

/**
 * Server-sent events: one `data:` line per central event, a comment line as keep-alive. Ended
 * when this central may have missed events (the bus's gap): the gateway then connects again and
 * reloads what it routes by, as after any drop of the stream.
 */
function streamEvents(services: CentralServices, req: IncomingMessage, res: ServerResponse): void {
  let unsubscribe = () => {};
  let unsubscribeGap = () => {};
  const stream = openSseStream(req, res, {
    onClose: () => {
      unsubscribe();
      unsubscribeGap();
    },
  });
  unsubscribe = services.events.subscribe((event) => {
    // Between centrals and nodes only (nodeNotices.ts): nothing a gateway routes by.
    if (event.type === 'nodeNotice' || event.type === 'noticeAcked') return;
    stream.send(event);
  });
  unsubscribeGap = services.events.onGap(() => stream.end());
}
