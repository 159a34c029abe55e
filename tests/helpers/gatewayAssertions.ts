// Acting as a gateway towards chat nodes, for tests that call nodes directly: a real
// GatewaySigner whose key is registered at the test central through the real internal gateway
// API, minting the assertions the gateway would send for a user's token (or for itself).
import { createClient, type Client } from 'graphql-ws';
import { decodeJwt } from 'jose';
import WebSocket from 'ws';
import { silentLogger } from '../../lib/log.ts';
import { ASSERTION_PARAM, GatewaySigner } from '../../lib/gatewayAssertion.ts';
import type { Viewer } from '../../lib/userAuth.ts';
import { createCentralLink } from '../../gateway/centralLink.ts';
import { gql, TEST_GATEWAY_SECRET, type GraphQLResponse } from './graphql.ts';

/** The viewer a gateway would have verified from `token` (tests trust central's own tokens). */
export function viewerOfToken(token: string): Viewer {
  const claims = decodeJwt(token);
  return {
    id: String(claims.sub),
    username: String(claims['username']),
    role: claims['role'] === 'ADMIN' ? 'ADMIN' : 'MEMBER',
    ...(typeof claims.exp === 'number' ? { expiresAt: claims.exp * 1000 } : {}),
  };
}

export interface TestGateway {
  readonly signer: GatewaySigner;
  /** An assertion for `nodeId`, acting for the user of `token` (none: the gateway itself). */
  assertionFor(nodeId: string, token?: string): Promise<string>;
  /** `gql` against a node, with the token turned into that node's assertion. */
  gql<T = Record<string, any>>(
    node: { readonly url: string; readonly nodeId: string },
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string },
  ): Promise<GraphQLResponse<T>>;
  /** A graphql-ws client of a node, authenticated as the gateway would for `token`'s user. */
  wsClient(node: { readonly url: string; readonly nodeId: string }, token?: string): Client;
}

/** Renewed as a gateway does, so a long test's key never leaves central's set. */
const RENEW_MS = 60_000;

export async function registerTestGateway(
  centralUrl: string,
  gatewaySecret = TEST_GATEWAY_SECRET,
): Promise<TestGateway> {
  const signer = await GatewaySigner.create();
  const link = createCentralLink({ centralUrl, gatewaySecret, log: silentLogger });
  await link.registerKey(signer.publicJwk);
  let registeredAt = Date.now();
  // One renewal at a time: a benchmark mints hundreds of assertions a second, and each one that
  // found the key due while a renewal was in flight used to send its own (dozens of registrations
  // a second at central until the first answered, counted in central's CPU by the benchmarks).
  let renewing: Promise<void> | undefined;
  const assertionFor = async (nodeId: string, token?: string) => {
    if (Date.now() - registeredAt > RENEW_MS) {
      // Best effort: central may be down (fault tests); the key stays served for 10 min.
      renewing ??= link
        .registerKey(signer.publicJwk)
        .then(
          () => {
            registeredAt = Date.now();
          },
          () => {},
        )
        .finally(() => (renewing = undefined));
      await renewing;
    }
    return signer.assertion(nodeId, token === undefined ? null : viewerOfToken(token));
  };
  return {
    signer,
    assertionFor,
    async gql(node, query, variables = {}, options = {}) {
      return gql(node.url, query, variables, {
        gatewaySecret: null,
        headers: { 'x-gateway-assertion': await assertionFor(node.nodeId, options.token) },
      });
    },
    wsClient(node, token) {
      return createClient({
        url: node.url.replace(/^http/, 'ws') + '/graphql',
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: true,
        connectionParams: async () => ({
          [ASSERTION_PARAM]: await assertionFor(node.nodeId, token),
        }),
      });
    },
  };
}
