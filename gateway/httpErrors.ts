// What the gateway answers when a client's HTTP request cannot run as sent: errors Apollo Server
// would otherwise leave to the gateway executor, which throws plain Errors (answered 500 with a
// stack trace in the log) for an `operationName` that picks no operation and for a subscription.
// Both are the client's mistake, so both are refused before execution with a 400 and a code.
import type { ApolloServerPlugin, BaseContext } from '@apollo/server';
import { Kind, OperationTypeNode, type DocumentNode } from 'graphql';
import { appError } from '../lib/errors.ts';

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

function operationNames(document: DocumentNode): string[] {
  return document.definitions.flatMap((d) =>
    d.kind === Kind.OPERATION_DEFINITION ? [d.name?.value ?? '(anonymous)'] : [],
  );
}

/** The plugin refusing, per request, what the gateway executor cannot run. */
export function clientMistakesPlugin<TContext extends BaseContext>(): ApolloServerPlugin<TContext> {
  return {
    requestDidStart: () =>
      Promise.resolve({
        didResolveOperation: ({ operation, document, request }) => {
          if (!operation) {
            const names = operationNames(document);
            const wanted = request.operationName;
            throw appError(
              'OPERATION_RESOLUTION_FAILURE',
              wanted
                ? `operationName "${wanted}" names no operation of the document; it holds: ${names.join(', ')}`
                : `the document holds ${names.length} operations (${names.join(', ')}): say which one to run with operationName`,
              { httpStatus: true },
            );
          }
          // Requests without `http` are the gateway's own (subscription events), never refused.
          if (operation.operation === OperationTypeNode.SUBSCRIPTION && request.http) {
            const host = request.http.headers.get('host');
            const where = host ? `ws://${host}/graphql (wss:// behind https)` : 'this same URL';
            throw appError(
              'SUBSCRIPTION_OVER_HTTP',
              `subscriptions are not served over plain HTTP: open a WebSocket to ${where} with the graphql-ws protocol (subprotocol graphql-transport-ws) and subscribe there`,
              { httpStatus: true },
            );
          }
          return Promise.resolve();
        },
      }),
  };
}
