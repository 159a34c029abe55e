// The demo's GraphQL client: one POST, data or a thrown error naming the GraphQL error codes.
export async function graphqlRequest<T>(
  baseUrl: string,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
  /** Sent as X-Gateway-Secret: central serves GraphQL only to gateways (and whoever holds it). */
  gatewaySecret?: string,
): Promise<T> {
  const response = await fetch(`${baseUrl}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
      ...(gatewaySecret === undefined ? {} : { 'x-gateway-secret': gatewaySecret }),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as {
    data?: T | null;
    errors?: { message: string; extensions?: { code?: string } }[];
  };
  if (body.errors?.length || !body.data) {
    const reasons = (body.errors ?? []).map((e) => `${e.extensions?.code ?? '?'}: ${e.message}`);
    throw new Error(`GraphQL request failed (HTTP ${response.status}): ${reasons.join('; ')}`);
  }
  return body.data;
}
