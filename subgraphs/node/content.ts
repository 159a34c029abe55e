// A message's content as it is stored, hashed and sent: well-formed Unicode only. A JS string may
// hold a lone UTF-16 surrogate (JSON "\ud800"), which has no UTF-8 form: SQLite would store its
// WTF-8 bytes and read them back as U+FFFD, while the hash was taken of another replacement, so
// the stored content would no longer match its contentHash and every peer would refuse it. Refusing
// such content at the door makes "the UTF-8 bytes accepted" one exact thing everywhere.
import { createHash } from 'node:crypto';

declare global {
  interface String {
    /** ES2024 (Node 20+): false when the string holds a lone UTF-16 surrogate. */
    isWellFormed(): boolean;
  }
}

/** Lowercase hex SHA-256 of the content's UTF-8 bytes: the message's contentHash. */
export function sha256Hex(content: string): string {
  return createHash('sha256').update(content, 'utf8').digest('hex');
}

/**
 * Why the content cannot be stored, or undefined when it can: names the first lone surrogate by
 * its position in characters (code points, counted from 1), as a client would count them.
 */
export function illFormedContent(content: string): string | undefined {
  if (content.isWellFormed()) return undefined;
  let character = 0;
  for (let i = 0; i < content.length; i += 1) {
    character += 1;
    const unit = content.charCodeAt(i);
    if (unit >= 0xd800 && unit <= 0xdbff) {
      const next = content.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        i += 1;
        continue;
      }
    } else if (unit < 0xdc00 || unit > 0xdfff) {
      continue;
    }
    const hex = unit.toString(16).padStart(4, '0');
    return `content is not valid Unicode: lone UTF-16 surrogate \\u${hex} at character ${character}`;
  }
  return undefined;
}
