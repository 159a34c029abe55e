// Room membership, asked of central and cached briefly: a burst of posts to one room costs one
// request. Only "is a member" answers are kept (for `ttlMs`); a refusal is asked again next
// time, so a user who just joined a room can post at once. Concurrent identical questions share
// one request.
import type { CentralClient, MembershipResponse } from './centralClient.ts';

export interface MembershipCacheOptions {
  readonly client: Pick<CentralClient, 'membership'>;
  /** How long a positive answer is trusted. @default 5000 */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Entries kept at most; expired ones are dropped first. @default 10_000 */
  readonly maxEntries?: number;
}

interface Entry {
  readonly answer: Promise<MembershipResponse>;
  /** Until when a settled positive answer may be reused; Infinity while the request is in flight. */
  expiresAt: number;
}

export class MembershipCache {
  readonly #client: Pick<CentralClient, 'membership'>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();

  constructor(options: MembershipCacheOptions) {
    this.#client = options.client;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 10_000;
  }

  check(roomId: string, userId: string): Promise<MembershipResponse> {
    const key = `${roomId}\n${userId}`;
    const cached = this.#entries.get(key);
    if (cached && cached.expiresAt > this.#now()) return cached.answer;
    this.#entries.delete(key);
    const entry: Entry = { answer: this.#client.membership(roomId, userId), expiresAt: Infinity };
    this.#entries.set(key, entry);
    entry.answer.then(
      (answer) => {
        if (answer.member && this.#ttlMs > 0) entry.expiresAt = this.#now() + this.#ttlMs;
        else this.#forget(key, entry);
      },
      () => this.#forget(key, entry),
    );
    this.#prune();
    return entry.answer;
  }

  /** Drops every cached answer (e.g. when central reports membership changes). */
  clear(): void {
    this.#entries.clear();
  }

  #forget(key: string, entry: Entry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
  }

  #prune(): void {
    if (this.#entries.size <= this.#maxEntries) return;
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
    // Still full of fresh answers: drop the oldest (Map keeps insertion order).
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
