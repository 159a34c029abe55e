// The gateway's data source for central's subgraph: Apollo's remote data source with the
// caller's headers and the gateway secret added, a deadline on every fetch, and network
// failures turned into CENTRAL_UNAVAILABLE on the fields that needed central (the rest of the
// response, e.g. messages from nodes, stays intact). With several centrals, a query goes to the
// next one when the current one cannot be reached, times out or fails (5xx); a mutation only when
// it provably never left (lib/centralEndpoints.ts).
import { STATUS_CODES } from 'node:http';
import type { RemoteGraphQLDataSource as RemoteSource } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { centralEndpoints, type CentralEndpoints } from '../lib/centralEndpoints.ts';
import { appError } from '../lib/errors.ts';
import { GATEWAY_SECRET_HEADER } from '../lib/gatewayProtocol.ts';
import { headerValue, postJson, type PostedResponse } from '../lib/httpClient.ts';
import { RemoteGraphQLDataSource } from './apolloGateway.ts';
import { forwardedHeaders, type GatewayContext } from './context.ts';

export interface CentralDataSourceOptions {
  /** Central's base URL(s), or endpoints shared with the gateway's other parts. */
  readonly central: string | readonly string[] | CentralEndpoints;
  readonly gatewaySecret: string;
  readonly timeoutMs: number;
}

export class CentralDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  readonly #secret: string;
  readonly #timeoutMs: number;

  constructor(options: CentralDataSourceOptions) {
    const central = centralEndpoints(options.central);
    super({
      // Each request picks its central in the fetcher; Apollo needs a URL all the same.
      url: `${central.current}${GRAPHQL_PATH}`,
      // Our keep-alive client (lib/httpClient.ts) behind the little of the fetch API Apollo
      // reads: it costs far less per request than fetch, and it keeps idle sockets for less
      // than central's keep-alive timeout, so a request never goes out on one central closed.
      fetcher: async (_url, init) => {
        const { [WRITE_MARK]: write, ...headers } = init?.headers ?? {};
        const body = typeof init?.body === 'string' ? init.body : '';
        try {
          return (await central.call(
            async (base) => {
              const url = `${base}${GRAPHQL_PATH}`;
              const response = await postJson(url, body, headers, options.timeoutMs);
              if (response.status >= 500) throw new ServerFailure(url, response);
              return new FetchLikeResponse(url, response);
            },
            { idempotent: write === undefined },
          )) as never;
        } catch (error) {
          // Every central failed with a 5xx: Apollo reads the last one's answer, as before.
          if (error instanceof ServerFailure)
            return new FetchLikeResponse(error.url, error.response) as never;
          throw error;
        }
      },
    });
    this.#secret = options.gatewaySecret;
    this.#timeoutMs = options.timeoutMs;
  }

  override willSendRequest({
    request,
    context,
  }: Parameters<NonNullable<RemoteSource<GatewayContext>['willSendRequest']>>[0]) {
    for (const [key, value] of Object.entries(forwardedHeaders(context as GatewayContext))) {
      request.http?.headers.set(key, value);
    }
    request.http?.headers.set(GATEWAY_SECRET_HEADER, this.#secret);
    // Marks a mutation for the fetcher (which removes the mark): it must not reach two centrals.
    if (request.query !== undefined && MUTATION.test(request.query))
      request.http?.headers.set(WRITE_MARK, '1');
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

const GRAPHQL_PATH = '/graphql';
const WRITE_MARK = 'x-switchboard-central-write';
const MUTATION = /^\s*mutation\b/;

/** A 5xx from one central: the next one may do better. */
class ServerFailure extends Error {
  override readonly name = 'ServerFailure';
  constructor(
    readonly url: string,
    readonly response: PostedResponse,
  ) {
    super(`central answered HTTP ${response.status}`);
  }
}

/**
 * What RemoteGraphQLDataSource reads of a response: status, headers.get, json() and text(). A
 * class, so that copying an answer (structuredClone, in subscriptions/prefetch.ts) copies its
 * plain fields only, as it did with fetch's Response.
 */
class FetchLikeResponse {
  readonly url: string;
  readonly ok: boolean;
  readonly status: number;
  readonly statusText: string;
  readonly headers: ResponseHeaders;
  readonly #body: string;

  constructor(url: string, response: PostedResponse) {
    this.url = url;
    this.ok = response.status >= 200 && response.status < 300;
    this.status = response.status;
    this.statusText = STATUS_CODES[response.status] ?? '';
    this.headers = new ResponseHeaders(response.headers);
    this.#body = response.body;
  }

  json(): Promise<unknown> {
    return Promise.resolve(JSON.parse(this.#body) as unknown);
  }

  text(): Promise<string> {
    return Promise.resolve(this.#body);
  }
}

class ResponseHeaders {
  readonly #headers: PostedResponse['headers'];
  constructor(headers: PostedResponse['headers']) {
    this.#headers = headers;
  }
  get(name: string): string | null {
    return headerValue(this.#headers, name);
  }
}
