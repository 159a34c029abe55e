// JSON POSTs from one of our processes to another (the gateway to central and to the nodes),
// through undici's request API on one keep-alive agent. The fetch API does the same on the same
// sockets, but its Request/Response objects, web streams and abort plumbing cost the gateway about
// a third of its CPU per federated query (bench/README.md, profile of `npm run bench -- gateway`).
import { Agent, request } from 'undici';

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
 * `AbortSignal.timeout`). Connection errors keep their `code` (e.g. ECONNREFUSED).
 */
export async function postJson(
  url: string | URL,
  body: string,
  headers: Readonly<Record<string, string>>,
  timeoutMs: number,
): Promise<PostedResponse> {
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
      signal,
      dispatcher: agent,
    });
    return {
      status: response.statusCode,
      headers: response.headers,
      body: await response.body.text(),
    };
  } catch (error) {
    if (signal.aborted) {
      const timeout = new Error(`no answer within ${timeoutMs} ms`, { cause: error });
      timeout.name = 'TimeoutError';
      throw timeout;
    }
    throw error;
  }
}

/** The first value of a header, as the fetch API's `headers.get` gives it. */
export function headerValue(headers: PostedResponse['headers'], name: string): string | null {
  const value = headers[name.toLowerCase()];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(', ') : value;
}
