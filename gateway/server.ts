// Builds and starts the gateway: Apollo Server 5 + @apollo/gateway on node:http, with central as
// a plain remote subgraph and the chat nodes behind one routing data source. Tests import this.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { JWTVerifyGetKey } from 'jose';
import { ASSERTION_HEADER, GatewaySigner } from '../lib/gatewayAssertion.ts';
import { queryLimitRules, type QueryLimits } from '../lib/queryLimits.ts';
import { maskingFormatError } from '../lib/errorMasking.ts';
import { appError } from '../lib/errors.ts';
import {
  baseUrl,
  closeServer,
  graphqlHandler,
  listen,
  sendJson,
  TIMED_OUT,
  withDeadline,
} from '../lib/http.ts';
import { createLogger, type Logger } from '../lib/log.ts';
import { attachSubscriptionServer } from '../lib/subscriptionServer.ts';
import { subgraphSchema } from '../lib/subgraphSchema.ts';
import { remoteUserKeys, TokenVerifier } from '../lib/userAuth.ts';
import { CentralEndpoints } from '../lib/centralEndpoints.ts';
import { ApolloGateway } from './apolloGateway.ts';
import { CentralDataSource } from './centralDataSource.ts';
import { disableApolloTelemetryByDefault } from './apolloTelemetry.ts';
import { centralCallerRooms } from './callerRooms.ts';
import { clientMistakesPlugin, PREFLIGHT_HEADERS } from './httpErrors.ts';
import { startKeyRegistration } from './keyRegistration.ts';
import { GatewayMetrics } from './metrics.ts';
import { multipartSubscriptions } from './multipartSubscriptions.ts';
import { createCentralLink, type RoutingNode } from './centralLink.ts';
import type { GatewayContext } from './context.ts';
import { NodeRouter } from './nodeRouter.ts';
import { OperationPreparer } from './operations.ts';
import { RoutingTable } from './routingTable.ts';
import { expectedNodeSdl } from './schemaCheck.ts';
import { createStatusEndpoints } from './statusEndpoints.ts';
import { UserProfileCache } from './userProfileCache.ts';
import { GatewaySubscriptions, type SubscriptionStats } from './subscriptions/index.ts';
import {
  CENTRAL_SUBGRAPH,
  loadSupergraph,
  MESSAGES_SUBGRAPH,
  type Supergraph,
} from '../lib/supergraph.ts';
import { serveWeb } from './web/serveWeb.ts';

export interface GatewayOptions {
  /**
   * Central's base URL, e.g. `http://127.0.0.1:4001`; or several centrals sharing one database
   * (a list, or comma-separated), which requests and streams fail over between.
   */
  readonly centralUrl: string | readonly string[];
  /** The secret central expects from gateways (SWITCHBOARD_GATEWAY_SECRET). */
  readonly gatewaySecret: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** A node slower than this counts as down for that request. @default 5000 */
  readonly nodeTimeoutMs?: number;
  /**
   * A read of a replicated room waits for a node its recent p95 latency, clamped to these, before
   * also asking another storage node (gateway/nodeHealth.ts). @default 50 and 300
   */
  readonly hedgeMinMs?: number;
  readonly hedgeMaxMs?: number;
  /**
   * Deadline of each request to central (its subgraph fetches, routing lookups, signing keys):
   * a stalled central fails those fields with CENTRAL_UNAVAILABLE instead of holding the
   * client's request open. @default 10000
   */
  readonly centralTimeoutMs?: number;
  /**
   * With no answer from any central for this long, the gateway counts central as lost (`/ready`
   * 503, central_connected 0) even while its event stream is open; a hung central is probed and
   * left within half of it (gateway/centralLink.ts). @default 5000
   */
  readonly centralStaleMs?: number;
  /**
   * How long central's answer for a user's public profile (`displayName`, `username`) is reused
   * for other requests, e.g. a page of messages' senders (gateway/userProfileCache.ts): a changed
   * name shows within this. 0 asks central every time. @default 2000
   */
  readonly userProfileTtlMs?: number;
  /** Longest an HTTP operation may take in all; then 504 OPERATION_TIMEOUT. @default 30000 */
  readonly operationTimeoutMs?: number;
  /** Largest accepted request body. @default 1048576 */
  readonly maxBodyBytes?: number;
  /** Depth, cost, alias, token and directive limits of operations. @default defaultQueryLimits */
  readonly queryLimits?: QueryLimits;
  /** Gap between heartbeats of multipart subscriptions over HTTP. @default 5000 */
  readonly multipartHeartbeatMs?: number;
  /** Operations one graphql-ws connection may run at once. @default 100 */
  readonly maxSubscriptionsPerConnection?: number;
  /** Largest graphql-ws message. @default 1048576 */
  readonly maxWsPayloadBytes?: number;
  /** How long a graphql-ws connection may take to send connection_init. @default 10000 */
  readonly wsConnectionInitTimeoutMs?: number;
  /**
   * Another supergraph than the one `npm run build` composed from schema/ (tests compose one with
   * scripts/supergraph.ts). @default loadSupergraph()
   */
  readonly supergraph?: Supergraph;
  /** @default central's JWKS */
  readonly userKeys?: JWTVerifyGetKey;
  /**
   * A bearer token that sees `/ready`'s and `/metrics`' details (node ids, URLs, per-node series)
   * without being a user, for Prometheus scrapers. ADMIN tokens see them too. @default none
   */
  readonly metricsToken?: string;
  /** @default a logger writing `[gateway] ...` lines to stderr */
  readonly logger?: Logger;
}

