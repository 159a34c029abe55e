// What the gateway knows of each request: the caller, verified from their token, and the header
// to pass on to central, which verifies the caller again for itself. Nodes never get the token:
// they get an assertion naming the verified viewer (lib/gatewayAssertion.ts).
import { CLIENT_ADDRESS_HEADER } from '../lib/gatewayProtocol.ts';
import type { Viewer } from '../lib/userAuth.ts';

export interface GatewayContext {
  readonly viewer: Viewer | null;
  /** The client's `Authorization` header, forwarded to central (never to nodes). */
  readonly authorization: string | undefined;
  /** The client's address, passed to central for login throttling (HTTP requests only). */
  readonly clientAddress?: string | undefined;
  /** Set on the gateway's own operations (subscription events): query limits do not apply. */
  readonly internal?: boolean;
}

export function forwardedHeaders(context: GatewayContext | undefined): Record<string, string> {
  return {
    ...(context?.authorization ? { authorization: context.authorization } : {}),
    ...(context?.clientAddress ? { [CLIENT_ADDRESS_HEADER]: context.clientAddress } : {}),
  };
}
