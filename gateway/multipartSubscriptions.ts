// Subscriptions over HTTP with Apollo's multipart protocol (`Accept: multipart/mixed;
// subscriptionSpec="1.0"` on a POST), for clients without WebSockets: Apollo Client's HttpLink
// speaks it by itself. The operation goes through the same checks as on graphql-ws (validation
// with the query limits, the caller from `Authorization`) and the same subscription bridge; each
// result is one part `{"payload": <result>}`, `{}` is a heartbeat, and an error that ends the
// subscription is `{"payload": null, "errors": [...]}` before the closing boundary. A client that
// disconnects releases its share of the upstream at once.
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  GraphQLError,
  OperationTypeNode,
  type ExecutionArgs,
  type ExecutionResult,
  type GraphQLFormattedError,
  type GraphQLSchema,
  type ValidationRule,
} from 'graphql';
import { appError, errorCodes, isErrorCode } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import { parseOperation, validateOperation } from '../lib/operationDocument.ts';
import type { GatewayContext } from './context.ts';

export interface MultipartSubscriptionsOptions {
  readonly schema: GraphQLSchema;
  /** The query limits, as on graphql-ws. */
  readonly validationRules: readonly ValidationRule[];
  readonly maxTokens: number;
  /** The caller, from the request's `Authorization` header, as for HTTP queries. */
  readonly context: (req: IncomingMessage) => Promise<GatewayContext>;
  readonly subscribe: (
    args: ExecutionArgs,
  ) => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;
  readonly log: Logger;
  /** Gap between heartbeats (`{}`); Apollo's router sends one every 5 s. @default 5000 */
  readonly heartbeatMs?: number;
}

export interface MultipartSubscriptions {
  /**
   * Serves the request when it is a subscription asking for the multipart protocol and returns
   * true; returns false (nothing sent) for anything else, which Apollo Server then answers.
   */
  serve(req: IncomingMessage, res: ServerResponse, body: unknown): Promise<boolean>;
  /** Streams open now. */
  open(): number;
  /** Ends every open stream (the gateway is stopping). */
  close(): void;
}

const BOUNDARY = 'graphql';
const CONTENT_TYPE = `multipart/mixed;boundary="${BOUNDARY}";subscriptionSpec="1.0"`;
const PART_HEADER = '\r\ncontent-type: application/json; charset=utf-8\r\n\r\n';

/** Whether the client takes multipart subscription responses (`subscriptionSpec=1.0`, quoted or not). */
export function acceptsMultipartSubscriptions(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept
    .split(',')
    .some(
      (type) =>
        /^\s*multipart\/mixed\s*(;|$)/i.test(type) &&
        /;\s*subscriptionSpec\s*=\s*"?1\.0"?\s*(;|$)/i.test(type),
    );
}

interface RequestBody {
  readonly query: string;
  readonly variables?: Record<string, unknown> | null;
  readonly operationName?: string | null;
}

function isRequestBody(body: unknown): body is RequestBody {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const { query, variables, operationName } = body as Record<string, unknown>;
  return (
    typeof query === 'string' &&
    (variables == null || (typeof variables === 'object' && !Array.isArray(variables))) &&
    (operationName == null || typeof operationName === 'string')
  );
}

function isAsyncIterable(value: unknown): value is AsyncIterable<ExecutionResult> {
  return typeof value === 'object' && value !== null && Symbol.asyncIterator in value;
}

/** A refusal before any stream starts: a plain JSON GraphQL response, as Apollo Server sends. */
function sendErrors(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  errors: readonly GraphQLFormattedError[],
): void {
  const accept = req.headers.accept ?? '';
  const type = accept.includes('application/graphql-response+json')
    ? 'application/graphql-response+json'
    : 'application/json';
  res.writeHead(status, { 'content-type': `${type}; charset=utf-8` });
  res.end(JSON.stringify({ errors }));
}

/** The status a refusal gets: its code's (lib/errors.ts), as for HTTP operations. */
function statusOf(error: GraphQLError): number {
  const code = error.extensions['code'];
  return isErrorCode(code) ? errorCodes[code].http : 500;
}

