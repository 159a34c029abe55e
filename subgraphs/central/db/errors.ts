// Postgres error classification that works on both drivers (pg and PGlite put the SQLSTATE in
// `code`; drizzle wraps them in an error whose `cause` is the driver's).
export function isUniqueViolation(error: unknown): boolean {
  for (
    let e: unknown = error;
    e instanceof Error || (typeof e === 'object' && e !== null);
    e = (e as { cause?: unknown }).cause
  ) {
    if ((e as { code?: unknown }).code === '23505') return true;
    if (!('cause' in e)) break;
  }
  return false;
}
