// Builds and starts a chat node: its SQLite file, its link to central, the GraphQL subgraph over
// HTTP and graphql-ws on one port. Tests import this; `index.ts` only adds flags and signals.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import path from 'node:path';
import { ApolloServer } from '@apollo/server';
import {
  ApolloServerPluginInlineTraceDisabled,
  ApolloServerPluginLandingPageDisabled,
} from '@apollo/server/plugin/disabled';
import type { JWTVerifyGetKey } from 'jose';
import { maskingFormatError } from '../../lib/errorMasking.ts';
import { errorBody } from '../../lib/errors.ts';
import { baseUrl, closeServer, graphqlHandler, listen, sendJson } from '../../lib/http.ts';
import { createLogger, type Logger } from '../../lib/log.ts';
import { attachSubscriptionServer, type SubscriptionServer } from '../../lib/subscriptionServer.ts';
import { remoteUserKeys } from '../../lib/userAuth.ts';
import { CentralEndpoints } from '../../lib/centralEndpoints.ts';
import {
  ASSERTION_HEADER,
  ASSERTION_PARAM,
  AssertionVerifier,
  remoteGatewayKeys,
  type AssertedCaller,
} from '../../lib/gatewayAssertion.ts';
import { createCentralClient, type CentralClient } from './centralClient.ts';
import { ClockOffset, requireSaneClock } from './clockOffset.ts';
import { nodeMetrics } from './metrics.ts';
import { greatestHlc } from './changeLog.ts';
import { contextFor, createContext, type NodeContext, type NodeServices } from './context.ts';
import { openNodeDb, type NodeDb } from './db/open.ts';
import { headerValue } from '../../lib/gatewayProtocol.ts';
import {
  connectToCentral,
  startHeartbeats,
  type CentralIdentity,
  type Heartbeats,
} from './heartbeat.ts';
import { GroupCommit } from './groupCommit.ts';
import { HybridLogicalClock } from './hlc.ts';
import { MembershipCache } from './membership.ts';
import { HeldRooms } from './heldRooms.ts';
import { noticeHandler } from './nodeNotices.ts';
import { MessageEvents } from './messageEvents.ts';
import { MessageSearch } from './messageSearch.ts';
import { MessageStore } from './messageStore.ts';
import { buildNodeSchema } from './schema.ts';
import { createFeedApi } from './sync/feedApi.ts';
import { startJobListener, type JobListener } from './sync/jobListener.ts';
import { DeferredWatch } from './sync/deferredVersions.ts';
import { HeldMemberships } from './sync/heldMemberships.ts';
import { LiveStreams } from './sync/liveStreams.ts';
import { Puller } from './sync/puller.ts';
import { Quarantine } from './sync/quarantine.ts';
import { WriterRights, type WriterRightsOptions } from './sync/writerRights.ts';

