// `GET /ready` and `GET /metrics`: a summary for anyone (load balancers, uptime checks), details
// only for a caller that proves it may see the cluster's layout. The gateway's port is public, and
// node ids, names and internal URLs are a map for an attacker (issue 14). Details go to an ADMIN
// bearer token (verified as every request's token is) or to the configured metrics token, which
// a Prometheus scraper sends as `Authorization: Bearer <token>` and which needs no central.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GraphQLError } from 'graphql';
import { errorCodes, type ErrorCode } from '../lib/errors.ts';
import { sendJson } from '../lib/http.ts';
import { bearerToken, type TokenVerifier } from '../lib/userAuth.ts';
import type { GatewayMetrics } from './metrics.ts';
import type { RoutingReport } from './routingTable.ts';
import type { SubscriptionStats } from './subscriptions/index.ts';

export interface StatusEndpointsOptions {
  readonly routing: () => RoutingReport;
  readonly subscriptions: () => SubscriptionStats;
  readonly metrics: GatewayMetrics;
  readonly tokens: TokenVerifier;
  /** `--metrics-token`: a bearer token that sees the details without being a user. */
  readonly metricsToken: string | undefined;
}

/** What /ready tells anyone: whether the gateway serves, and how many nodes are in which state. */
export interface ReadySummary {
  readonly status: 'ready' | 'waiting for central';
  /**
   * Why not ready: to anyone, how many centrals were tried; with details, each central's URL and
   * what it did (internal addresses are for operators only, like node URLs).
   */
  readonly reason?: string;
  readonly routableNodes: number;
  /** Nodes by status (ONLINE, OFFLINE, DEGRADED); counts only. */
  readonly nodeCounts: Record<string, number>;
}

/** Answers `/ready` and `/metrics`; false for any other request. */
export type StatusEndpoints = (
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
) => Promise<boolean>;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

export function createStatusEndpoints(options: StatusEndpointsOptions): StatusEndpoints {
  // Compared as SHA-256 digests: equal lengths whatever the caller sends, so timingSafeEqual
  // applies and the comparison's time says nothing about the token.
  const metricsDigest =
    options.metricsToken === undefined ? undefined : digest(options.metricsToken);

  /** Whether the caller may see details; throws UNAUTHENTICATED for a bad token. */
  async function maySeeDetails(req: IncomingMessage): Promise<boolean> {
    const header = req.headers.authorization;
    const token = bearerToken(header);
    if (token === undefined) return false;
    if (metricsDigest !== undefined && timingSafeEqual(digest(token), metricsDigest)) return true;
    const viewer = await options.tokens.viewerOf(header);
    return viewer?.role === 'ADMIN';
  }

  function summary(report: RoutingReport, details: boolean): ReadySummary {
    const nodeCounts: Record<string, number> = {};
    for (const node of report.nodes) nodeCounts[node.status] = (nodeCounts[node.status] ?? 0) + 1;
    const tried = report.central.centrals.length;
    return {
      status: report.centralConnected ? 'ready' : 'waiting for central',
      ...(report.centralConnected
        ? {}
        : {
            reason: details
              ? (report.central.reason ?? 'no central answers')
              : `no central answers (${tried} tried)`,
          }),
      routableNodes: report.nodes.filter((n) => n.status === 'ONLINE' && n.schema.state === 'ok')
        .length,
      nodeCounts,
    };
  }

  return async (req, res, path) => {
    const isReady = path === '/ready';
    if (!isReady && !(path === '/metrics' && req.method === 'GET')) return false;
    let details: boolean;
    try {
      details = await maySeeDetails(req);
    } catch (error) {
      if (!(error instanceof GraphQLError)) throw error;
      const code = String(error.extensions['code']);
      const status = code in errorCodes ? errorCodes[code as ErrorCode].http : 401;
      sendJson(res, status, { errors: [{ message: error.message, extensions: { code } }] });
      return true;
    }
    if (isReady) {
      const report = options.routing();
      sendJson(res, report.centralConnected ? 200 : 503, {
        ...summary(report, details),
        ...(details
          ? {
              centrals: report.central.centrals,
              subscriptions: options.subscriptions(),
              nodes: report.nodes,
            }
          : {}),
      });
      return true;
    }
    const { contentType, body } = await options.metrics.text(details);
    res.writeHead(200, { 'content-type': contentType }).end(body);
    return true;
  };
}
