// Reading a wire shape with its zod schema (lib/syncProtocol.ts, lib/gatewayProtocol.ts): the
// first fault becomes one line that names its place (`job.roomIds[2]: expected a non-empty
// string`), as an operator reads it in a log or an error body.
import { z } from 'zod';

export class WireShapeError extends Error {
  override readonly name = 'WireShapeError';
}

/** Where an issue lies: `root.field[2].inner`; '' at the root when there is no `root`. */
export function issuePlace(path: readonly PropertyKey[], root = ''): string {
  let at = root;
  for (const key of path) {
    at =
      typeof key === 'number' ? `${at}[${key}]` : at === '' ? String(key) : `${at}.${String(key)}`;
  }
  return at;
}

/** `root.field[2].inner: message` for the first issue; just the message at the root. */
export function describeIssue(issue: z.core.$ZodIssue, root = ''): string {
  const at = issuePlace(issue.path, root);
  return at === '' ? issue.message : `${at}: ${issue.message}`;
}

/**
 * `field[2].inner message` for the first issue, `whole message` at the root: how central's 400s
 * name a fault of a node's request (the schemas' messages read after the field). `depth` cuts the
 * place: 2 names an entry of a list as a whole (`senders[2] must be ...`).
 */
export function describeField(
  issue: z.core.$ZodIssue | undefined,
  whole: string,
  depth = Number.POSITIVE_INFINITY,
): string {
  if (issue === undefined) return `${whole} is invalid`;
  const place = issuePlace(issue.path.slice(0, depth));
  return `${place === '' ? whole : place} ${issue.message}`;
}

/** What a value is, for a message: null, an array, an object, or its typeof. */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

/** A value as a message shows what was received: a string quoted (cut at 80), else its kind. */
export function quoteValue(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return kindOf(value);
}

/** The value as `schema` reads it, or a WireShapeError naming the first fault under `root`. */
export function parseWire<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  throw new WireShapeError(first ? describeIssue(first, root) : 'invalid');
}

// Building blocks with the messages the hand-written checks used.

/** A non-empty string. */
export const nonEmptyString = z
  .string({ error: 'expected a non-empty string' })
  .min(1, { error: 'expected a non-empty string' });

/** An absolute http(s) URL. */
export const httpUrl = nonEmptyString.regex(/^https?:\/\//, { error: 'expected an http(s) URL' });

/** A safe non-negative integer (a count, a seq). */
export const count = z
  .number({ error: 'expected a non-negative integer' })
  .refine((n) => Number.isSafeInteger(n) && n >= 0, { error: 'expected a non-negative integer' });

/** Epoch milliseconds (a safe integer). */
export const epochMs = z
  .number({ error: 'expected epoch milliseconds' })
  .refine(Number.isSafeInteger, { error: 'expected epoch milliseconds' });

/** An object (not null, not an array) with the given fields; unknown fields are dropped. */
export function wireObject<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.object(shape, { error: 'expected an object' });
}
