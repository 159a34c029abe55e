// Argument checks for the node's operations. Each returns the normalized value or throws an error
// with its code (BAD_USER_INPUT, PAYLOAD_TOO_LARGE) naming the argument and the rule, before
// anything is read from central or written.
import { appError } from '../../lib/errors.ts';
import { illFormedContent } from './content.ts';
import { UUID } from '../../lib/ids.ts';

/** Message ids are UUIDv7 made by nodes; user, room and node ids are UUIDs made by central. */
export function id(raw: string, what: string): string {
  if (!UUID.test(raw))
    throw appError(
      'BAD_USER_INPUT',
      `${what} is not a valid id: ${JSON.stringify(raw.slice(0, 64))}`,
    );
  return raw.toLowerCase();
}

/**
 * Non-blank, well-formed Unicode (no lone UTF-16 surrogate: it has no UTF-8 form to store and
 * hash), at most `maxChars` characters (Unicode code points, not UTF-16 units).
 */
export function content(raw: string, maxChars: number): string {
  if (raw.trim() === '') throw appError('BAD_USER_INPUT', 'content must not be empty');
  const illFormed = illFormedContent(raw);
  if (illFormed !== undefined) throw appError('BAD_USER_INPUT', illFormed);
  // Cheap bound first: a string has at least length/2 code points.
  const chars = raw.length > maxChars * 2 ? raw.length : [...raw].length;
  if (chars > maxChars) {
    throw appError(
      'PAYLOAD_TOO_LARGE',
      `content must be at most ${maxChars} characters, got ${chars}`,
      {
        extensions: { maxChars },
      },
    );
  }
  return raw;
}

export function pageSize(raw: number, what: string, max: number): number {
  if (!Number.isInteger(raw) || raw < 0 || raw > max) {
    throw appError('BAD_USER_INPUT', `${what} must be between 0 and ${max}, got ${raw}`);
  }
  return raw;
}
