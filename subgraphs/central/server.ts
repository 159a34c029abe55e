// Builds and starts central: database, token signer, event bus, the GraphQL subgraph (HTTP and
// graphql-ws on one port), the internal node API and the liveness sweep. Tests import this.
import { createServer, type Server } from 'node:http';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import { sql } from 'drizzle-orm';
import { maskingFormatError } from '../../lib/errorMasking.ts';
import { baseUrl, closeServer, graphqlHandler, listen, sendJson } from '../../lib/http.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { attachSubscriptionServer, type SubscriptionServer } from '../../lib/subscriptionServer.ts';
import { ensureAdmin } from './bootstrap.ts';
import {
  createContext,
  type CentralContext,
  type CentralServices,
  type RequestOrigin,
} from './context.ts';
import { openCentralDb, type CentralDb } from './db/open.ts';
import { createLocalEventBus, createPostgresEventBus } from './events.ts';
import { handleGatewayApi } from './gatewayApi.ts';
import { handleInternal } from './internalApi.ts';
import { HeartbeatBatch } from './heartbeatBatch.ts';
import { NodeAuthenticator } from './nodeAuth.ts';
import {
  DEFAULT_HEARTBEAT_INTERVAL_MS,
  MISSED_HEARTBEATS_FOR_OFFLINE,
  startLivenessSweep,
} from './nodeLiveness.ts';
import { MEMBERSHIP_NOTICE_DEADLINE_MS } from './nodeNotices.ts';
import { startInstanceLease } from './instanceLease.ts';
import { SyncCoordinator } from './sync/coordinator.ts';
import { RoomMembersTags } from './sync/roomMembersTags.ts';
import { startSyncScheduler } from './sync/scheduler.ts';
import { startWindowSweep } from './sync/windowSweep.ts';
import { buildCentralSchema } from './schema.ts';
import { createTokenSigner } from './tokens.ts';
import { LoginThrottle, type LoginThrottleOptions } from './loginThrottle.ts';
import { passwordHashSlots, setPasswordHashCost } from './passwords.ts';
import {
  CLIENT_ADDRESS_HEADER,
  GATEWAY_SECRET_HEADER,
  GATEWAY_SECRET_PARAM,
  gatewaySecretDigest,
  headerValue,
  matchesGatewayDigest,
} from '../../lib/gatewayProtocol.ts';
import type { IncomingMessage } from 'node:http';

export interface CentralOptions {
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** Folder for the embedded PGlite database. Required unless `databaseUrl` is set. */
  readonly dataDir?: string;
  /** `postgres://...`: store everything in real PostgreSQL instead of PGlite. */
  readonly databaseUrl?: string;
  /** Password of the `admin` user created on first start. @default a generated one, printed once */
  readonly adminPassword?: string;
  /** How often nodes heartbeat. @default 1500 */
  readonly heartbeatIntervalMs?: number;
  /** Silence after which a node is OFFLINE. @default three heartbeat intervals */
  readonly offlineAfterMs?: number;
  /** Lifetime of users' tokens. @default 43200 (12 hours) */
  readonly tokenTtlSeconds?: number;
  /** Largest accepted request body. @default 1048576 */
  readonly maxBodyBytes?: number;
  /**
   * Secret shared with the gateways (header X-Gateway-Secret) for the routing table and event
   * stream. Without it, central serves no gateway.
   */
  readonly gatewaySecret?: string;
  /** @default a logger writing `[central] ...` lines to stderr */
  readonly logger?: Logger;
  /** Called with every SQL statement (tests count queries). */
  readonly onQuery?: (sql: string) => void;
  /** Versions per batch the nodes are asked to pull in a sync session. @default 1000 */
  readonly syncBatchSize?: number;
  /** Versions per batch in FULL sessions. @default 5000 */
  readonly syncFullBatchSize?: number;
  /** A live window without a report for this long is FAILED (its target lost it). @default 300000 */
  readonly syncLiveWindowStaleMs?: number;
  /** Milliseconds per second of a node's autoSyncInterval (tests shorten it). @default 1000 */
  readonly syncIntervalUnitMs?: number;
  /** Failed-login limits and backoff. @default see LoginThrottleOptions */
  readonly loginThrottle?: LoginThrottleOptions;
  /**
   * Password hashes computed at once, for the whole process (libuv's thread pool is per
   * process): the last central started in a process sets it. @default 2
   */
  readonly passwordHashConcurrency?: number;
  /**
   * scrypt cost (log2 N, 10-20) of new password hashes, for the whole process; existing hashes
   * keep theirs. @default 15
   */
  readonly passwordHashCost?: number;
  /**
   * Lease of this central process, renewed every third of it: after a crash, this long (plus a
   * third) passes before another central takes over the sync sessions it sent. @default 15000
   */
  readonly instanceLeaseMs?: number;
  /**
   * A running sync session with no report for this long while its target is ONLINE is failed
   * and queued again. @default 60000
   */
  readonly syncStuckAfterMs?: number;
  /**
   * How long a node's row authenticates its key without a select (nodeAuth.ts): the longest
   * another central's rotation or removal may take to apply here if its event were lost.
   * @default 5000
   */
  readonly nodeAuthTtlMs?: number;
  /**
   * How long after a node's full membership refresh central may answer its next ones "unchanged"
   * (sync/roomMembersTags.ts): the longest a change whose event were lost stays unseen by nodes.
   * @default 60000
   */
  readonly roomMembersTagMaxAgeMs?: number;
  /**
   * How long a member's removal waits for the room's ONLINE nodes to acknowledge it before
   * answering (tests with nodes that never acknowledge shorten it). @default 5000
   */
  readonly membershipNoticeDeadlineMs?: number;
  /** Largest graphql-ws message. @default 1048576 */
  readonly maxWsPayloadBytes?: number;
  /** How long a graphql-ws connection may take to send connection_init. @default 10000 */
  readonly wsConnectionInitTimeoutMs?: number;
}

