// Checks the X-Node-API-Key a peer presents to this node's sync feed. Nodes never see each
// other's keys: central, which keeps their hashes, answers whether a key is valid and whose it is.
// Positive answers are reused for `cacheMs` so a session of many batches costs one round trip;
// a rotated or revoked key therefore keeps working here for at most `cacheMs`. Refusals and
// failures to reach central are never cached as success: the next request asks again.
import { hashApiKey } from '../../../lib/nodeKeys.ts';
import type { VerifiedNode } from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';

export interface PeerAuthOptions {
  readonly central: Pick<CentralClient, 'verifyNodeKey'>;
  /** How long a key central confirmed is trusted without asking again. @default 5000 */
  readonly cacheMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
}

export interface PeerAuth {
  /**
   * The node the key belongs to, or null when central says it is not a valid key. Throws
   * CentralUnavailableError when central cannot answer.
   */
  verify(apiKey: string): Promise<VerifiedNode | null>;
  /**
   * Drops the cached answer for this key, so the next `verify` asks central: a peer asking for a
   * room created after its key was cached gets a fresh room list rather than a refusal.
   */
  forget(apiKey: string): void;
}

const MAX_CACHED = 1000;

export function createPeerAuth(options: PeerAuthOptions): PeerAuth {
  const cacheMs = options.cacheMs ?? 5000;
  const now = options.now ?? Date.now;
  // Keyed by the key's hash: the cache never holds a usable secret.
  const cache = new Map<string, { node: VerifiedNode; until: number }>();
  // Concurrent requests with the same key (parallel batches, several sessions) share one call.
  const pending = new Map<string, Promise<VerifiedNode | null>>();

  return {
    forget(apiKey) {
      cache.delete(hashApiKey(apiKey));
    },
    async verify(apiKey) {
      const hash = hashApiKey(apiKey);
      const cached = cache.get(hash);
      if (cached && cached.until > now()) return cached.node;
      cache.delete(hash);
      let answer = pending.get(hash);
      if (!answer) {
        answer = options.central.verifyNodeKey(apiKey).then((node) => {
          if (node) {
            if (cache.size >= MAX_CACHED) cache.clear();
            cache.set(hash, { node, until: now() + cacheMs });
          }
          return node;
        });
        pending.set(hash, answer);
        void answer.then(
          () => pending.delete(hash),
          () => pending.delete(hash),
        );
      }
      return answer;
    },
  };
}
