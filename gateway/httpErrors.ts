// What the gateway answers when a client's HTTP request cannot run as sent: errors Apollo Server
// would otherwise leave to the gateway executor, which throws plain Errors (answered 500 with a
// stack trace in the log) for an `operationName` that picks no operation and for a subscription.
// Both are the client's mistake, so both are refused before execution with a 400 and a code.
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { OperationTypeNode } from 'graphql';
import { appError } from '../lib/errors.ts';
import { unresolvedOperation } from '../lib/operationDocument.ts';

/**
 * Headers whose presence shows a request was not a "simple" cross-site request: a browser sends
 * them from another origin only after a CORS preflight, which the gateway never grants. Apollo's
 * two recommended ones, plus `Authorization`, which urql and Apollo Client send on GET queries.
 * A browser may add cached Basic credentials to a cross-site request by itself, but the gateway
 * takes only `Bearer` tokens: any other Authorization value fails with UNAUTHENTICATED.
 */
export const PREFLIGHT_HEADERS: readonly string[] = [
  'x-apollo-operation-name',
  'apollo-require-preflight',
  'authorization',
];

/** The plugin refusing, per request, what the gateway executor cannot run. */
export function clientMistakesPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: ({ operation, document, request }) => {
          if (!operation)
            throw unresolvedOperation(document, request.operationName, { httpStatus: true });
          // Requests without `http` are the gateway's own (subscription events), never refused.
          if (operation.operation === OperationTypeNode.SUBSCRIPTION && request.http) {
            const host = request.http.headers.get('host');
            const where = host ? `ws://${host}/graphql (wss:// behind https)` : 'this same URL';
            throw appError(
              'SUBSCRIPTION_OVER_HTTP',
              `subscriptions are not served over plain HTTP: open a WebSocket to ${where} with the graphql-ws protocol (subprotocol graphql-transport-ws) and subscribe there, or POST with \`Accept: multipart/mixed;subscriptionSpec="1.0"\` (Apollo's multipart subscription protocol)`,
              { httpStatus: true },
            );
          }
          return Promise.resolve();
        },
      }),
  };
}
