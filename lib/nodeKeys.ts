// Node API keys: 32 random bytes, url-safe; only their SHA-256 is ever stored.
import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

export const NODE_KEY_HEADER = 'x-node-api-key';

export function generateApiKey(): string {
  return `sbk_${randomBytes(32).toString('base64url')}`;
}

/**
 * Every request from a node is authenticated by it: the one-shot hash, ~4x cheaper than a Hash
 * object.
 */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** Constant-time comparison of two hex digests of equal length. */
export function sameDigest(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}
