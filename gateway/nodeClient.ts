// Sends one GraphQL request to one chat node. Transport failures (refused, reset, timeout, a
// non-GraphQL answer) are told apart from GraphQL errors: only the former make the router try
// another node, and they feed the gateway's view of the node's health (nodeHealth.ts).
import type { GraphQLFormattedError } from 'graphql';
import { neverConnected } from '../lib/connectionErrors.ts';
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

/** A GraphQL answer and the HTTP status it came with (a 5xx says the node is in trouble). */
export interface NodeAnswer {
  readonly status: number;
  readonly body: NodeResponse;
}

/**
 * - `unreachable`: no connection was made, so the request provably never left;
 * - `connection failed`: the connection broke (reset, closed) after it stood: the node may have
 *   read the request;
 * - `timed out`: no answer within the node timeout;
 * - `no GraphQL answer`: an answer, but not GraphQL (a proxy's error page, a crash);
 * - `cancelled`: the gateway gave up on it itself, another node having answered (hedged read).
 */
export type NodeFailureKind =
  | 'unreachable'
  | 'connection failed'
  | 'timed out'
  | 'no GraphQL answer'
  | 'cancelled';

export class NodeUnreachableError extends Error {
  override readonly name = 'NodeUnreachableError';
  constructor(
    readonly node: RoutingNode,
    readonly kind: NodeFailureKind,
    reason: string,
    options?: ErrorOptions,
  ) {
    super(`node ${node.name} did not answer: ${reason}`, options);
  }

  /**
   * True when the request provably never reached the node (no connection): only then may a
   * mutation be sent to another node without risking it being applied twice.
   */
  get neverSent(): boolean {
    return this.kind === 'unreachable';
  }

  /** What a client may be told: the node's name and the kind of failure, no addresses. */
  get summary(): string {
    return `${this.node.name}: ${this.kind === 'cancelled' ? 'slower than another node' : this.kind}`;
  }
}

function failureOf(error: unknown, timeoutMs: number): { kind: NodeFailureKind; reason: string } {
  if (error instanceof Error && error.name === 'TimeoutError')
    return { kind: 'timed out', reason: `no answer within ${timeoutMs} ms` };
  if (error instanceof Error && error.name === 'AbortError')
    return { kind: 'cancelled', reason: 'cancelled, another node answered first' };
  const reason =
    error instanceof Error
      ? ((error.cause as Error | undefined)?.message ?? error.message)
      : String(error);
  return {
    kind: neverConnected(error) ? 'unreachable' : 'connection failed',
    reason,
  };
}

export async function sendToNode(
  node: RoutingNode,
  request: NodeRequest,
  headers: Record<string, string>,
  timeoutMs: number,
  cancel?: AbortSignal,
): Promise<NodeAnswer> {
  let response: PostedResponse;
  try {
    response = await postJson(
      `${node.url}/graphql`,
      JSON.stringify(request),
      headers,
      timeoutMs,
      cancel,
    );
  } catch (error) {
    const { kind, reason } = failureOf(error, timeoutMs);
    throw new NodeUnreachableError(node, kind, reason, { cause: error });
  }
  const notGraphQL = `HTTP ${response.status} without a GraphQL body`;
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch (error) {
    throw new NodeUnreachableError(node, 'no GraphQL answer', notGraphQL, { cause: error });
  }
  if (typeof body !== 'object' || body === null || (!('data' in body) && !('errors' in body))) {
    throw new NodeUnreachableError(node, 'no GraphQL answer', notGraphQL);
  }
  return { status: response.status, body: body as NodeResponse };
}
