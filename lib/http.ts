// node:http plumbing shared by every server: Apollo Server 5 has no HTTP framework built in, so
// this turns an IncomingMessage into an HTTPGraphQLRequest (with a body size limit) and back.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { HeaderMap, type ApolloServer, type BaseContext } from '@apollo/server';
import { errorBody } from './errors.ts';

export class PayloadTooLargeError extends Error {
  override readonly name = 'PayloadTooLargeError';
}

/** Reads a request body, refusing more than `maxBytes` as soon as it is exceeded. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) {
    req.resume();
    throw new PayloadTooLargeError(`request body exceeds ${maxBytes} bytes`);
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > maxBytes) {
      req.resume();
      throw new PayloadTooLargeError(`request body exceeds ${maxBytes} bytes`);
    }
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function sendJson(res: ServerResponse, status: number, body: string | object): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(text);
}

export function toHeaderMap(req: IncomingMessage): HeaderMap {
  const headers = new HeaderMap();
  for (const [key, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(key, Array.isArray(value) ? value.join(', ') : value);
  }
  return headers;
}

export interface GraphQLHandlerOptions<TContext extends BaseContext> {
  readonly server: ApolloServer<TContext>;
  readonly context: (req: IncomingMessage) => Promise<TContext>;
  /** @default 1_048_576 (1 MiB) */
  readonly maxBodyBytes?: number;
  /**
   * Longest a request may take; after it the client gets 504 OPERATION_TIMEOUT and the late
   * answer is dropped. @default none
   */
  readonly operationTimeoutMs?: number;
  /**
   * Offered each request once its body is read: serves it (a streamed subscription) and returns
   * true, or returns false to leave it to Apollo Server. @default none
   */
  readonly takeOver?: (
    req: IncomingMessage,
    res: ServerResponse,
    body: unknown,
  ) => Promise<boolean>;
}

export const TIMED_OUT = Symbol('timed out');

/** `work`, or TIMED_OUT once `timeoutMs` has passed first (the work itself is not cancelled). */
export async function withDeadline<T>(
  work: Promise<T>,
  timeoutMs: number | undefined,
): Promise<T | typeof TIMED_OUT> {
  if (timeoutMs === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), timeoutMs);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** Serves one GraphQL request through Apollo Server. */
export function graphqlHandler<TContext extends BaseContext>(
  options: GraphQLHandlerOptions<TContext>,
): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const maxBodyBytes = options.maxBodyBytes ?? 1_048_576;
  return async (req, res) => {
    let body: unknown = undefined;
    if (req.method === 'POST') {
      let raw: Buffer;
      try {
        raw = await readBody(req, maxBodyBytes);
      } catch (error) {
        if (error instanceof PayloadTooLargeError) {
          sendJson(res, 413, errorBody('PAYLOAD_TOO_LARGE', error.message));
          return;
        }
        throw error;
      }
      const type = req.headers['content-type'] ?? '';
      if (type.includes('application/json')) {
        try {
          body = raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8'));
        } catch {
          sendJson(res, 400, errorBody('BAD_USER_INPUT', 'request body is not valid JSON'));
          return;
        }
      } else {
        body = raw.toString('utf8');
      }
    }
    if (options.takeOver && (await options.takeOver(req, res, body))) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const execution = options.server.executeHTTPGraphQLRequest({
      httpGraphQLRequest: {
        method: req.method ?? 'GET',
        headers: toHeaderMap(req),
        search: url.search,
        body,
      },
      context: () => options.context(req),
    });
    const response = await withDeadline(execution, options.operationTimeoutMs);
    if (response === TIMED_OUT) {
      // The execution cannot be cancelled (each upstream call has its own deadline); its answer
      // is dropped. A mutation may still complete: the client can read to find out.
      execution.catch(() => {});
      sendJson(
        res,
        504,
        errorBody(
          'OPERATION_TIMEOUT',
          `the operation did not complete within ${options.operationTimeoutMs} ms`,
        ),
      );
      return;
    }
    for (const [key, value] of response.headers) res.setHeader(key, value);
    res.statusCode = response.status ?? 200;
    if (response.body.kind === 'complete') {
      res.end(response.body.string);
      return;
    }
    for await (const chunk of response.body.asyncIterator) res.write(chunk);
    res.end();
  };
}

/** Pending connections the kernel queues for accept(); capped by net.core.somaxconn. */
const LISTEN_BACKLOG = 4096;

/** Per server listening through `listen`, its open connections (see closeServer). */
const openSockets = new WeakMap<Server, Set<Socket>>();

/**
 * Idle keep-alive connections: our servers tell clients 5 s (Node's default, in `Keep-Alive:
 * timeout=5`) but keep them 65 s. A client closes an idle socket a little before the time it is
 * told (undici: 1-2 s before; ours at 4 s, lib/httpClient.ts). When the server closed at that same
 * time, a client whose idle timer fired a second or two late (a loaded machine) sent its next
 * request on a socket the server was closing, and the request failed with "other side closed":
 * hundreds of the replication benchmark's posts per run, writes a client cannot safely send again.
 * With the server holding on a minute longer than it says, the client always closes first.
 */
export const KEEP_ALIVE_TOLD_S = 5;
export const KEEP_ALIVE_KEPT_MS = 65_000;

/** Listens and resolves with the port actually bound (tests pass port 0). */
export async function listen(server: Server, port: number, host = '127.0.0.1'): Promise<number> {
  server.keepAliveTimeout = KEEP_ALIVE_KEPT_MS;
  // An idle connection must not be cut by the headers timer before the keep-alive one either.
  server.headersTimeout = KEEP_ALIVE_KEPT_MS + 1_000;
  if (!openSockets.has(server)) {
    // First of the request listeners, before the server's own handler may answer synchronously.
    // A response that sets `keep-alive` itself keeps Node from writing its own (the 65 s).
    server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) =>
      res.setHeader('keep-alive', `timeout=${KEEP_ALIVE_TOLD_S}`),
    );
    const sockets = new Set<Socket>();
    openSockets.set(server, sockets);
    server.on('connection', (socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Node's default accept backlog (511) overflows when a burst of clients (a gateway fanning
    // out, a page of subscribers reconnecting) connects at once, and the kernel then resets them.
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

/** Stops accepting, lets in-flight requests finish for `graceMs`, then cuts what is left. */
export async function closeServer(server: Server, graceMs = 2000): Promise<void> {
  if (!server.listening) return;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // A connection that has sent nothing yet carries no request to finish, but Node counts it as
  // busy (its first request's headers are awaited), not idle: a client reconnecting just before
  // the stop (a node whose job stream just ended) held every stop for the whole grace.
  for (const socket of openSockets.get(server) ?? []) if (socket.bytesRead === 0) socket.destroy();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

/** `http://host:port` for a bound server; `127.0.0.1` when it listens on every address. */
export function baseUrl(host: string, port: number): string {
  const shown =
    host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  return `http://${shown}:${port}`;
}
