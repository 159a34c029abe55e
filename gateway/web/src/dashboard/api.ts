// The dashboard's GraphQL client: queries and mutations over HTTP POST, subscriptions over
// graphql-ws, both to the gateway that served the page, both with the admin's bearer token.
import { createClient, type Client } from 'graphql-ws';
import { graphqlEndpoint } from '../endpoint.ts';

/** One GraphQL error as the gateway sends it: the message and `extensions.code`. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  readonly code: string;

  constructor(message: string, code: string) {
    super(message);
    this.code = code;
  }
}

/** "message (CODE)", the form every error takes on the page. */
export function describeError(error: unknown): string {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}

interface GraphQLErrorBody {
  readonly message?: unknown;
  readonly extensions?: { readonly code?: unknown };
}

function toApiError(errors: readonly GraphQLErrorBody[]): ApiError {
  const first = errors[0] ?? {};
  const message = typeof first.message === 'string' ? first.message : 'request failed';
  const code = typeof first.extensions?.code === 'string' ? first.extensions.code : 'UNKNOWN';
  return new ApiError(
    errors.length > 1 ? `${message} (+${errors.length - 1} more)` : message,
    code,
  );
}

const endpoint = graphqlEndpoint();

/** Runs a query or mutation; resolves with its data or rejects with the first error. */
export async function request<T>(
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<T> {
  let response: Response;
  try {
    response = await fetch(endpoint.http, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError(
      `the gateway did not answer: ${error instanceof Error ? error.message : String(error)}`,
      'NETWORK_ERROR',
    );
  }
  let body: { data?: T | null; errors?: GraphQLErrorBody[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    throw new ApiError(`the gateway answered HTTP ${response.status} without JSON`, 'BAD_RESPONSE');
  }
  if (body.errors?.length) throw toApiError(body.errors);
  if (body.data == null) throw new ApiError(`HTTP ${response.status} with no data`, 'BAD_RESPONSE');
  return body.data;
}

export type LiveState = 'connecting' | 'live' | 'reconnecting';

export interface LiveOptions {
  readonly token: string;
  /** Called on every (re)connection: whatever happened while disconnected is refetched then. */
  onConnected(): void;
  onState(state: LiveState): void;
}

/** A graphql-ws connection that retries for as long as the page is open. */
export function connectLive(options: LiveOptions): Client {
  return createClient({
    url: endpoint.ws,
    connectionParams: { authorization: `Bearer ${options.token}` },
    lazy: false,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    on: {
      connecting: (isRetry) => options.onState(isRetry ? 'reconnecting' : 'connecting'),
      connected: () => {
        options.onState('live');
        options.onConnected();
      },
      closed: () => options.onState('reconnecting'),
    },
  });
}

/** Subscribes; returns the function that unsubscribes. */
export function subscribe<T>(
  client: Client,
  query: string,
  handlers: { next(data: T): void; error(error: ApiError): void },
): () => void {
  return client.subscribe<T>(
    { query },
    {
      next: (result) => {
        if (result.errors?.length) handlers.error(toApiError(result.errors));
        else if (result.data) handlers.next(result.data as T);
      },
      error: (error: unknown) => {
        // graphql-ws reports GraphQL errors of the subscribe step as an array, a closed socket
        // as a CloseEvent; retries handle the latter.
        if (Array.isArray(error)) handlers.error(toApiError(error as GraphQLErrorBody[]));
        else if (error instanceof Error)
          handlers.error(new ApiError(error.message, 'NETWORK_ERROR'));
      },
      complete: () => undefined,
    },
  );
}
