// graphql-ws (the graphql-transport-ws protocol) on an existing node:http server, so HTTP and
// subscriptions share one port and one path. Queries and mutations sent on the socket can be
// handed to the server's HTTP pipeline (`execute`), so they meet the same limits and errors.
// ws and graphql-ws are loaded at the first upgrade request, not at start: most processes (most
// tests' nodes and centrals) never get a WebSocket, and loading both cost each start about 50 ms
// of CPU (issue 18).
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  GraphQLError,
  OperationTypeNode,
  type ValidationRule,
  type ExecutionArgs,
  type DocumentNode,
  type ExecutionResult,
  type FormattedExecutionResult,
  type GraphQLSchema,
} from 'graphql';
import type { WebSocketServer } from 'ws';
import { appError } from './errors.ts';
import type { Logger } from './log.ts';
import { parseOperation, validateOperation } from './operationDocument.ts';

export interface SubscriptionServerOptions<TContext, TAuth = never> {
  readonly server: Server;
  readonly schema: GraphQLSchema;
  readonly log: Logger;
  /** @default '/graphql' */
  readonly path?: string;
  /**
   * Checks the connection's credentials once, at connection_init, while they are fresh (a gateway
   * assertion lives 60 s; the connection may run operations for longer). What it returns is
   * given to `context` for every operation; what it throws is each operation's error (a GraphQL
   * error with its code, as from `context`). @default none: `context` gets undefined
   */
  readonly authenticate?: (
    connectionParams: Readonly<Record<string, unknown>>,
    request: IncomingMessage,
  ) => Promise<TAuth>;
  /** Builds the operation context from `connectionParams` (e.g. `authorization`). Throw to refuse. */
  readonly context: (
    connectionParams: Readonly<Record<string, unknown>>,
    request: IncomingMessage,
    authenticated: TAuth | undefined,
  ) => Promise<TContext>;
  /** @default 1_048_576 */
  readonly maxPayloadBytes?: number;
  /** @default 10_000 */
  readonly connectionInitWaitTimeoutMs?: number;
  /**
   * Operations one connection may have running at once; more are refused with RATE_LIMITED.
   * Each costs the server memory and, at the gateway, upstream work. @default 100
   */
  readonly maxSubscriptionsPerConnection?: number;
  /** Validation rules added to graphql-js's own (the query limits of lib/queryLimits.ts). */
  readonly validationRules?: readonly ValidationRule[];
  /** Most lexical tokens in one document. @default no limit */
  readonly maxTokens?: number;
  /**
   * Runs a validated operation in place of graphql-js `subscribe` (the gateway bridges to
   * upstream subgraphs rather than resolving locally). @default graphql-js `subscribe`
   */
  readonly subscribe?: (
    args: ExecutionArgs,
  ) => Promise<AsyncIterable<ExecutionResult> | ExecutionResult>;
  /**
   * Runs a query or mutation as the HTTP endpoint would (the gateway: Apollo Server's own
   * pipeline, with its parsing, validation, limits and error masking). Without it they run with
   * graphql-js `execute` against `schema`, which at the gateway has no resolvers. The socket's
   * own checks (parse, validation) are then left to it, so the codes are the HTTP ones.
   * @default graphql-js `execute`
   */
  readonly execute?: (
    request: OperationRequest,
    contextValue: TContext,
  ) => Promise<FormattedExecutionResult>;
}

/** A query or mutation as the client sent it on the socket. */
export interface OperationRequest {
  readonly query: string;
  readonly variables?: Record<string, unknown>;
  readonly operationName?: string;
}

export interface SubscriptionServer {
  /** Open WebSocket connections, for tests and metrics. */
  readonly connections: () => number;
  close(): Promise<void>;
}

interface Started {
  readonly wss: WebSocketServer;
  readonly dispose: () => Promise<void>;
}

export function attachSubscriptionServer<TContext, TAuth = never>(
  options: SubscriptionServerOptions<TContext, TAuth>,
): SubscriptionServer {
  let started: Promise<Started> | undefined;
  let wss: WebSocketServer | undefined;
  let closed = false;
  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    // Until ws takes the socket, an error on it (the client gone) must not go unhandled.
    const drop = () => socket.destroy();
    socket.on('error', drop);
    started ??= start(options).then((s) => {
      wss = s.wss;
      return s;
    });
    started.then(
      (running) => {
        socket.off('error', drop);
        // Closed meanwhile: as a connection accepted just before close() is ended by it.
        if (closed) socket.destroy();
        // Its path, method and headers are checked here (a wrong path is answered 400).
        else
          running.wss.handleUpgrade(request, socket, head, (ws) =>
            running.wss.emit('connection', ws, request),
          );
      },
      (error: unknown) => {
        options.log.error('the WebSocket server could not start', error);
        socket.destroy();
      },
    );
  };
  options.server.on('upgrade', onUpgrade);
  return {
    connections: () => wss?.clients.size ?? 0,
    async close() {
      closed = true;
      options.server.off('upgrade', onUpgrade);
      const running = await started?.catch(() => undefined);
      if (!running) return;
      for (const client of running.wss.clients) client.terminate();
      await running.dispose();
    },
  };
}

