// Which failures of an outgoing request prove that it never left this process: no connection was
// ever made, so the other side cannot have seen it. Only then may a request that must not be
// repeated (a mutation, a sync report) be sent to another server (a replica node, another central).

/**
 * Errors that say no connection was ever made: refused, no such host, no route, no answer to the
 * connection attempt itself. A reset or a close after the connection stood is not among them.
 */
const NOT_CONNECTED = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** The first `code` in the error's cause chain (fetch hides the socket's in `cause`). */
export function connectCode(error: unknown): string | undefined {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    if (e instanceof AggregateError) return connectCode(e.errors[0]);
  }
  return undefined;
}

/** True when the request provably never reached the server. */
export function neverConnected(error: unknown): boolean {
  const code = connectCode(error);
  return code !== undefined && NOT_CONNECTED.has(code);
}
