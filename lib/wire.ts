// Reading a wire shape with its zod schema (lib/syncProtocol.ts, lib/gatewayProtocol.ts): the
// first fault becomes one line that names its place (`job.roomIds[2]: expected a non-empty
// string`), as an operator reads it in a log or an error body.
import { z } from 'zod';

export class WireShapeError extends Error {
  override readonly name = 'WireShapeError';
}

/** `root.field[2].inner: message` for the first issue; just the message at the root. */
export function describeIssue(issue: z.core.$ZodIssue, root = ''): string {
  let at = root;
  for (const key of issue.path) {
    at =
      typeof key === 'number' ? `${at}[${key}]` : at === '' ? String(key) : `${at}.${String(key)}`;
  }
  return at === '' ? issue.message : `${at}: ${issue.message}`;
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
