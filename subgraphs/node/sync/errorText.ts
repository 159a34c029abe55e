// How sync's log lines and session errors quote a failure: shared by the sessions
// (pullSession.ts) and the live streams (liveReplicator.ts), which read the same peers' answers.

/** The message of an `errorBody` answer, or the start of whatever else came. */
export function errorMessage(text: string): string {
  try {
    const parsed = JSON.parse(text) as { errors?: Array<{ message?: unknown }> };
    const message = parsed.errors?.[0]?.message;
    if (typeof message === 'string') return message;
  } catch {
    // not JSON: shown as is
  }
  return text.slice(0, 200) || '(empty body)';
}

/** An error's message, with its cause's (fetch puts the socket's reason there). */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
}
