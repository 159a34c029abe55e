// Postgres error classification that works on both drivers (pg and PGlite put the SQLSTATE in
// `code`; drizzle wraps them in an error whose `cause` is the driver's).
function hasSqlState(error: unknown, states: ReadonlySet<string>): boolean {
  for (
    let e: unknown = error;
    e instanceof Error || (typeof e === 'object' && e !== null);
    e = (e as { cause?: unknown }).cause
  ) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && states.has(code)) return true;
    if (!('cause' in e)) break;
  }
  return false;
}

const UNIQUE_VIOLATION = new Set(['23505']);
// deadlock_detected and serialization_failure: the transaction did nothing and may run again.
const RETRYABLE = new Set(['40P01', '40001']);

export function isUniqueViolation(error: unknown): boolean {
  return hasSqlState(error, UNIQUE_VIOLATION);
}

/** PostgreSQL rolled the transaction back to break a deadlock or a serialization conflict. */
export function isRetryableConflict(error: unknown): boolean {
  return hasSqlState(error, RETRYABLE);
}
