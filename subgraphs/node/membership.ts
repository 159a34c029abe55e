// Room membership, asked of central and cached briefly: a burst of posts to one room costs one
// request. Only "is a member" answers are kept (for `ttlMs`); a refusal is asked again next
// time, so a user who just joined a room can post at once. Concurrent identical questions share
// one request.
//
// Central down is not chat down: while central is unreachable, a positive answer central gave
// within the last `staleMs` still counts, so known members keep reading and writing. Anyone else
// is refused (the caller reports central unavailable). A removal reaches the node with central's
// next answer after `ttlMs`, and while central is down a member is trusted at most `staleMs`
// after central last said so. Central also tells the nodes storing a room when a member is
// removed (nodeNotices.ts): the answer is forgotten at once, so the removal takes effect on the
// user's next write, not after `ttlMs`.
import {
  CentralUnavailableError,
  type CentralClient,
  type MembershipResponse,
} from './centralClient.ts';

export interface MembershipCacheOptions {
  readonly client: Pick<CentralClient, 'membership'>;
  /** How long a positive answer is trusted. @default 5000 */
  readonly ttlMs?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** Entries kept at most; expired ones are dropped first. @default 10_000 */
  readonly maxEntries?: number;
  /** How long a positive answer still counts while central is unreachable. @default 300000 */
  readonly staleMs?: number;
}

interface Known {
  readonly answer: MembershipResponse;
  readonly at: number;
}

interface Entry {
  readonly answer: Promise<MembershipResponse>;
  /** Until when a settled positive answer may be reused; Infinity while the request is in flight. */
  expiresAt: number;
  /** `#removals` when it was asked: an answer asked before a removal is not kept. */
  readonly asked: number;
}

export class MembershipCache {
  readonly #client: Pick<CentralClient, 'membership'>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #maxEntries: number;
  readonly #entries = new Map<string, Entry>();
  readonly #staleMs: number;
  /** The last positive answer central gave per room and user, for when it is unreachable. */
  readonly #known = new Map<string, Known>();
  /** Counts the removals central told of (`forget`). */
  #removals = 0;

  constructor(options: MembershipCacheOptions) {
    this.#staleMs = options.staleMs ?? 300_000;
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
    const entry: Entry = {
      answer: this.#ask(key, roomId, userId),
      expiresAt: Infinity,
      asked: this.#removals,
    };
    this.#entries.set(key, entry);
    entry.answer.then(
      (answer) => {
        if (answer.member && this.#ttlMs > 0 && entry.asked === this.#removals)
          entry.expiresAt = this.#now() + this.#ttlMs;
        else this.#forget(key, entry);
      },
      () => this.#forget(key, entry),
    );
    this.#prune();
    return entry.answer;
  }

  /**
   * `userId` is no longer a member of `roomId` (central said so): its answer is dropped, and so is
   * any answer being asked for now, which central may have read before the removal.
   */
  forget(roomId: string, userId: string): void {
    this.#removals += 1;
    const key = `${roomId}\n${userId}`;
    this.#entries.delete(key);
    this.#known.delete(key);
  }

  /** Drops every cached answer (e.g. when central reports membership changes). */
  clear(): void {
    this.#entries.clear();
    this.#known.clear();
  }

  async #ask(key: string, roomId: string, userId: string): Promise<MembershipResponse> {
    try {
      const asked = this.#removals;
      const answer = await this.#client.membership(roomId, userId);
      if (answer.member && asked === this.#removals)
        this.#known.set(key, { answer, at: this.#now() });
      else this.#known.delete(key);
      return answer;
    } catch (error) {
      const known = this.#known.get(key);
      if (error instanceof CentralUnavailableError && known) {
        if (this.#now() - known.at <= this.#staleMs) return known.answer;
        this.#known.delete(key);
      }
      throw error;
    }
  }

  #forget(key: string, entry: Entry): void {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
  }

  #prune(): void {
    if (this.#entries.size <= this.#maxEntries && this.#known.size <= this.#maxEntries) return;
    const now = this.#now();
    for (const [key, entry] of this.#entries) if (entry.expiresAt <= now) this.#entries.delete(key);
    for (const [key, known] of this.#known)
      if (now - known.at > this.#staleMs) this.#known.delete(key);
    while (this.#known.size > this.#maxEntries) {
      const oldest = this.#known.keys().next();
      if (oldest.done) break;
      this.#known.delete(oldest.value);
    }
    // Still full of fresh answers: drop the oldest (Map keeps insertion order).
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#maxEntries) break;
      this.#entries.delete(key);
    }
  }
}