export interface GatewayServer {
  readonly url: string;
  readonly port: number;
  readonly routing: RoutingTable;
  /** graphql-ws on `/graphql`: counters of what it holds open. */
  readonly subscriptions: { stats(): SubscriptionStats; upstreamCount(): number };
  close(): Promise<void>;
}

async function fetchNodeSdl(
  node: RoutingNode,
  timeoutMs: number,
  signer: GatewaySigner,
): Promise<string> {
  // The gateway's own request: an assertion without a user.
  const assertion = await signer.assertion(node.id, null);
  const response = await fetch(`${node.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [ASSERTION_HEADER]: assertion },
    body: JSON.stringify({ query: '{ _service { sdl } }' }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = (await response.json()) as { data?: { _service?: { sdl?: string } } };
  const sdl = body.data?._service?.sdl;
  if (typeof sdl !== 'string')
    throw new Error(`HTTP ${response.status}: no _service.sdl in the answer`);
  return sdl;
}

export async function startGateway(options: GatewayOptions): Promise<GatewayServer> {
  const log = options.logger ?? createLogger('gateway');
  const supergraph = options.supergraph ?? loadSupergraph();
  // Each built once and shared (the node schema check, the operation preparer, the subscription
  // bridge), from the SDL printed as subgraphs when the supergraph was composed.
  const nodeSchema = subgraphSchema(supergraph.printedSdl.node);
  const centralSchema = subgraphSchema(supergraph.printedSdl.central);
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 5000;
  const centralTimeoutMs = options.centralTimeoutMs ?? 10_000;
  // One choice of central for every path (federation, routing, keys, streams): when one finds
  // it failing, all move together.
  const central = new CentralEndpoints(options.centralUrl, { log: log.child('central') });
  const link = createCentralLink({
    centralUrl: central,
    gatewaySecret: options.gatewaySecret,
    timeoutMs: centralTimeoutMs,
    ...(options.centralStaleMs === undefined ? {} : { staleMs: options.centralStaleMs }),
    log: log.child('central'),
  });
  // This process's own key for assertions to nodes; registered at central below.
  const signer = await GatewaySigner.create();
  const routing = new RoutingTable({
    link,
    expectedSdl: expectedNodeSdl(nodeSchema),
    fetchSdl: (node) => fetchNodeSdl(node, nodeTimeoutMs, signer),
    log,
    ...(options.hedgeMinMs === undefined ? {} : { hedgeMinMs: options.hedgeMinMs }),
    ...(options.hedgeMaxMs === undefined ? {} : { hedgeMaxMs: options.hedgeMaxMs }),
  });
  const metrics = new GatewayMetrics({
    routing: () => routing.report(),
    // Read at scrape time only, when `subscriptions` below exists.
    subscriptions: () => subscriptions.stats(),
  });
  const router = new NodeRouter({
    routing,
    preparer: new OperationPreparer(nodeSchema),
    timeoutMs: nodeTimeoutMs,
    signer,
    log,
    onNodeRequest: (node, outcome, seconds) => metrics.nodeRequest(node, outcome, seconds),
    onHedge: () => metrics.hedgedRead(),
    callerRooms: centralCallerRooms({
      central,
      gatewaySecret: options.gatewaySecret,
      timeoutMs: centralTimeoutMs,
    }),
  });
  const subscriptions = new GatewaySubscriptions({
    subgraphs: [
      { name: CENTRAL_SUBGRAPH, schema: centralSchema },
      { name: MESSAGES_SUBGRAPH, schema: nodeSchema },
    ],
    centralUrl: central,
    gatewaySecret: options.gatewaySecret,
    signer,
    routing,
    link,
    log: log.child('subscriptions'),
  });
  // Read by ApolloGateway's constructor.
  disableApolloTelemetryByDefault();
  const gateway = new ApolloGateway({
    supergraphSdl: supergraph.supergraphSdl,
    buildService: ({ name }) => {
      if (name === MESSAGES_SUBGRAPH) return subscriptions.wrap(name, router);
      if (name !== CENTRAL_SUBGRAPH) throw new Error(`unknown subgraph ${name}`);
      return subscriptions.wrap(
        name,
        new UserProfileCache(
          new CentralDataSource({
            central,
            gatewaySecret: options.gatewaySecret,
            timeoutMs: centralTimeoutMs,
          }),
          { ttlMs: options.userProfileTtlMs ?? 2000 },
        ),
      );
    },
  });
  const tokens = new TokenVerifier(options.userKeys ?? remoteUserKeys(central, centralTimeoutMs));
  const statusEndpoints = createStatusEndpoints({
    routing: () => routing.report(),
    subscriptions: () => subscriptions.stats(),
    metrics,
    tokens,
    metricsToken: options.metricsToken,
  });
  const limits = queryLimitRules<GatewayContext>(
    options.queryLimits,
    (context) => context.internal !== true,
  );
  const apollo = new ApolloServer<GatewayContext>({
    // One operation per request (Apollo's default, stated): a batch of N would bypass every
    // per-operation limit N times over.
    allowBatchedHttpRequests: false,
    csrfPrevention: { requestHeaders: [...PREFLIGHT_HEADERS] },
    parseOptions: limits.parseOptions,
    // The process's own signal handler stops everything in order; Apollo's would stop it twice.
    stopOnTerminationSignals: false,
    // The in-browser IDE's docs and completion need the schema, whatever NODE_ENV says; the
    // schema is public API (schema/*.graphql), not a secret.
    introspection: true,
    gateway,
    includeStacktraceInErrorResponses: false,
    formatError: maskingFormatError(log),
    plugins: [
      ApolloServerPluginLandingPageDisabled(),
      ApolloServerPluginInlineTraceDisabled(),
      clientMistakesPlugin(),
      ...limits.plugins,
      metrics.plugin(),
    ],
  });
  await apollo.start();
  if (!gateway.schema) throw new Error('the gateway has no API schema after start');
  subscriptions.start(gateway.schema, async (request, contextValue) => {
    // The event query is the gateway's own, derived from a client operation that passed the
    // limits at subscribe time: it is not measured again.
    const response = await apollo.executeOperation(request, {
      contextValue: { ...contextValue, internal: true },
    });
    if (response.body.kind !== 'single') throw new Error('unexpected incremental response');
    return response.body.singleResult;
  });
  const operationTimeoutMs = options.operationTimeoutMs ?? 30_000;
  const httpContext = async (req: IncomingMessage): Promise<GatewayContext> => ({
    viewer: await tokens.viewerOf(req.headers.authorization),
    authorization: req.headers.authorization,
    clientAddress: req.socket.remoteAddress,
  });
  const multipart = multipartSubscriptions({
    schema: gateway.schema,
    validationRules: limits.validationRules,
    maxTokens: limits.parseOptions.maxTokens,
    context: httpContext,
    subscribe: (args) => subscriptions.subscribe(args),
    log: log.child('multipart'),
    ...(options.multipartHeartbeatMs === undefined
      ? {}
      : { heartbeatMs: options.multipartHeartbeatMs }),
  });
  const handleGraphQL = graphqlHandler<GatewayContext>({
    server: apollo,
    context: httpContext,
    takeOver: (req, res, body) => multipart.serve(req, res, body),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
    operationTimeoutMs,
  });

  const http: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const observed = metrics.httpRequest(path, req.method ?? 'GET');
    res.once('finish', () => observed(res.statusCode));
    if (serveWeb(req, res)) return;
    const handled = (async () => {
      if (path === '/graphql') return handleGraphQL(req, res);
      if (await statusEndpoints(req, res, path)) return;
      if (path === '/health') return sendJson(res, 200, { status: 'ok' });
      sendJson(res, 404, { errors: [{ message: 'not found', extensions: { code: 'NOT_FOUND' } }] });
    })();
    handled.catch((error: unknown) => {
      log.error(`${req.method} ${req.url} failed`, error);
      if (!res.headersSent) {
        sendJson(res, 500, {
          errors: [
            { message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
          ],
        });
      } else res.destroy();
    });
  });
  const graphqlWs = attachSubscriptionServer<GatewayContext>({
    server: http,
    schema: gateway.schema,
    log,
    context: async (params, request) => {
      const authorization =
        typeof params['authorization'] === 'string' ? params['authorization'] : undefined;
      return {
        viewer: await tokens.viewerOf(authorization),
        authorization,
        // Login throttling per address applies to a login sent on the socket too.
        clientAddress: request.socket.remoteAddress,
      };
    },
    subscribe: (args) => subscriptions.subscribe(args),
    // Queries and mutations on the socket take the HTTP path through Apollo Server: the same
    // parsing, limits (a client's context, so they apply), masking and codes.
    execute: async (request, contextValue) => {
      const running = apollo.executeOperation(request, { contextValue });
      const response = await withDeadline(running, operationTimeoutMs);
      if (response === TIMED_OUT) {
        running.catch(() => {});
        const error = appError(
          'OPERATION_TIMEOUT',
          `the operation did not complete within ${operationTimeoutMs} ms`,
        );
        return { errors: [error.toJSON()] };
      }
      if (response.body.kind !== 'single') throw new Error('unexpected incremental response');
      return response.body.singleResult;
    },
    validationRules: limits.validationRules,
    maxTokens: limits.parseOptions.maxTokens,
    ...(options.maxSubscriptionsPerConnection === undefined
      ? {}
      : { maxSubscriptionsPerConnection: options.maxSubscriptionsPerConnection }),
    ...(options.maxWsPayloadBytes === undefined
      ? {}
      : { maxPayloadBytes: options.maxWsPayloadBytes }),
    ...(options.wsConnectionInitTimeoutMs === undefined
      ? {}
      : { connectionInitWaitTimeoutMs: options.wsConnectionInitTimeoutMs }),
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(http, options.port ?? 0, host);
  const url = baseUrl(host, port);
  // Serving starts now; routing fills in as soon as central answers (`/ready` tells when), and
  // not before central holds this gateway's key: until then no node would believe its
  // assertions, so none is asked anything.
  const keys = startKeyRegistration({ link, signer, log: log.child('central') });
  let stopping = false;
  void keys.registered.then((registered) => {
    if (registered && !stopping) void routing.start();
  });
  log.info(`listening on ${url}/graphql`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    routing,
    subscriptions,
    close: () =>
      (closing ??= (async () => {
        stopping = true;
        keys.stop();
        routing.stop();
        subscriptions.close();
        multipart.close();
        await graphqlWs.close();
        await closeServer(http);
        await apollo.stop();
      })()),
  };
}
