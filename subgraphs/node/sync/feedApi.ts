// HTTP binding of the sync feed: `GET SYNC_CHANGES_PATH` and `GET SYNC_DIGESTS_PATH` on the node's
// own port, for peer nodes only: each request carries a pull token central signed for this node,
// the caller and exactly the rooms asked (lib/pullToken.ts), checked here with central's public
// keys and no call to central. Errors use the registry's codes in the GraphQL error shape, like
// every other non-GraphQL answer.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { errorBody } from '../../../lib/errors.ts';
import { sendJson } from '../../../lib/http.ts';
import type { Logger } from '../../../lib/log.ts';
import {
  PULL_TOKEN_HEADER,
  PullTokenError,
  roomSetDigest,
  verifyPullToken,
  type PullGrant,
} from '../../../lib/pullToken.ts';
import {
  MAX_FEED_WAIT_MS,
  MAX_REFUSED_PER_REQUEST,
  SYNC_CHANGES_PATH,
  SYNC_DIGESTS_PATH,
  type ChangeBatch,
} from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';
import type { MessageEvents } from '../messageEvents.ts';
import { ChangeFeed, CursorAheadError, type ChangeRequest } from './changeFeed.ts';
import { roomDigests } from './digest.ts';
import { FeedWaiters } from './feedWaiters.ts';

export interface FeedApiOptions {
  readonly db: NodeDb;
  readonly nodeId: string;
  /** Central's public keys (its JWKS), which pull tokens are checked with. */
  readonly keys: JWTVerifyGetKey;
  /** The most versions one batch may carry, whatever `limit` asks. @default 5000 */
  readonly maxBatchSize?: number;
  /** Largest batch in bytes of its versions' JSON (at least one version). @default 8388608 */
  readonly maxBatchBytes?: number;
  readonly log: Logger;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * The node's commit events, which wake long polls (`wait`). Without them a request with `wait`
   * is answered at once, as without.
   */
  readonly events?: MessageEvents;
}

export interface FeedHandler {
  (req: IncomingMessage, res: ServerResponse): Promise<boolean>;
  /** Answers every parked long poll 503 at once (the node is shutting down) and parks no more. */
  close(): void;
}

/** Versions per batch when the caller does not say. */
const DEFAULT_LIMIT = 1000;

/** Largest room list accepted in one request (a URL carries them). */
const MAX_ROOMS = 1000;

/** Longer than any token central signs: refused before any parsing. */
const MAX_TOKEN_CHARS = 4096;

/** Serves the request if it is for the feed; returns false for any other path. */
export function createFeedApi(options: FeedApiOptions): FeedHandler {
  const maxBatchSize = options.maxBatchSize ?? 5000;
  const waiters = options.events === undefined ? undefined : new FeedWaiters(options.events);
  const feed = new ChangeFeed({
    db: options.db,
    nodeId: options.nodeId,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.maxBatchBytes === undefined ? {} : { maxBatchBytes: options.maxBatchBytes }),
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname !== SYNC_CHANGES_PATH && url.pathname !== SYNC_DIGESTS_PATH) return false;
    if (req.method !== 'GET') {
      sendJson(res, 405, errorBody('BAD_USER_INPUT', `${url.pathname} accepts only GET`));
      return true;
    }
    const header = req.headers[PULL_TOKEN_HEADER];
    const token = Array.isArray(header) ? header[0] : header;
    if (!token || token.length > MAX_TOKEN_CHARS) {
      sendJson(
        res,
        401,
        errorBody('UNAUTHENTICATED', 'a pull token from central is required in X-Sync-Pull-Token'),
      );
      return true;
    }
    let grant: PullGrant;
    try {
      grant = await verifyPullToken(token, options.keys, options.nodeId);
    } catch (error) {
      if (!(error instanceof PullTokenError)) throw error;
      if (error.unavailable) {
        options.log.warn(`cannot check a pull token: ${error.message}`);
        res.setHeader('retry-after', '1');
        sendJson(
          res,
          503,
          errorBody('NODE_UNAVAILABLE', `cannot check the pull token now: ${error.message}`),
        );
        return true;
      }
      sendJson(res, 401, errorBody('UNAUTHENTICATED', error.message));
      return true;
    }

    const rooms = parseRooms(url.searchParams.get('rooms'));
    if (typeof rooms === 'string') {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', rooms));
      return true;
    }
    // Central signed the token for rooms both nodes store; any other set needs its own token.
    if (roomSetDigest(rooms) !== grant.roomDigest) {
      sendJson(
        res,
        403,
        errorBody(
          'FORBIDDEN',
          'this pull token covers another set of rooms: ask central for a token for these rooms',
        ),
      );
      return true;
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
    const refused = parseRefused(url.searchParams.get('refused'), acknowledged);
    if (typeof refused === 'string') {
      sendJson(res, 400, errorBody('BAD_USER_INPUT', refused));
      return true;
    }
    const wait = parseCount(url.searchParams.get('wait'), 'wait', 0);
    if (typeof wait === 'string' || wait > MAX_FEED_WAIT_MS) {
      const problem =
        typeof wait === 'string' ? wait : `wait must be at most ${MAX_FEED_WAIT_MS} ms`;
      sendJson(res, 400, errorBody('BAD_USER_INPUT', problem));
      return true;
    }
    const request: ChangeRequest = {
      after,
      acknowledged,
      limit: Math.min(limit, maxBatchSize),
      roomIds: rooms,
      peerNodeId: grant.peerNodeId,
      countRemaining: url.searchParams.get('count') === '1',
      refused,
      skipEchoes: url.searchParams.get('echoes') === '0',
    };
    try {
      let batch = feed.read(request);
      if (wait > 0 && waiters !== undefined && batch.versions.length === 0) {
        const parked = await longPoll(feed, waiters, request, wait, res);
        if (parked === 'closed') {
          res.setHeader('retry-after', '1');
          sendJson(res, 503, errorBody('NODE_UNAVAILABLE', 'node is shutting down'));
          return true;
        }
        batch = parked;
      }
      sendJson(res, 200, batch);
    } catch (error) {
      if (!(error instanceof CursorAheadError)) throw error;
      sendJson(res, 409, errorBody('CONFLICT', error.message));
    }
    return true;
  };
  return Object.assign(handle, { close: () => waiters?.close() });
}