export interface NodeOptions {
  /** The node's name; its database is `<dataDir>/<name>.sqlite`. */
  readonly name: string;
  readonly dataDir: string;
  /**
   * Central's base URL, e.g. `http://127.0.0.1:4001`; or several centrals sharing one database
   * (a list, or comma-separated), which requests and the job stream fail over between.
   */
  readonly centralUrl: string | readonly string[];
  /** The API key central issued for this node (registerNode). */
  readonly apiKey: string;
  /** @default 0 (any free port) */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** The base URL others reach this node at, sent with every heartbeat. @default `http://<host>:<port>` */
  readonly publicUrl?: string;
  /** Longest message content, in characters. @default 4000 */
  readonly maxContentChars?: number;
  /** Largest `first`/`last` of `Room.messages`. @default 500 */
  readonly maxPageSize?: number;
  /** How long a "member of the room" answer from central is reused. @default 5000 */
  readonly membershipCacheMs?: number;
  /** While central is unreachable, how long a member it confirmed stays one. @default 300000 */
  readonly membershipStaleMs?: number;
  /** How often the memberships of the rooms replicated here are fetched again. @default 10000 */
  readonly syncMembershipRefreshMs?: number;
  /** How long a node that never reached central keeps trying at start. @default 30000 */
  readonly centralWaitMs?: number;
  /** Timeout of each request to central. @default 5000 */
  readonly centralTimeoutMs?: number;
  /**
   * After fetching central's gateway keys, how long before an unknown key id may fetch them
   * again (such an assertion waits that long, then is checked once more). @default 1000
   */
  readonly gatewayKeysCooldownMs?: number;
  /** Max offset from central's clock (else writes refused) and of a peer's HLC (else deferred). @default 60000 */
  readonly maxClockDriftMs?: number;
  /** Largest accepted request body. @default 1048576 */
  readonly maxBodyBytes?: number;
  /**
   * How long a local write waits for others to share its transaction and fsync; 0: each commits
   * alone. @default DEFAULT_GROUP_COMMIT_MS (groupCommit.ts)
   */
  readonly groupCommitMs?: number;
  /**
   * Keep a live stream on each peer's change feed (docs/sync.md, "Live replication"); without,
   * changes move only in scheduled, manual and catch-up sessions. @default true
   */
  readonly liveReplication?: boolean;
  /**
   * A live window (a CHANGE session at central) closes after this long without a change from its
   * source. @default WINDOW_IDLE_MS (sync/liveOutbox.ts)
   */
  readonly syncLiveWindowIdleMs?: number;
  /** The wall clock of messages' HLCs and timestamps (tests, fault injection). @default Date.now */
  readonly now?: () => number;
  /** The clock that never steps, against which central's time is kept (tests). @default performance.now */
  readonly monotonic?: () => number;
  /** @default a logger writing `[node/<name>] ...` lines to stderr */
  readonly logger?: Logger;
  /** Replaces the HTTP client of central's internal API (tests). */
  readonly central?: CentralClient;
  /** Replaces central's JWKS as the keys peers' pull tokens are checked with (tests). */
  readonly userKeys?: JWTVerifyGetKey;
  /** Replaces central's gateway JWKS as the keys gateway assertions are checked with (tests). */
  readonly gatewayKeys?: JWTVerifyGetKey;
  /** Versions per batch asked from a source when central's job does not say. @default 1000 */
  readonly syncBatchSize?: number;
  /** Most versions one batch of this node's change feed carries, whatever is asked. @default 5000 */
  readonly syncMaxBatchSize?: number;
  /** Most bytes (versions' JSON) one batch of this node's change feed carries. @default 8388608 */
  readonly syncMaxBatchBytes?: number;
  /** Timeout of each request to a source node while pulling. @default 30000 */
  readonly syncRequestTimeoutMs?: number;
  /** How long central's word on writers is kept, and the clock timing it (tests). */
  readonly writerChecks?: WriterRightsOptions;
  /**
   * Whether the node listens for sync jobs and keeps live streams to its peers. The change feed
   * is served either way. @default true
   */
  readonly sync?: boolean;
  /** Largest graphql-ws message. @default 1048576 */
  readonly maxWsPayloadBytes?: number;
  /** How long a graphql-ws connection may take to send connection_init. @default 10000 */
  readonly wsConnectionInitTimeoutMs?: number;
}

export interface NodeServer {
  /** Base URL; GraphQL (HTTP and graphql-ws) is served at `${url}/graphql`. */
  readonly url: string;
  readonly port: number;
  readonly name: string;
  /** Central's id of this node: the `originNode` of messages posted here. */
  readonly nodeId: string;
  readonly store: MessageStore;
  /** The rooms this node takes writes for (heldRooms.ts); tests writing to `store` set it. */
  readonly held: HeldRooms;
  /** The mutations' write queue (group commit). */
  readonly writes: GroupCommit;
  readonly events: MessageEvents;
  readonly clock: HybridLogicalClock;
  /** This node's clock against central's, measured on every heartbeat. */
  readonly clockOffset: ClockOffset;
  readonly db: NodeDb;
  readonly subscriptions: SubscriptionServer;
  /** Runs the sync sessions in which this node is the target (pulls from a source). */
  readonly puller: Puller;
  /** The live streams from this node's peers (undefined with `sync: false`). */
  readonly live: LiveStreams | undefined;
  /** Stops accepting, lets requests in flight finish (their writes included), closes the database. */
  close(): Promise<void>;
}

