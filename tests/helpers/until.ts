// Waiting in tests on a state that no event announces (a session's end, rows on a node): `read`
// again and again (vi.waitFor) until `check` holds. Test files share this one instead of each
// writing its own loop.
import { vi } from 'vitest';

/**
 * Reads until `check` holds and returns the value that passed; after `timeoutMs` fails with the
 * last value read (or the last error `read` threw).
 */
export function until<T>(
  read: () => Promise<T> | T,
  check: (value: T) => boolean,
  what = 'a condition',
  timeoutMs = 60_000,
): Promise<T> {
  return vi.waitFor(
    async () => {
      const value = await read();
      if (!check(value))
        throw new Error(
          `timed out waiting for ${what}; last: ${JSON.stringify(value)?.slice(0, 2000)}`,
        );
      return value;
    },
    { timeout: timeoutMs, interval: 50 },
  );
}