export interface CentralServer {
  readonly url: string;
  readonly port: number;
  readonly services: CentralServices;
  readonly db: CentralDb;
  readonly subscriptions: SubscriptionServer;
  /** Set on a first start without `adminPassword`: show it once, it is not stored anywhere. */
  readonly generatedAdminPassword: string | undefined;
  close(): Promise<void>;
}

export async function startCentral(options: CentralOptions): Promise<CentralServer> {
  const log = options.logger ?? createLogger('central');
  if (options.databaseUrl === undefined && options.dataDir === undefined) {
    throw new Error('central needs a dataDir (embedded PGlite) or a databaseUrl');
  }
  if (options.passwordHashConcurrency !== undefined)
    passwordHashSlots.setLimit(options.passwordHashConcurrency);
  if (options.passwordHashCost !== undefined) setPasswordHashCost(options.passwordHashCost);
  const db = await openCentralDb({
    ...(options.dataDir === undefined ? {} : { dataDir: options.dataDir }),
    ...(options.databaseUrl === undefined ? {} : { databaseUrl: options.databaseUrl }),
    ...(options.onQuery === undefined ? {} : { onQuery: options.onQuery }),
  });
  const events =
    db.databaseUrl === undefined
      ? createLocalEventBus()
      : await createPostgresEventBus(db.databaseUrl, log.child('events'));
  const tokens = await createTokenSigner(db.db, options.tokenTtlSeconds ?? 43_200);
  const lease = await startInstanceLease({
    db: db.db,
    log,
    ...(options.instanceLeaseMs === undefined ? {} : { leaseMs: options.instanceLeaseMs }),
  });
  const sync = new SyncCoordinator({
    services: { db: db.db, events, log: log.child('sync') },
    tokens,
    instanceId: lease.id,
    alone: db.kind === 'pglite',
    sweepIntervalMs: Math.max(10, Math.floor(lease.leaseMs / 3)),
    ...(options.syncStuckAfterMs === undefined ? {} : { stuckAfterMs: options.syncStuckAfterMs }),
    ...(options.syncBatchSize === undefined ? {} : { batchSize: options.syncBatchSize }),
    ...(options.syncFullBatchSize === undefined
      ? {}
      : { fullBatchSize: options.syncFullBatchSize }),
  });
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS;
  const services: CentralServices = {
    db: db.db,
    events,
    tokens,
    log,
    heartbeatIntervalMs,
    offlineAfterMs: options.offlineAfterMs ?? MISSED_HEARTBEATS_FOR_OFFLINE * heartbeatIntervalMs,
    membershipNoticeDeadlineMs: options.membershipNoticeDeadlineMs ?? MEMBERSHIP_NOTICE_DEADLINE_MS,
    sync,
    loginThrottle: new LoginThrottle(db.db, options.loginThrottle),
    heartbeats: new HeartbeatBatch(),
    nodeAuth: new NodeAuthenticator(db.db, events, options.nodeAuthTtlMs),
    roomMembersTags: new RoomMembersTags(
      events,
      options.roomMembersTagMaxAgeMs === undefined
        ? {}
        : { maxAgeMs: options.roomMembersTagMaxAgeMs },
    ),
    gatewaySecretDigest:
      options.gatewaySecret === undefined ? undefined : gatewaySecretDigest(options.gatewaySecret),
  };
  const originOf = (secret: unknown, req: IncomingMessage): RequestOrigin => {
    const fromGateway = matchesGatewayDigest(services.gatewaySecretDigest, secret);
    // The forwarded address is believed only from a gateway; anyone else could send any value.
    const forwarded = fromGateway ? headerValue(req.headers[CLIENT_ADDRESS_HEADER]) : undefined;
    return {
      fromGateway,
      clientAddress: forwarded?.slice(0, 100) ?? req.socket.remoteAddress,
    };
  };
  const generatedAdminPassword = await ensureAdmin(db.db, options.adminPassword);
  // Before listening: sessions that dead centrals left IN_PROGRESS are failed before any node
  // attaches.
  await sync.start();

  const schema = buildCentralSchema();
  const apollo = new ApolloServer<CentralContext>({
    // The process's own signal handler stops everything in order; Apollo's would stop it twice.
    stopOnTerminationSignals: false,
    schema,
    includeStacktraceInErrorResponses: false,
    formatError: maskingFormatError(log),
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();
  const handleGraphQL = graphqlHandler({
    server: apollo,
    context: (req) =>
      createContext(
        services,
        req.headers.authorization,
        originOf(headerValue(req.headers[GATEWAY_SECRET_HEADER]), req),
      ),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });

  const http: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const handled = (async () => {
      if (path === '/graphql') return handleGraphQL(req, res);
      if (path === '/health') return sendJson(res, 200, { status: 'ok' });
      if (path === '/ready') {
        await db.db.execute(sql`select 1`);
        return sendJson(res, 200, { status: 'ready' });
      }
      if (await handleGatewayApi(services, options.gatewaySecret, req, res)) return;
      if (await handleInternal(services, req, res)) return;
      sendJson(res, 404, { errors: [{ message: 'not found', extensions: { code: 'NOT_FOUND' } }] });
    })();
    handled.catch((error: unknown) => {
      log.error(`${req.method} ${req.url} failed`, error);
      if (!res.headersSent)
        sendJson(res, 500, {
          errors: [
            { message: 'internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } },
          ],
        });
      else res.destroy();
    });
  });
  const subscriptions = attachSubscriptionServer({
    server: http,
    schema,
    log: log.child('ws'),
    context: (params, req) =>
      createContext(
        services,
        typeof params['authorization'] === 'string' ? params['authorization'] : undefined,
        originOf(params[GATEWAY_SECRET_PARAM], req),
      ),
    ...(options.maxWsPayloadBytes === undefined
      ? {}
      : { maxPayloadBytes: options.maxWsPayloadBytes }),
    ...(options.wsConnectionInitTimeoutMs === undefined
      ? {}
      : { connectionInitWaitTimeoutMs: options.wsConnectionInitTimeoutMs }),
  });
  const host = options.host ?? '127.0.0.1';
  const port = await listen(http, options.port ?? 0, host);
  const stopSweep = startLivenessSweep(services);
  const stopWindowSweep = startWindowSweep(services, options.syncLiveWindowStaleMs);
  const scheduler = await startSyncScheduler({
    services,
    coordinator: sync,
    ...(db.databaseUrl === undefined ? {} : { databaseUrl: db.databaseUrl }),
    ...(options.syncIntervalUnitMs === undefined ? {} : { unitMs: options.syncIntervalUnitMs }),
  });
  const url = baseUrl(host, port);
  log.info(
    `listening on ${url}/graphql (${db.kind === 'pglite' ? 'embedded PGlite' : 'PostgreSQL'})`,
  );

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    services,
    db,
    subscriptions,
    generatedAdminPassword,
    close: () =>
      (closing ??= (async () => {
        await stopSweep();
        await stopWindowSweep();
        await scheduler.close();
        // Job streams never go idle: end them first, or closing the server waits out its grace.
        await sync.close();
        // Another central may take over this one's sessions from now on.
        await lease
          .close()
          .catch((error: unknown) =>
            log.warn(`could not end this central's lease: ${(error as Error).message}`),
          );
        await subscriptions.close();
        await closeServer(http);
        await apollo.stop();
        services.nodeAuth.close();
        services.roomMembersTags.close();
        await events.close();
        await db.close();
      })()),
  };
}