/** ws's server (without a server of its own: upgrades are handed to it) and graphql-ws on it. */
async function start<TContext, TAuth>(
  options: SubscriptionServerOptions<TContext, TAuth>,
): Promise<Started> {
  const [{ WebSocketServer }, { useServer }] = await Promise.all([
    import('ws'),
    import('graphql-ws/use/ws'),
  ]);
  const wss = new WebSocketServer({
    noServer: true,
    path: options.path ?? '/graphql',
    maxPayload: options.maxPayloadBytes ?? 1_048_576,
  });
  const maxPerConnection = options.maxSubscriptionsPerConnection ?? 100;
  /** Per connection (graphql-ws keeps one context object per socket): what `authenticate` said. */
  const authenticated = new WeakMap<object, { ok: TAuth } | { error: unknown }>();
  const authenticate = options.authenticate;
  const runOperation = options.execute;
  /** Queries and mutations to hand to `execute`, by the document graphql-ws passes back. */
  const handedOver = new WeakMap<DocumentNode, OperationRequest>();
  const disposable = useServer<Record<string, unknown>>(
    {
      schema: options.schema,
      connectionInitWaitTimeout: options.connectionInitWaitTimeoutMs ?? 10_000,
      ...(options.subscribe ? { subscribe: options.subscribe } : {}),
      ...(runOperation
        ? {
            execute: async (args: ExecutionArgs): Promise<ExecutionResult> => {
              const request = handedOver.get(args.document);
              if (!request) throw new Error('an operation reached execute without its request');
              return toExecutionResult(await runOperation(request, args.contextValue as TContext));
            },
          }
        : {}),
      ...(authenticate
        ? {
            onConnect: async (ctx) => {
              try {
                const ok = await authenticate(ctx.connectionParams ?? {}, ctx.extra.request);
                authenticated.set(ctx, { ok });
              } catch (error) {
                authenticated.set(ctx, { error });
              }
              return true;
            },
          }
        : {}),
      // The context is built per operation in onSubscribe so that a refused token comes back as
      // a GraphQL error with its code (UNAUTHENTICATED...) rather than a closed socket.
      onSubscribe: async (ctx, _id, payload) => {
        // graphql-ws has already registered this operation, so it is counted.
        const running = Object.keys(ctx.subscriptions).length;
        if (running > maxPerConnection) {
          return [
            appError(
              'RATE_LIMITED',
              `at most ${maxPerConnection} operations may run at once on one connection`,
            ),
          ];
        }
        const parsed = parseOperation(payload.query, payload.operationName, options.maxTokens);
        if (parsed instanceof GraphQLError) return [parsed];
        const { document, operation } = parsed;
        const handOver = runOperation && operation.operation !== OperationTypeNode.SUBSCRIPTION;
        // Handed over, it is checked by the HTTP pipeline, with the same rules and codes.
        if (!handOver) {
          const errors = validateOperation(options.schema, document, options.validationRules);
          if (errors.length > 0) return errors;
        }
        let contextValue: TContext;
        try {
          const auth = authenticated.get(ctx);
          if (auth && 'error' in auth) throw auth.error;
          contextValue = await options.context(
            ctx.connectionParams ?? {},
            ctx.extra.request,
            auth?.ok,
          );
        } catch (error) {
          if (error instanceof GraphQLError) return [error];
          options.log.error('subscription context failed', error);
          return [appError('INTERNAL_SERVER_ERROR', 'internal server error')];
        }
        const args: ExecutionArgs = {
          schema: options.schema,
          document,
          contextValue,
          variableValues: payload.variables ?? null,
          operationName: payload.operationName ?? null,
        };
        if (handOver) {
          handedOver.set(document, {
            query: payload.query,
            ...(payload.variables ? { variables: payload.variables } : {}),
            ...(payload.operationName ? { operationName: payload.operationName } : {}),
          });
        }
        return args;
      },
    },
    wss,
  );
  return {
    wss,
    dispose: async () => {
      await disposable.dispose();
    },
  };
}

/**
 * graphql-ws sends each error's `toJSON()`: formatted errors (already masked) are wrapped as
 * GraphQLErrors that serialize to exactly what HTTP clients get, locations included.
 */
function toExecutionResult(result: FormattedExecutionResult): ExecutionResult {
  const errors = result.errors?.map((formatted) =>
    Object.assign(
      new GraphQLError(formatted.message, {
        ...(formatted.path ? { path: formatted.path } : {}),
        ...(formatted.extensions ? { extensions: formatted.extensions } : {}),
      }),
      { toJSON: () => formatted },
    ),
  );
  return {
    ...(result.data === undefined ? {} : { data: result.data }),
    ...(errors ? { errors } : {}),
    ...(result.extensions ? { extensions: result.extensions } : {}),
  };
}
