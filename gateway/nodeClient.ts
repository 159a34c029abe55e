// Sends one GraphQL request to one chat node. Transport failures (refused, reset, timeout, a
// non-GraphQL answer) are told apart from GraphQL errors: only the former make the router try
// another node.
import type { GraphQLFormattedError } from 'graphql';
import { postJson, type PostedResponse } from '../lib/httpClient.ts';
import type { RoutingNode } from './centralLink.ts';

export interface NodeRequest {
  readonly query: string;
  readonly variables?: Record<string, unknown> | undefined;
  readonly operationName?: string | undefined;
}

export interface NodeResponse {
  readonly data?: Record<string, unknown> | null;
  readonly errors?: readonly GraphQLFormattedError[];
}

export class NodeUnreachableError extends Error {
  override readonly name = 'NodeUnreachableError';
  constructor(
    readonly node: RoutingNode,
    reason: string,
    /**
     * True when the request provably never reached the node (connection refused): only then may
     * a mutation be sent to another node without risking it being applied twice.
     */
    readonly neverSent: boolean,
    options?: ErrorOptions,
  ) {
    super(`node ${node.name} did not answer: ${reason}`, options);
  }

  /** What a client may be told: the node's name and the kind of failure, no addresses. */
  get summary(): string {
    const cause = this.cause instanceof Error ? this.cause : undefined;
    const kind = this.neverSent
      ? 'unreachable'
      : cause?.name === 'TimeoutError'
        ? 'timed out'
        : cause === undefined
          ? 'no GraphQL answer'
          : 'connection failed';
    return `${this.node.name}: ${kind}`;
  }
}

const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

function connectCode(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (e instanceof AggregateError) return connectCode(e.errors[0]);
  }
  return undefined;
}

export async function sendToNode(
  node: RoutingNode,
  request: NodeRequest,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<NodeResponse> {
  let response: PostedResponse;
  try {
    response = await postJson(`${node.url}/graphql`, JSON.stringify(request), headers, timeoutMs);
  } catch (error) {
    const reason =
      error instanceof Error && error.name === 'TimeoutError'
        ? `no answer within ${timeoutMs} ms`
        : error instanceof Error
          ? ((error.cause as Error | undefined)?.message ?? error.message)
          : String(error);
    const code = connectCode(error);
    throw new NodeUnreachableError(node, reason, code !== undefined && NOT_CONNECTED.has(code), {
      cause: error,
    });
  }
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch (error) {
    throw new NodeUnreachableError(node, `HTTP ${response.status} without a GraphQL body`, false, {
      cause: error,
    });
  }
  if (typeof body !== 'object' || body === null || (!('data' in body) && !('errors' in body))) {
    throw new NodeUnreachableError(node, `HTTP ${response.status} without a GraphQL body`, false);
  }
  return body as NodeResponse;
}
