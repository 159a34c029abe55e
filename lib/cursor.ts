// Page cursors of `Room.messages`. Opaque to clients (base64url), but simply the message id
// inside: ids are UUIDv7, so "after this cursor" is "id greater than this id", which stays valid
// when messages arrive by sync or are deleted (tombstones keep their place).
import { appError } from '../../lib/errors.ts';

const PREFIX = 'msg:';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function encodeCursor(messageId: string): string {
  return Buffer.from(PREFIX + messageId, 'utf8').toString('base64url');
}

/** The message id in a cursor; BAD_USER_INPUT naming the argument when it is not one of ours. */
export function decodeCursor(cursor: string, argument: string): string {
  const text = /^[A-Za-z0-9_-]{1,100}$/.test(cursor)
    ? Buffer.from(cursor, 'base64url').toString('utf8')
    : '';
  const id = text.startsWith(PREFIX) ? text.slice(PREFIX.length) : '';
  if (!UUID.test(id))
    throw appError('BAD_USER_INPUT', `${argument} is not a cursor returned by Room.messages`);
  return id;
}
