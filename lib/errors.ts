// The one registry of error codes, which are part of the public API (docs/api.md). Every
// GraphQLError that Switchboard raises is built here, so `extensions.code` is always one of these
// and docs/errors.md can be generated from the same table.
import { GraphQLError } from 'graphql';
import { z } from 'zod';

export const errorCodes = {
  UNAUTHENTICATED: {
    http: 401,
    description:
      'No valid credentials: missing, malformed, expired or forged token, or wrong password.',
  },
  FORBIDDEN: {
    http: 403,
    description:
      'Authenticated, but not allowed: e.g. a MEMBER calling an ADMIN operation, or a non-member reading a room.',
  },
  BAD_USER_INPUT: {
    http: 400,
    description: 'An argument or request body is invalid; the message says which and why.',
  },
  NOT_FOUND: {
    http: 404,
    description: 'An id names nothing that exists (or nothing the caller may see).',
  },
  NODE_UNAVAILABLE: {
    http: 503,
    description:
      'No chat node that stores the data could answer; the rest of the response is intact. On a room subscription, a notice that does not end it (`extensions.roomId`, `data: null`, `extensions.roomAvailability.available: false`), followed by `ROOM_AVAILABLE` when the room is served again.',
  },
  OUTCOME_UNKNOWN: {
    http: 504,
    description:
      'A write reached a chat node but no answer came back (a timeout, or the connection broke after the request was sent): it may or may not have been applied. Retry it as it was: a `postMessage` with the same `clientMessageId` returns the message the first attempt made, or makes it once; an edit or delete again is harmless (docs/api.md, Retry-safe writes). Contrast `NODE_UNAVAILABLE` on a mutation: the request never reached a node, nothing was applied.',
  },
  ROOM_AVAILABLE: {
    http: 200,
    description:
      'Not a failure: on a room subscription (`messageAdded`, `messageChanged`) that got a `NODE_UNAVAILABLE` notice, the notice that the room is served again (`extensions.roomId`; the result also carries `extensions.roomAvailability: { roomId, available: true }`). The subscription never ended; live events follow, and what was posted meanwhile comes first (docs/subscriptions.md).',
  },
  CENTRAL_UNAVAILABLE: {
    http: 503,
    description:
      'Central (users, rooms, nodes, sync) did not answer in time or could not be reached (with several `--central-url`s: none of them); fields that need it are null, the rest of the response is intact. On a subscription to a central field (`syncSessionUpdated`, `nodeStatusChanged`), a notice that does not end it (`data: null`, `extensions.centralAvailability.available: false`), followed by `CENTRAL_AVAILABLE` when a central delivers again.',
  },
  CENTRAL_AVAILABLE: {
    http: 200,
    description:
      'Not a failure: on a subscription to a central field (`syncSessionUpdated`, `nodeStatusChanged`) that got a `CENTRAL_UNAVAILABLE` notice, the notice that a central delivers again (the result also carries `extensions.centralAvailability: { available: true }`). The subscription never ended; live events follow, but those central published meanwhile are not replayed (docs/subscriptions.md).',
  },
  OPERATION_TIMEOUT: {
    http: 504,
    description:
      'The whole operation took longer than the gateway allows (`--operation-timeout-ms`); a mutation may still have been applied: retry it as `OUTCOME_UNKNOWN` says (a post with the same `clientMessageId`).',
  },
  CLOCK_SKEW: {
    http: 503,
    description:
      "The chat node that would take the write has a clock too far from central's (beyond its `--max-clock-drift-ms`, 60 s by default), has not measured it yet, or still issues HLCs stamped by a fast clock; nothing was written. The message names the measured offset and the bound. Retry later, or on another node.",
  },
  ROOM_MOVED: {
    http: 503,
    description:
      "A chat node refused a post, edit or delete for a room it does not take writes for: it does not hold the room, or is leaving it (`updateRoom`, `removeNode`); `extensions.roomId` names the room. Nothing was written. The gateway sends the write to the room's next storage node and re-reads the room's placement, so a client sees this only when none took it; retry then.",
  },
  CONFLICT: {
    http: 409,
    description: 'The change collides with existing data, e.g. a duplicate name.',
  },
  ONLY_HOLDER: {
    http: 409,
    description:
      'removeNode refused: the node is the only one storing some room; add a replica to that room first (updateRoom).',
  },
  PAYLOAD_TOO_LARGE: {
    http: 413,
    description: 'The request body or a value in it exceeds a configured limit.',
  },
  RATE_LIMITED: {
    http: 429,
    description:
      'Too many attempts (e.g. failed logins for one username or from one address); `extensions.retryAfterSeconds` says when to try again.',
  },
  BAD_REQUEST: {
    http: 400,
    description:
      'The HTTP request is not a GraphQL request the gateway serves: no `query`, a body that is not a JSON object, a content type or method it does not take (405 for a mutation over GET, or a method other than GET and POST), an `Accept` it cannot answer, a batch, or a GET/form request without `Authorization` or another header that needs a CORS preflight (refused as possible cross-site request forgery).',
  },
  GRAPHQL_PARSE_FAILED: {
    http: 400,
    description:
      'The query is not valid GraphQL syntax, or has more tokens than the gateway parses (`--max-tokens`).',
  },
  GRAPHQL_VALIDATION_FAILED: {
    http: 400,
    description:
      'The query does not fit the schema (unknown field, wrong argument type...) or exceeds a query limit (depth, cost, aliases, directives); a cost refusal carries `extensions.cost` and `extensions.maxCost`.',
  },
  OPERATION_RESOLUTION_FAILURE: {
    http: 400,
    description:
      'The document holds no operation to run: `operationName` names none of its operations, or it holds several and `operationName` is missing; the message lists the names it holds.',
  },
  SUBSCRIPTION_OVER_HTTP: {
    http: 400,
    description:
      'A subscription was sent as a plain HTTP request: subscribe over a WebSocket on the same URL (`ws://` or `wss://` + `/graphql`) with the graphql-ws protocol (subprotocol `graphql-transport-ws`), or POST it with `Accept: multipart/mixed;subscriptionSpec="1.0"` (Apollo\'s multipart subscription protocol).',
  },
  PERSISTED_QUERY_NOT_FOUND: {
    http: 200,
    description:
      'An automatic persisted query (`extensions.persistedQuery`) whose hash the gateway does not hold: send it again with the `query` text.',
  },
  PERSISTED_QUERY_NOT_SUPPORTED: {
    http: 200,
    description:
      'Persisted queries are turned off on the server that answered: send the `query` text.',
  },
  INTERNAL_SERVER_ERROR: {
    http: 500,
    description: 'An unexpected failure; details are logged on the server, never sent to clients.',
  },
} as const satisfies Record<string, { http: number; description: string }>;

