// What every central resolver receives.
import type { IncomingMessage } from 'node:http';
import type { Logger } from '../../lib/log.ts';
import { appError } from '../../lib/errors.ts';
import { viewerFromAuthorization, type Viewer } from '../../lib/userAuth.ts';
import type { CentralDatabase } from './db/open.ts';
import type { EventBus } from './events.ts';
import type { HeartbeatBatch } from './heartbeatBatch.ts';
import { createLoaders, type Loaders } from './loaders.ts';
import type { SyncCoordinator } from './sync/coordinator.ts';
import type { LoginThrottle } from './loginThrottle.ts';
import type { NodeAuthenticator } from './nodeAuth.ts';
import type { RoomMembersTags } from './sync/roomMembersTags.ts';
import type { TokenSigner } from './tokens.ts';

/** Shared by every request: built once when central starts. */
export interface CentralServices {
  readonly db: CentralDatabase;
  readonly events: EventBus;
  readonly tokens: TokenSigner;
  readonly log: Logger;
  /** How often nodes are asked to heartbeat. */
  readonly heartbeatIntervalMs: number;
  /** Silence after which a node is marked OFFLINE. */
  readonly offlineAfterMs: number;
  /** How long a member's removal waits for the room's nodes to acknowledge it (nodeNotices.ts). */
  readonly membershipNoticeDeadlineMs: number;
  readonly sync: SyncCoordinator;
  readonly loginThrottle: LoginThrottle;
  /** Heartbeats that change nothing but the time and clock, written at the next liveness sweep. */
  readonly heartbeats: HeartbeatBatch;
  /** Nodes' keys, their rows kept briefly; forget a node here when changing its row's key or state. */
  readonly nodeAuth: NodeAuthenticator;
  /** Tags of the nodes' membership refreshes: an unchanged one is answered without reading. */
  readonly roomMembersTags: RoomMembersTags;
  /** SHA-256 (hex) of the gateway secret (it never leaves central); none without a secret. */
  readonly gatewaySecretDigest: string | undefined;
}

/** What the transport established about a request before any GraphQL runs. */
export interface RequestOrigin {
  /** The request carried the gateway secret: users' operations are only served through a gateway. */
  readonly fromGateway: boolean;
  /** The end client's address (from the gateway's header when trusted), for login throttling. */
  readonly clientAddress: string | undefined;
}

export interface CentralContext extends CentralServices {
  /** The user the request acts for, verified from its bearer token; null when anonymous. */
  readonly viewer: Viewer | null;
  readonly loaders: Loaders;
  readonly clientAddress: string | undefined;
}

export async function createContext(
  services: CentralServices,
  authorization: string | undefined,
  origin: RequestOrigin,
): Promise<CentralContext> {
  if (!origin.fromGateway) {
    // Checked before the token: a caller that bypasses the gateway learns nothing, not even
    // whether its token is valid.
    throw appError('UNAUTHENTICATED', 'central serves GraphQL only through a Switchboard gateway', {
      httpStatus: true,
    });
  }
  const claimed = await viewerFromAuthorization(authorization, services.tokens.keys);
  const loaders = createLoaders(services.db);
  let viewer: Viewer | null = null;
  if (claimed) {
    // The token proves who; the database says what they may do now (a role change or a deleted
    // user takes effect before the token expires).
    const row = await loaders.user.load(claimed.id);
    if (!row)
      throw appError('UNAUTHENTICATED', 'the token names a user that no longer exists', {
        httpStatus: true,
      });
    viewer = { id: row.id, username: row.username, role: row.role };
  }
  return { ...services, viewer, loaders, clientAddress: origin.clientAddress };
}

export function authorizationOf(req: IncomingMessage): string | undefined {
  return req.headers.authorization;
}

export function requireViewer(ctx: CentralContext): Viewer {
  if (!ctx.viewer)
    throw appError('UNAUTHENTICATED', 'log in first: this operation needs a bearer token');
  return ctx.viewer;
}

export function requireAdmin(ctx: CentralContext): Viewer {
  const viewer = requireViewer(ctx);
  if (viewer.role !== 'ADMIN') throw appError('FORBIDDEN', 'only an ADMIN may do this');
  return viewer;
}
