// Retry-safe posts (docs/api.md, Retry-safe writes). A post that carries a `clientMessageId` gets
// a message id derived from (sender, room, key) alone, so every node that is asked to post it
// picks the SAME id without asking anyone: a retry on the node that holds it finds it, and two
// nodes that both stored it (the answer of the first was lost, the retry went to a replica) hold
// two versions of one message, which sync reduces to one like any concurrent edit.
//
// The key must be a UUIDv7 the client made when the user pressed send: message ids sort by
// creation time (cursors, `messageAdded(after:)` and the gateway's merge rely on it), and a
// derived id can only keep that order if the time comes from the request too. The derived id is
// itself a UUIDv7: the key's millisecond timestamp, then bits of SHA-256(sender, room, key).
import { createHash } from 'node:crypto';
import { appError } from '../../lib/errors.ts';
import { UUID_V7 } from '../../lib/ids.ts';

/**
 * How old a key's time may be when a node that does not hold its message yet is asked to post
 * it: a message posted with an older time would land behind messages clients have already paged
 * past. Retries come within seconds or minutes; a later one must use a new key.
 */
export const MAX_KEY_AGE_MS = 10 * 60_000;
/** How far ahead of this node's clock a key's time may be (clients' clocks drift). */
export const MAX_KEY_AHEAD_MS = 60_000;

/** The key as given, lowercased; BAD_USER_INPUT unless it is a UUIDv7. */
export function parseClientMessageId(raw: string): string {
  if (!UUID_V7.test(raw)) {
    throw appError(
      'BAD_USER_INPUT',
      `clientMessageId must be a UUIDv7 (36 characters, hex digits and dashes, version 7) made once per message by the client, got ${JSON.stringify(raw.slice(0, 64))}`,
    );
  }
  return raw.toLowerCase();
}

/** Epoch milliseconds in a UUIDv7's first 48 bits. */
export function keyTime(key: string): number {
  return Number.parseInt(key.slice(0, 8) + key.slice(9, 13), 16);
}

/** BAD_USER_INPUT when a new message may not take the key's time (see MAX_KEY_AGE_MS). */
export function requireFreshKey(key: string, now: number): void {
  const at = keyTime(key);
  if (at > now + MAX_KEY_AHEAD_MS) {
    throw appError(
      'BAD_USER_INPUT',
      `clientMessageId's time ${new Date(at).toISOString()} is ahead of this node's clock by more than ${MAX_KEY_AHEAD_MS} ms: check the client's clock`,
    );
  }
  if (at < now - MAX_KEY_AGE_MS) {
    throw appError(
      'BAD_USER_INPUT',
      `clientMessageId's time ${new Date(at).toISOString()} is more than ${MAX_KEY_AGE_MS / 60_000} minutes old and no message with it is here: post with a new key (look first whether the message arrived)`,
    );
  }
}

/** The message id every node derives for this sender, room and key: a UUIDv7. */
export function messageIdFor(senderId: string, roomId: string, key: string): string {
  const hash = createHash('sha256')
    .update(`switchboard/clientMessageId\0${senderId}\0${roomId}\0${key}`)
    .digest('hex');
  const time = key.slice(0, 8) + key.slice(9, 13);
  // Version 7, then 12 hash bits; variant 10, then 62 hash bits.
  const variant = ((Number.parseInt(hash.charAt(3), 16) & 0x3) | 0x8).toString(16);
  return [
    time.slice(0, 8),
    time.slice(8, 12),
    `7${hash.slice(0, 3)}`,
    `${variant}${hash.slice(4, 7)}`,
    hash.slice(7, 19),
  ].join('-');
}
