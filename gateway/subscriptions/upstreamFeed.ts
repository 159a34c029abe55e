// One upstream subscription: a graphql-ws client of its own on one subgraph instance, one
// operation. It does not reconnect by itself: the topic that owns it decides where to go next
// (another storage node, the same one from a cursor) when it ends.
import type { Client, createClient } from 'graphql-ws';
import type WebSocket from 'ws';

interface ClientLibraries {
  readonly createClient: typeof createClient;
  readonly WebSocket: typeof WebSocket;
}

let clientLibraries: Promise<ClientLibraries> | undefined;

/**
 * graphql-ws's client and ws, loaded with the first feed rather than at start: most gateways
 * (most tests') never open one, and loading them cost each start about 50 ms of CPU (issue 18).
 */
function loadClientLibraries(): Promise<ClientLibraries> {
  clientLibraries ??= Promise.all([import('graphql-ws'), import('ws')]).then(([client, ws]) => ({
    createClient: client.createClient,
    WebSocket: ws.default,
  }));
  return clientLibraries;
}

export interface UpstreamFeedOptions {
  /** The subgraph's base URL; the feed connects to `${url}/graphql` over WebSocket. */
  readonly url: string;
  /**
   * The connection's credentials, made when the socket opens (a node's assertion lives 60 s):
   * the gateway secret and the user's token for central, an assertion for a node.
   */
  readonly connectionParams: () => Promise<Record<string, unknown>>;
  readonly query: string;
  readonly variables: Record<string, unknown>;
  /** Each event's payload (`data`), in upstream order. */
  readonly onData: (data: Record<string, unknown>) => void;
  /**
   * Once, when the feed ends for any reason but `close()`: `error` says why, `connected` whether
   * the subgraph had accepted the connection (connection_ack) before.
   */
  readonly onEnd: (error: Error, connected: boolean) => void;
  /** When the subgraph accepts the connection (connection_ack): the feed is live. */
  readonly onConnected?: () => void;
}

export interface UpstreamFeed {
  readonly url: string;
  /** Whether the subgraph accepted the connection (connection_ack) and the feed has not ended. */
  readonly live: boolean;
  close(): void;
}

function describe(error: unknown): Error {
  if (error instanceof Error) return error;
  if (Array.isArray(error)) {
    const first = error[0] as { message?: string; extensions?: { code?: string } } | undefined;
    const failure = new Error(first?.message ?? 'upstream refused the subscription');
    Object.assign(failure, { code: first?.extensions?.code });
    return failure;
  }
  const close = error as { code?: number; reason?: string; type?: string };
  if (close?.type === 'close' || typeof close?.code === 'number')
    return new Error(`connection closed (${close.code ?? '?'} ${close.reason ?? ''})`.trim());
  if ((error as { type?: string })?.type === 'error') return new Error('connection failed');
  return new Error(String(error));
}

export function openUpstreamFeed(options: UpstreamFeedOptions): UpstreamFeed {
  let ended = false;
  let connected = false;
  let client: Client | undefined;
  let unsubscribe: (() => void) | undefined;
  // graphql-ws's dispose waits for a connection in progress and rejects when that fails: a feed
  // closed while connecting to a server that is down must not leave an unhandled rejection.
  const dispose = () => {
    if (client) void Promise.resolve(client.dispose()).catch(() => {});
  };
  const end = (error: Error) => {
    if (ended) return;
    ended = true;
    dispose();
    options.onEnd(error, connected);
  };
  const subscribe = ({ createClient, WebSocket }: ClientLibraries) => {
    if (ended) return;
    client = createClient({
      url: options.url.replace(/^http/, 'ws') + '/graphql',
      webSocketImpl: WebSocket,
      connectionParams: options.connectionParams,
      retryAttempts: 0,
      lazy: true,
      lazyCloseTimeout: 0,
      on: {
        connected: () => {
          if (ended || connected) return;
          connected = true;
          options.onConnected?.();
        },
      },
    });
    unsubscribe = client.subscribe<Record<string, unknown>>(
      { query: options.query, variables: options.variables },
      {
        next: (result) => {
          if (ended) return;
          if (result.errors?.length) end(describe(result.errors));
          else if (result.data) options.onData(result.data);
        },
        error: (error) => end(describe(error)),
        complete: () => end(new Error('upstream completed the subscription')),
      },
    );
  };
  // Not loaded, or no client made of the URL: the feed ends with why, as when its socket fails.
  loadClientLibraries()
    .then(subscribe)
    .catch((error: unknown) => end(describe(error)));
  return {
    url: options.url,
    get live() {
      return connected && !ended;
    },
    close() {
      if (ended) return;
      ended = true;
      unsubscribe?.();
      dispose();
    },
  };
}
