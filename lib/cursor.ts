// Page cursors of `Room.messages`. Opaque to clients (base64url), but simply the message id
// inside: ids are UUIDv7, so "after this cursor" is "id greater than this id", which stays valid
// when messages arrive by sync or are deleted (tombstones keep their place). Made by the nodes
// and by the gateway (a subscription resumed after a message id), read by the nodes.
import { appError } from './errors.ts';
import { LOWERCASE_UUID } from './ids.ts';

const PREFIX = 'msg:';

export function encodeCursor(messageId: string): string {
  return Buffer.from(PREFIX + messageId, 'utf8').toString('base64url');
}

/** The message id in a cursor; BAD_USER_INPUT naming the argument when it is not one of ours. */
export function decodeCursor(cursor: string, argument: string): string {
  const text = /^[A-Za-z0-9_-]{1,100}$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  const id = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : '';
  if (!LOWERCASE_UUID.test(id))
    throw appError('BAD_USER_INPUT', `${argument} is not a cursor returned by Room.messages`);
  return id;
}