export type ErrorCode = keyof typeof errorCodes;

export interface ErrorOptions {
  /** Extra extensions, e.g. `{ node: 'node-a' }` for errors passed up from a node. */
  readonly extensions?: Record<string, unknown>;
  readonly cause?: unknown;
  /** Set the HTTP status when this error fails the whole request (context creation, limits). */
  readonly httpStatus?: boolean;
}

export function appError(
  code: ErrorCode,
  message: string,
  options: ErrorOptions = {},
): GraphQLError {
  return new GraphQLError(message, {
    ...(options.cause === undefined ? {} : { originalError: toError(options.cause) }),
    extensions: {
      ...options.extensions,
      code,
      ...(options.httpStatus ? { http: { status: errorCodes[code].http } } : {}),
    },
  });
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(errorCodes, value);
}

/** The code of a GraphQLError made by `appError` (or by Apollo Server), if any. */
export function codeOf(error: unknown): string | undefined {
  if (error instanceof GraphQLError) {
    const code = error.extensions['code'];
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/** A JSON body in GraphQL response shape, for failures outside GraphQL execution (body limits...). */
export function errorBody(code: ErrorCode, message: string): string {
  return JSON.stringify({ errors: [{ message, extensions: { code } }] });
}

/** What `errorBody` writes, as a reader checks it: at least the first error's message. */
const ErrorBodySchema = z.object({
  errors: z.array(z.object({ message: z.string() })).min(1),
});

/** The first error's message of an `errorBody` (or any GraphQL error response) text, if it is one. */
export function errorBodyMessage(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  const body = ErrorBodySchema.safeParse(value);
  return body.success ? body.data.errors[0]?.message : undefined;
}
