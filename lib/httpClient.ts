// Requests from one of our processes to another (the gateway to central and to the nodes, a node
// to central and to its peers' feeds), through undici's request API on one keep-alive agent. The
// fetch API does the same on the same sockets, but its Request/Response objects, web streams and
// abort plumbing cost the gateway about a third of its CPU per federated query (bench/README.md,
// profile of `npm run bench -- gateway`), and a node's calls (heartbeats, reports, live streams'
// long polls) about a seventh of its CPU in the test suite's cluster files (#18).
import type { Dispatcher } from 'undici';
// Two of undici's files, not its index: the index loads all of undici (fetch, WebSocket,
// EventSource, caches, cookies, mocks: about 95 CommonJS modules) where an Agent and its request
// API are about a third of them, 0.05 s of CPU less at every gateway start (issue 18). Deep paths
// of the pinned 6.29.1, which has no "exports" map; tests/lib/httpClient.test.ts checks that the
// index stays unloaded. Imported (their types: lib/undiciFiles.d.ts), not required through
// createRequire: so esbuild puts them in the processes' bundle (scripts/bundle.ts) as well.
import Agent from 'undici/lib/dispatcher/agent.js';
import dispatchRequest from 'undici/lib/api/api-request.js';

/** undici's `request(url, { dispatcher: agent, ...options })`, as its index makes it. */
function request(
  url: string | URL,
  options: Omit<Dispatcher.RequestOptions, 'origin' | 'path'>,
): Promise<Dispatcher.ResponseData> {
  const target = new URL(url);
  return dispatchRequest.call(agent, {
    ...options,
    origin: target.origin,
    path: `${target.pathname}${target.search}`,
  });
}

export interface PostedResponse {
  readonly status: number;
  /** Lower-case header names, as undici gives them. */
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

/**
 * Idle sockets are kept for at most 4 s, and for less when the server says so in `Keep-Alive`
 * (Node's servers say 5 s): a request sent on a socket the server has just closed would fail.
 */
const agent = new Agent({ keepAliveTimeout: 4_000, keepAliveTimeoutThreshold: 1_000 });

/**
 * Sends `body` and reads the whole answer, whatever its status. The deadline covers connecting,
 * sending and reading; when it passes, the error's name is `TimeoutError` (as with
 * `AbortSignal.timeout`). Connection errors keep their `code` (e.g. ECONNREFUSED). `cancel`
 * abandons the request (a hedged read another node answered): the error's name is then
 * `AbortError`.
 */
export function postJson(
  url: string | URL,
  body: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
  cancel?: AbortSignal,
): Promise<PostedResponse> {
  return requestText(
    url,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
    },
    timeoutMs,
    cancel,
  );
}

/**
 * One request whose whole answer is read as text, whatever its status: `postJson`'s deadline,
 * cancelling and errors, for any method (a node's GETs of a peer's feed, its calls to central).
 */
export async function requestText(
  url: string | URL,
  init: {
    readonly method?: 'GET' | 'POST';
    readonly headers?: Readonly<Record<string, string>>;
    readonly body?: string;
  },
  timeoutMs: number,
  cancel?: AbortSignal,
): Promise<PostedResponse> {
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = cancel ? AbortSignal.any([deadline, cancel]) : deadline;
  try {
    const response = await request(url, {
      method: init.method ?? 'GET',
      ...(init.headers === undefined ? {} : { headers: init.headers }),
      ...(init.body === undefined ? {} : { body: init.body }),
      signal,
    });
    return {
      status: response.statusCode,
      headers: response.headers,
      body: await response.body.text(),
    };
  } catch (error) {
    if (cancel?.aborted && !deadline.aborted) {
      const cancelled = new Error('cancelled', { cause: error });
      cancelled.name = 'AbortError';
      throw cancelled;
    }
    if (deadline.aborted) {
      const timeout = new Error(`no answer within ${timeoutMs} ms`, { cause: error });
      timeout.name = 'TimeoutError';
      throw timeout;
    }
    throw error;
  }
}

/**
 * Whether `GET url` answers 2xx within `timeoutMs`: a cheap liveness probe (a node's `/health`).
 * Never throws.
 */
export async function answersOk(url: string | URL, timeoutMs: number): Promise<boolean> {
  try {
    const response = await request(url, {
      method: 'GET',
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body.dump();
    return response.statusCode >= 200 && response.statusCode < 300;
  } catch {
    return false;
  }
}

/** The first value of a header, as the fetch API's `headers.get` gives it. */
export function headerValue(headers: PostedResponse['headers'], name: string): string | null {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