/** The formatted error a stream ends with: a coded GraphQLError as is, anything else generic. */
function endingError(error: unknown): GraphQLFormattedError {
  if (error instanceof GraphQLError && isErrorCode(error.extensions['code'])) {
    const { http: _http, ...extensions } = error.extensions;
    return { message: error.message, extensions };
  }
  return appError('INTERNAL_SERVER_ERROR', 'the subscription ended unexpectedly').toJSON();
}

export function multipartSubscriptions(
  options: MultipartSubscriptionsOptions,
): MultipartSubscriptions {
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const streams = new Set<() => void>();

  async function stream(
    res: ServerResponse,
    results: AsyncIterable<ExecutionResult>,
  ): Promise<void> {
    const iterator = results[Symbol.asyncIterator]();
    /** The client is gone or the stream is over: nothing more is written. */
    let ended = false;
    let released = false;
    const stop = () => {
      ended = true;
      if (released) return;
      released = true;
      void iterator.return?.();
    };
    // A client gone mid-wait (for a result or for a full socket buffer) stops waiting at once.
    const closed = new Promise<void>((resolve) => {
      res.once('close', () => {
        stop();
        resolve();
      });
    });
    const write = async (part: string): Promise<void> => {
      if (ended) return;
      if (!res.write(part)) await Promise.race([once(res, 'drain'), closed]);
    };
    const part = (value: unknown) => `${PART_HEADER}${JSON.stringify(value)}\r\n--${BOUNDARY}`;

    res.writeHead(200, {
      'content-type': CONTENT_TYPE,
      'cache-control': 'no-cache, no-store',
      // Proxies that buffer responses (nginx) would hold the events back.
      'x-accel-buffering': 'no',
    });
    // The first heartbeat right away: the client sees the subscription is in place.
    res.write(`\r\n--${BOUNDARY}${part({})}`);
    const heartbeat = setInterval(() => void write(part({})), heartbeatMs);
    heartbeat.unref();
    const end = () => {
      stop();
      if (!res.writableEnded) res.end('--\r\n');
    };
    streams.add(end);
    try {
      for (;;) {
        const next = await Promise.race([iterator.next(), closed.then(() => undefined)]);
        if (!next || next.done || ended) break;
        await write(part({ payload: next.value }));
      }
    } catch (error) {
      if (!(error instanceof GraphQLError)) options.log.warn(`multipart stream: ${String(error)}`);
      await write(part({ payload: null, errors: [endingError(error)] }));
    } finally {
      clearInterval(heartbeat);
      streams.delete(end);
      end();
    }
  }

  return {
    async serve(req, res, body) {
      if (req.method !== 'POST' || !acceptsMultipartSubscriptions(req) || !isRequestBody(body))
        return false;
      const parsed = parseOperation(body.query, body.operationName, options.maxTokens);
      // Not a subscription (or not one at all): Apollo Server answers it, and its mistakes.
      if (parsed instanceof GraphQLError) return false;
      if (parsed.operation.operation !== OperationTypeNode.SUBSCRIPTION) return false;
      const invalid = validateOperation(options.schema, parsed.document, options.validationRules);
      if (invalid.length > 0) {
        sendErrors(
          req,
          res,
          400,
          invalid.map((e) => e.toJSON()),
        );
        return true;
      }
      let contextValue: GatewayContext;
      try {
        contextValue = await options.context(req);
      } catch (error) {
        if (!(error instanceof GraphQLError)) throw error;
        sendErrors(req, res, statusOf(error), [endingError(error)]);
        return true;
      }
      const results = await options.subscribe({
        schema: options.schema,
        document: parsed.document,
        contextValue,
        variableValues: body.variables ?? null,
        operationName: body.operationName ?? null,
      });
      if (!isAsyncIterable(results)) {
        // A refused subscription (FORBIDDEN, NOT_FOUND...): its result, as over graphql-ws. The
        // codeless ones are graphql-js's refusals of the variables.
        const errors = (results.errors ?? []).map((e) =>
          isErrorCode(e.extensions['code'])
            ? endingError(e)
            : appError('BAD_USER_INPUT', e.message).toJSON(),
        );
        sendErrors(req, res, 200, errors);
        return true;
      }
      await stream(res, results);
      return true;
    },
    open: () => streams.size,
    close() {
      for (const end of [...streams]) end();
    },
  };
}
