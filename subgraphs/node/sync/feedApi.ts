// HTTP binding of the sync feed: `GET SYNC_CHANGES_PATH` and `GET SYNC_DIGESTS_PATH` on the node's
// own port, for peer nodes only (X-Node-API-Key, verified through central). Errors use the
// registry's codes in the GraphQL error shape, like every other non-GraphQL answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errorBody } from '../../../lib/errors.ts';
import { sendJson } from '../../../lib/http.ts';
import type { Logger } from '../../../lib/log.ts';
import { NODE_KEY_HEADER } from '../../../lib/nodeKeys.ts';
import {
  SYNC_CHANGES_PATH,
  SYNC_DIGESTS_PATH,
  type VerifiedNode,
} from '../../../lib/syncProtocol.ts';
import { CentralUnavailableError } from '../centralClient.ts';
import type { NodeDb } from '../db/open.ts';
import { ChangeFeed, CursorAheadError } from './changeFeed.ts';
import { roomDigests } from './digest.ts';
import type { PeerAuth } from './peerAuth.ts';

export interface FeedApiOptions {
  readonly db: NodeDb;
  readonly nodeId: string;
  readonly auth: PeerAuth;
  /** The most versions one batch may carry, whatever `limit` asks. @default 5000 */
  readonly maxBatchSize?: number;
  /** Largest batch in bytes of its versions' JSON (at least one version). @default 8388608 */
  readonly maxBatchBytes?: number;
  readonly log: Logger;
  /** @default Date.now */
  readonly now?: () => number;
}

export type FeedHandler = (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;

/** Versions per batch when the caller does not say. */
const DEFAULT_LIMIT = 1000;

/** Largest room list accepted in one request (a URL carries them). */
const MAX_ROOMS = 1000;

/** Serves the request if it is for the feed; returns false for any other path. */
export function createFeedApi(options: FeedApiOptions): FeedHandler {
  const maxBatchSize = options.maxBatchSize ?? 5000;
  const feed = new ChangeFeed({
    db: options.db,
    nodeId: options.nodeId,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.maxBatchBytes === undefined ? {} : { maxBatchBytes: options.maxBatchBytes }),
  });

  return async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== SYNC_CHANGES_PATH && url.pathname !== SYNC_DIGESTS_PATH) return false;
    if (req.method !== 'GET') {
      sendJson(res, 405, errorBody('BAD_USER_INPUT', `${url.pathname} accepts only GET`));
      return true;
    }
    const header = req.headers[NODE_KEY_HEADER];
    const key = Array.isArray(header) ? header[0] : header;
    if (!key || key.length > 512) {
      sendJson(res, 401, errorBody('UNAUTHENTICATED', 'a valid X-Node-API-Key header is required'));
      return true;
    }
    let peer;
    try {
      peer = await options.auth.verify(key);
    } catch (error) {
      if (!(error instanceof CentralUnavailableError)) throw error;
      options.log.warn(`cannot verify a peer's key: ${error.message}`);
      res.setHeader('retry-after', '1');
      sendJson(
        res,
        503,
        errorBody('NODE_UNAVAILABLE', `cannot verify the API key now: ${error.message}`),
      );
      return true;
    }
    if (!peer) {
      sendJson(
        res,
        401,
        errorBody('UNAUTHENTICATED', 'the X-Node-API-Key is not a valid node key'),
      );
      return true;
    }

    const rooms = parseRooms(url.searchParams.get('rooms'));
    if (typeof rooms === 'string') {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', rooms));
      return true;
    }
    // A key serves only the rooms its node stores. The room list comes cached with the key
    // (peerKeyCacheMs); a room it does not name gets one fresh look at central before refusal.
    let foreign = roomsNotStoredBy(peer, rooms);
    if (foreign.length > 0) {
      options.auth.forget(key);
      try {
        peer = await options.auth.verify(key);
      } catch (error) {
        if (!(error instanceof CentralUnavailableError)) throw error;
        res.setHeader('retry-after', '1');
        sendJson(
          res,
          503,
          errorBody('NODE_UNAVAILABLE', `cannot verify the API key now: ${error.message}`),
        );
        return true;
      }
      foreign = peer ? roomsNotStoredBy(peer, rooms) : rooms;
      if (!peer || foreign.length > 0) {
        sendJson(
          res,
          403,
          errorBody(
            'FORBIDDEN',
            `this node key may not read rooms it does not store: ${foreign.slice(0, 5).join(', ')}`,
          ),
        );
        return true;
      }
    }
    if (url.pathname === SYNC_DIGESTS_PATH) {
      sendJson(res, 200, roomDigests(options.db, rooms));
      return true;
    }

    const after = parseCount(url.searchParams.get('after'), 'after', 0);
    const limit = parseCount(
      url.searchParams.get('limit'),
      'limit',
      Math.min(DEFAULT_LIMIT, maxBatchSize),
    );
    const invalid = [after, limit].find((value) => typeof value === 'string');
    if (invalid !== undefined || typeof after !== 'number' || typeof limit !== 'number') {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', String(invalid)));
      return true;
    }
    if (limit < 1) {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', 'limit must be at least 1'));
      return true;
    }
    const acknowledged = parseCount(url.searchParams.get('ack'), 'ack', after);
    if (typeof acknowledged === 'string' || acknowledged > after) {
      const problem =
        typeof acknowledged === 'string'
          ? acknowledged
          : `ack (${acknowledged}) must not exceed after (${after})`;
      sendJson(res, 400, errorBody('BAD_USER_INPUT', problem));
      return true;
    }
    try {
      const batch = feed.read({
        after,
        acknowledged,
        limit: Math.min(limit, maxBatchSize),
        roomIds: rooms,
        peerNodeId: peer.nodeId,
        countRemaining: url.searchParams.get('count') === '1',
      });
      sendJson(res, 200, batch);
    } catch (error) {
      if (!(error instanceof CursorAheadError)) throw error;
      sendJson(res, 409, errorBody('CONFLICT', error.message));
    }
    return true;
  };
}

function parseRooms(raw: string | null): string[] | string {
  if (raw === null) return 'rooms is required: a comma-separated list of room ids (may be empty)';
  const rooms = raw === '' ? [] : raw.split(',');
  if (rooms.some((room) => room === '')) return 'rooms must not contain an empty room id';
  if (rooms.length > MAX_ROOMS) return `rooms may list at most ${MAX_ROOMS} room ids`;
  return rooms;
}

function parseCount(raw: string | null, name: string, fallback: number): number | string {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    return `${name} must be a non-negative integer, got "${raw.slice(0, 40)}"`;
  return n;
}

function roomsNotStoredBy(peer: VerifiedNode, rooms: readonly string[]): string[] {
  if (peer.roomIds === undefined) return [];
  const stored = new Set(peer.roomIds);
  return rooms.filter((room) => !stored.has(room));
}