/**
 * Parks the request until a change of its rooms commits, then reads again (the acknowledgement
 * was recorded by the first read; repeating it finds nothing to mark). Answers the empty batch
 * read last when the wait ends, 'closed' at shutdown.
 */
async function longPoll(
  feed: ChangeFeed,
  waiters: FeedWaiters,
  request: ChangeRequest,
  waitMs: number,
  res: ServerResponse,
): Promise<ChangeBatch | 'closed'> {
  // The response closes when the caller goes away (a request's own 'close' fires once its body
  // was read, which for a GET is at once).
  const gone = new AbortController();
  const onClose = () => gone.abort();
  res.on('close', onClose);
  try {
    const deadline = Date.now() + waitMs;
    let reading = request;
    for (;;) {
      const outcome = await waiters.wait(request.roomIds, deadline - Date.now(), gone.signal);
      if (outcome === 'closed') return 'closed';
      const batch = feed.read(reading);
      if (outcome === 'timeout' || batch.versions.length > 0 || Date.now() >= deadline) {
        return batch;
      }
      // Only the caller's echoes were committed: the next read starts past them instead of
      // reading them again, and the answer, whenever it comes, carries the cursor beyond them.
      if (batch.nextAfter > reading.after) reading = { ...reading, after: batch.nextAfter };
    }
  } finally {
    res.off('close', onClose);
  }
}

// The query's parameters, read by zod schemas: each answers its value or the message that says
// what is wrong (BAD_USER_INPUT). Checks between parameters (ack <= after...) stay in the handler.

const roomsParam = z
  .string({ error: 'rooms is required: a comma-separated list of room ids (may be empty)' })
  .transform((raw) => (raw === '' ? [] : raw.split(',')))
  .pipe(
    z
      .array(z.string().min(1, { error: 'rooms must not contain an empty room id' }))
      .max(MAX_ROOMS, { error: `rooms may list at most ${MAX_ROOMS} room ids` }),
  );

const countParam = (name: string) =>
  z
    .string()
    .refine((raw) => /^\d+$/.test(raw) && Number.isSafeInteger(Number(raw)), {
      error: (issue) =>
        `${name} must be a non-negative integer, got "${String(issue.input).slice(0, 40)}"`,
    })
    .transform(Number);

const refusedParam = z
  .string()
  .transform((raw) => raw.split(','))
  .pipe(
    z.array(countParam('refused')).max(MAX_REFUSED_PER_REQUEST, {
      error: `refused may list at most ${MAX_REFUSED_PER_REQUEST} seqs`,
    }),
  );

/** The value `schema` reads from `raw`, or the message of its first fault. */
function readParam<T>(schema: z.ZodType<T, string>, raw: string): T | string {
  const result = schema.safeParse(raw);
  return result.success ? result.data : (result.error.issues[0]?.message ?? 'invalid');
}

function parseRooms(raw: string | null): string[] | string {
  const result = roomsParam.safeParse(raw);
  return result.success ? result.data : (result.error.issues[0]?.message ?? 'invalid rooms');
}

function parseRefused(raw: string | null, acknowledged: number): number[] | string {
  if (raw === null || raw === '') return [];
  const seqs = readParam(refusedParam, raw);
  if (typeof seqs === 'string') return seqs;
  const outside = seqs.find((seq) => seq < 1 || seq > acknowledged);
  if (outside !== undefined)
    return `refused seq ${outside} must be between 1 and ack (${acknowledged})`;
  return seqs;
}

function parseCount(raw: string | null, name: string, fallback: number): number | string {
  return raw === null ? fallback : readParam(countParam(name), raw);
}
