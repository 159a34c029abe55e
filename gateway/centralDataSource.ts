// The gateway's data source for central's subgraph: Apollo's remote data source with the
// caller's headers and the gateway secret added, a deadline on every fetch, and network
// failures turned into CENTRAL_UNAVAILABLE on the fields that needed central (the rest of the
// response, e.g. messages from nodes, stays intact).
import { RemoteGraphQLDataSource } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { appError } from '../lib/errors.ts';
import { GATEWAY_SECRET_HEADER } from '../lib/gatewayProtocol.ts';
import { forwardedHeaders, type GatewayContext } from './context.ts';

export interface CentralDataSourceOptions {
  readonly url: string;
  readonly gatewaySecret: string;
  readonly timeoutMs: number;
}

export class CentralDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  readonly #secret: string;
  readonly #timeoutMs: number;

  constructor(options: CentralDataSourceOptions) {
    super({
      url: options.url,
      // Node's own fetch (undici) honours the server's `Keep-Alive: timeout=5`; the default
      // agent keeps idle sockets for 15 s, and a request sent on one central has just closed
      // fails with "socket hang up" (seen after a few quiet seconds, e.g. between events).
      fetcher: (url, init) =>
        fetch(url, {
          ...(init as RequestInit),
          signal: AbortSignal.timeout(options.timeoutMs),
        }) as never,
    });
    this.#secret = options.gatewaySecret;
    this.#timeoutMs = options.timeoutMs;
  }

  override willSendRequest({
    request,
    context,
  }: Parameters<NonNullable<RemoteGraphQLDataSource<GatewayContext>['willSendRequest']>>[0]) {
    for (const [key, value] of Object.entries(forwardedHeaders(context as GatewayContext))) {
      request.http?.headers.set(key, value);
    }
    request.http?.headers.set(GATEWAY_SECRET_HEADER, this.#secret);
  }

  override didEncounterError(error: Error): never {
    // GraphQL errors are central's own answers (or its HTTP status): they pass as they are.
    if (error instanceof GraphQLError) throw error;
    const timedOut = error.name === 'TimeoutError' || error.name === 'AbortError';
    throw appError(
      'CENTRAL_UNAVAILABLE',
      timedOut
        ? `central did not answer within ${this.#timeoutMs} ms`
        : `central could not be reached: ${error.message}`,
      { cause: error },
    );
  }
}
