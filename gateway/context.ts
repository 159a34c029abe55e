// What the gateway knows of each request: the caller, verified from their token, and the header
// to pass on so that every subgraph verifies the caller again for itself.
import type { Viewer } from '../lib/userAuth.ts';

export interface GatewayContext {
  readonly viewer: Viewer | null;
  /** The client's `Authorization` header, forwarded to subgraphs. */
  readonly authorization: string | undefined;
}

export function forwardedHeaders(context: GatewayContext | undefined): Record<string, string> {
  return context?.authorization ? { authorization: context.authorization } : {};
}
