// A GraphQL-over-HTTP client for tests: real requests to a real server, nothing mocked.
export interface GraphQLResponse<T = Record<string, unknown>> {
  readonly status: number;
  readonly data?: T | null;
  readonly errors?: ReadonlyArray<{
    message: string;
    path?: ReadonlyArray<string | number>;
    extensions?: Record<string, unknown>;
  }>;
}

/**
 * The gateway secret every test process shares (tests/helpers/central.ts, cluster.ts): central
 * and nodes serve GraphQL only to callers presenting it, so tests that call them directly act as
 * the gateway would. The gateway itself ignores it.
 */
export const TEST_GATEWAY_SECRET = 'gateway-secret-for-tests';

/**
 * Every `extensions.code` any `gql` call of this test file received: tests/helpers/errorCodeCheck.ts
 * (a vitest setup file) fails the file when one is missing from the registry (lib/errors.ts).
 */
export const seenErrorCodes = new Map<string, string>();

function record(url: string, query: string, errors: GraphQLResponse['errors']): void {
  for (const error of errors ?? []) {
    const code = String(error.extensions?.['code']);
    if (!seenErrorCodes.has(code)) seenErrorCodes.set(code, `${url} <- ${query.slice(0, 80)}`);
  }
}

export async function gql<T = Record<string, any>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: {
    token?: string;
    headers?: Record<string, string>;
    /** The X-Gateway-Secret sent; `null` sends none. @default TEST_GATEWAY_SECRET */
    gatewaySecret?: string | null;
  } = {},
): Promise<GraphQLResponse<T>> {
  const secret = options.gatewaySecret === undefined ? TEST_GATEWAY_SECRET : options.gatewaySecret;
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(secret === null ? {} : { 'x-gateway-secret': secret }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as Omit<GraphQLResponse<T>, 'status'>;
  record(url, query, body.errors);
  return { status: response.status, ...body };
}

/** The `extensions.code` of every error, for assertions like `expect(codes(r)).toEqual(['FORBIDDEN'])`. */
export function codes(response: GraphQLResponse<unknown>): unknown[] {
  return (response.errors ?? []).map((e) => e.extensions?.['code']);
}

/** The data of a response that must have succeeded; throws with its errors otherwise. */
export function ok<T>(response: GraphQLResponse<T>): T {
  if (response.errors?.length || response.data == null) {
    throw new Error(
      `GraphQL request failed (${response.status}): ${JSON.stringify(response.errors)}`,
    );
  }
  return response.data;
}