export function databaseFile(dataDir: string, name: string): string {
  return path.join(dataDir, `${name}.sqlite`);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

/**
 * How long a request that arrives while the node is still starting waits for it. Central marks a
 * node ONLINE on its first heartbeat, and the gateway may ask it for its schema at once: a few
 * milliseconds before the node has finished setting up with the id that heartbeat returned.
 */
const STARTUP_WAIT_MS = 10_000;

export async function startNode(options: NodeOptions): Promise<NodeServer> {
  const log = options.logger ?? createLogger(`node/${options.name}`);
  // Checked before anything is opened; one choice of central for requests, streams and keys.
  const centralUrls = new CentralEndpoints(options.centralUrl, { log: log.child('central') });
  const db = openNodeDb(databaseFile(options.dataDir, options.name));
  const host = options.host ?? '127.0.0.1';

  // Everything that does not need the node's id is ready before the first heartbeat.
  const schema = buildNodeSchema();
  const apollo = new ApolloServer<NodeContext>({
    // The process's own signal handler stops everything in order; Apollo's would stop it twice.
    stopOnTerminationSignals: false,
    schema,
    includeStacktraceInErrorResponses: false,
    formatError: maskingFormatError(log),
    // Nothing reports to Apollo Studio, so inline (FTV1) traces would only cost time per request.
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled()],
  });
  await apollo.start();

  // Listen before asking central: with port 0 the public URL (sent in the heartbeat) is only
  // known once bound. Requests that arrive before the node is ready wait for it (bounded).
  let handler: Handler | undefined = undefined;
  let markReady: (handler: Handler | undefined) => void = () => {};
  const ready = new Promise<Handler | undefined>((resolve) => (markReady = resolve));
  let closing = false;
  const inFlight = new Set<Promise<void>>();
  const unavailable = (res: ServerResponse) => {
    res.setHeader('retry-after', '1');
    // Not to be reused: a request refused unread would otherwise keep its connection busy, and
    // stopping the server wait out its grace for it.
    if (closing) res.setHeader('connection', 'close');
    const reason = closing ? 'node is shutting down' : 'node is starting';
    sendJson(res, 503, errorBody('NODE_UNAVAILABLE', reason));
  };
  const dispatch = async (req: IncomingMessage, res: ServerResponse) => {
    let serve = handler;
    if (!serve) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(resolve, STARTUP_WAIT_MS, undefined);
      });
      serve = await Promise.race([ready, timeout]).finally(() => clearTimeout(timer));
    }
    if (!serve || closing) return unavailable(res);
    return serve(req, res);
  };
  const http = createServer((req, res) => {
    const route = (req.url ?? '/').split('?')[0];
    if (route === '/health') return sendJson(res, 200, { status: 'ok' });
    if (closing) return unavailable(res);
    const handled = dispatch(req, res).catch((error: unknown) => {
      log.error(`${req.method} ${req.url} failed`, error);
      if (!res.headersSent)
        sendJson(res, 500, errorBody('INTERNAL_SERVER_ERROR', 'internal server error'));
      else res.destroy();
    });
    inFlight.add(handled);
    void handled.finally(() => inFlight.delete(handled));
  });

  const abortStart = async (error: unknown): Promise<never> => {
    markReady(undefined);
    await closeServer(http);
    await apollo.stop();
    db.close();
    throw error;
  };

  let port = 0;
  try {
    port = await listen(http, options.port ?? 0, host);
  } catch (error) {
    await abortStart(error);
  }
  const url = baseUrl(host, port);
  const publicUrl = options.publicUrl ?? url;
  const central =
    options.central ??
    createCentralClient({
      centralUrl: centralUrls,
      apiKey: options.apiKey,
      ...(options.centralTimeoutMs === undefined ? {} : { timeoutMs: options.centralTimeoutMs }),
    });

  const clockOffset = new ClockOffset({
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.monotonic === undefined ? {} : { monotonic: options.monotonic }),
    ...(options.maxClockDriftMs === undefined ? {} : { maxDriftMs: options.maxClockDriftMs }),
  });
  let identity: CentralIdentity | undefined;
  try {
    identity = await connectToCentral({
      client: central,
      clock: clockOffset,
      db: db.db,
      name: options.name,
      publicUrl,
      waitMs: options.centralWaitMs ?? 30_000,
      log,
    });
  } catch (error) {
    await abortStart(error);
  }
  if (!identity) throw new Error('unreachable: connectToCentral returned nothing');
  const nodeId = identity.nodeId;

  const clock = new HybridLogicalClock({
    nodeId,
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.maxClockDriftMs === undefined ? {} : { maxDriftMs: options.maxClockDriftMs }),
    // Peers' versions are held to central's time, not to this node's clock, which may be off.
    reference: () => clockOffset.centralNow(),
    ...resumeFrom(greatestHlc(db.db)),
  });
  const events = new MessageEvents(log.child('events'));
  // Central's public keys, for peers' pull tokens (users' tokens never reach a node).
  const centralKeys = options.userKeys ?? remoteUserKeys(centralUrls);
  const held = new HeldRooms({
    db: db.db,
    fetch: () => central.placement(),
    log,
  });
  const store = new MessageStore({
    db: db.db,
    clock,
    events,
    acceptsWritesFor: (roomId) => held.accepts(roomId),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const services: NodeServices = {
    store,
    held,
    search: new MessageSearch(db.db.$client),
    writes: new GroupCommit({
      store,
      ...(options.groupCommitMs === undefined ? {} : { windowMs: options.groupCommitMs }),
    }),
    events,
    membership: new MembershipCache({
      client: central,
      ...(options.membershipCacheMs === undefined ? {} : { ttlMs: options.membershipCacheMs }),
      ...(options.membershipStaleMs === undefined ? {} : { staleMs: options.membershipStaleMs }),
    }),
    assertions: new AssertionVerifier(
      options.gatewayKeys ??
        remoteGatewayKeys(centralUrls, options.centralTimeoutMs, options.gatewayKeysCooldownMs),
      nodeId,
    ),
    limits: {
      maxContentChars: options.maxContentChars ?? 4000,
      maxPageSize: options.maxPageSize ?? 500,
    },
    requireSaneClock: () => requireSaneClock(clockOffset, clock.current.physical),
    log,
  };

  const handleGraphQL = graphqlHandler({
    server: apollo,
    context: (req) => createContext(services, headerValue(req.headers[ASSERTION_HEADER])),
    ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
  });
  const subscriptions = attachSubscriptionServer<NodeContext, AssertedCaller>({
    server: http,
    schema,
    log,
    // At connection_init: the assertion lives 60 s, the connection (and the user's right to it,
    // until `uexp`) longer.
    authenticate: (params) => services.assertions.verify(params[ASSERTION_PARAM]),
    context: async (params, _request, caller) =>
      caller ? contextFor(services, caller) : createContext(services, params[ASSERTION_PARAM]),
    ...(options.maxWsPayloadBytes === undefined
      ? {}
      : { maxPayloadBytes: options.maxWsPayloadBytes }),
    ...(options.wsConnectionInitTimeoutMs === undefined
      ? {}
      : { connectionInitWaitTimeoutMs: options.wsConnectionInitTimeoutMs }),
  });
  const heartbeats: Heartbeats = startHeartbeats({
    client: central,
    publicUrl,
    nodeId,
    intervalMs: identity.heartbeatIntervalMs,
    clock: clockOffset,
    log,
  });
  const handleFeed = createFeedApi({
    db,
    nodeId,
    events,
    keys: centralKeys,
    log: log.child('sync'),
    ...(options.syncMaxBatchSize === undefined ? {} : { maxBatchSize: options.syncMaxBatchSize }),
    ...(options.syncMaxBatchBytes === undefined
      ? {}
      : { maxBatchBytes: options.syncMaxBatchBytes }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  // What the node holds of its rooms' memberships: writers are judged by it while central is away.
  const heldMemberships = new HeldMemberships({
    lookup: (query) => central.syncAuthority(query),
    log: log.child('sync'),
    ...(options.syncMembershipRefreshMs === undefined
      ? {}
      : { refreshMs: options.syncMembershipRefreshMs }),
    ...(options.membershipStaleMs === undefined ? {} : { staleMs: options.membershipStaleMs }),
  });
  // One for the node: what central said of a room's writers serves every session that follows.
  const writers = new WriterRights(db, (query) => central.syncAuthority(query), {
    held: heldMemberships,
    ...options.writerChecks,
  });
  const puller = new Puller({
    db,
    store: services.store,
    clock,
    central,
    writers,
    log: log.child('sync'),
    ...(options.syncBatchSize === undefined ? {} : { batchSize: options.syncBatchSize }),
    ...(options.syncRequestTimeoutMs === undefined
      ? {}
      : { requestTimeoutMs: options.syncRequestTimeoutMs }),
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const quarantine = new Quarantine(db);
  const metrics = nodeMetrics({
    clock: clockOffset,
    deferredVersions: () => quarantine.deferredCount(),
    heldMembershipsUntil: () => heldMemberships.certainUntil,
  });
  handler = async (req, res) => {
    const route = (req.url ?? '/').split('?')[0];
    if (route === '/graphql') return handleGraphQL(req, res);
    if (route === '/ready') {
      // Not ready while the clock is off: the node serves reads, but refuses every write.
      // Central's reachability is reported, not required: known members keep chatting while
      // no central answers (membership.ts), and the gateway routes by central's view anyway.
      const endpoints = central.central ?? centralUrls;
      const centralReport = { current: endpoints.current, centrals: endpoints.view() };
      const state = clockOffset.state();
      const clockReport = {
        offsetMs: state.offsetMs ?? null,
        errorMs: state.errorMs ?? null,
        maxDriftMs: state.maxDriftMs,
        withinBound: state.withinBound,
      };
      if (!state.withinBound) {
        return sendJson(res, 503, {
          status: state.offsetMs === undefined ? 'clock not measured' : 'clock skew',
          reason: state.reason,
          nodeId,
          clock: clockReport,
          central: centralReport,
        });
      }
      return sendJson(res, 200, {
        status: 'ready',
        nodeId,
        clock: clockReport,
        central: centralReport,
      });
    }
    if (route === '/metrics' && req.method === 'GET') {
      const registry = await metrics();
      res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics());
      return;
    }
    if (await handleFeed(req, res)) return;
    sendJson(res, 404, errorBody('NOT_FOUND', `nothing at ${route}`));
  };
  markReady(handler);
  // Only once peers can reach the feed: a job may name this node as another session's source.
  let jobs: JobListener | undefined;
  // Deferred versions are looked for on every clock sample (each heartbeat), sync on or off.
  const watch = new DeferredWatch({
    quarantine,
    now: () => clock.referenceTime(),
    central,
    log: log.child('sync'),
  });
  const stopWatch = clockOffset.onSample(() => watch.check());
  let live: LiveStreams | undefined;
  if (options.sync ?? true) {
    const streams =
      (options.liveReplication ?? true)
        ? new LiveStreams({
            db,
            store: services.store,
            clock,
            central,
            writers,
            log: log.child('sync'),
            ...(options.syncBatchSize === undefined ? {} : { batchSize: options.syncBatchSize }),
            ...(options.syncLiveWindowIdleMs === undefined
              ? {}
              : { windowIdleMs: options.syncLiveWindowIdleMs }),
            ...(options.now === undefined ? {} : { now: options.now }),
          })
        : undefined;
    live = streams;
    jobs = startJobListener({
      central,
      onJob: (job) => void puller.enqueue(job),
      onPeers: (peers) => {
        heldMemberships.hold(peers.flatMap((peer) => peer.roomIds));
        streams?.update(peers);
      },
      onNotice: noticeHandler({
        held,
        membership: services.membership,
        heldMemberships,
        central,
        log: log.child('sync'),
      }),
      log: log.child('sync'),
    });
  }
  log.info(`node ${options.name} (${nodeId}) listening on ${url}/graphql, data in ${db.file}`);

  let closed: Promise<void> | undefined;
  return {
    url,
    port,
    name: options.name,
    nodeId,
    store: services.store,
    held: services.held,
    writes: services.writes,
    events,
    clock,
    clockOffset,
    db,
    subscriptions,
    puller,
    live,
    close: () =>
      (closed ??= (async () => {
        closing = true;
        stopWatch();
        heldMemberships.close();
        // Peers' parked long polls end now (503: they reconnect elsewhere or later).
        handleFeed.close();
        await jobs?.close();
        // A batch already received commits before the database closes; none starts after.
        await live?.close();
        await puller.close();
        await heartbeats.stop();
        await subscriptions.close();
        await closeServer(http);
        // Connections are closed, but a request cut off mid-way may still be running its
        // resolver: wait for it, so its write either commits or never starts, before closing.
        await Promise.allSettled([...inFlight]);
        // Nothing should be queued by now (its request would still be in flight); should a
        // write be, it commits rather than meet a closed database.
        services.writes.close();
        await apollo.stop();
        db.close();
        log.info(`node ${options.name} stopped`);
      })()),
  };
}

function resumeFrom(hlc: string | undefined): { resumeFrom?: string } {
  return hlc === undefined ? {} : { resumeFrom: hlc };
}
