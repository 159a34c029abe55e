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
import { LRUCache } from 'lru-cache';
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

interface Question {
  readonly roomId: string;
  readonly userId: string;
}

export class MembershipCache {
  readonly #client: Pick<CentralClient, 'membership'>;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #maxEntries: number;
  /** Answers being asked (shared by concurrent callers) and positive ones within `ttlMs`. */
  readonly #entries: LRUCache<string, MembershipResponse, Question>;
  readonly #staleMs: number;
  /** The last positive answer central gave per room and user, for when it is unreachable. */
  readonly #known = new Map<string, Known>();
  /** Counts the removals central told of (`forget`): an answer asked before one is not kept. */
  #removals = 0;

  constructor(options: MembershipCacheOptions) {
    this.#staleMs = options.staleMs ?? 300_000;
    this.#client = options.client;
    this.#ttlMs = options.ttlMs ?? 5000;
    this.#now = options.now ?? Date.now;
    this.#maxEntries = options.maxEntries ?? 10_000;
    this.#entries = new LRUCache<string, MembershipResponse, Question>({
      max: this.#maxEntries,
      ttl: Math.max(1, this.#ttlMs),
      // Timed by the injected clock, read afresh every time (no 1 ms reuse of a reading).
      perf: { now: () => this.#now() },
      ttlResolution: 0,
      // A clear() while a question is in flight still answers its callers.
      ignoreFetchAbort: true,
      fetchMethod: (key, _stale, { context }) => this.#ask(key, context.roomId, context.userId),
    });
  }

  async check(roomId: string, userId: string): Promise<MembershipResponse> {
    const key = `${roomId}\n${userId}`;
    const asked = this.#removals;
    const answer = await this.#entries.fetch(key, { context: { roomId, userId } });
    if (answer === undefined) throw new Error(`membership question for ${key} was abandoned`);
    // Only positive answers are kept: a refusal is asked again, so a new member posts at once.
    // Nor one asked before a removal central told of since: central may have read it before.
    const outdated = asked !== this.#removals;
    if ((!answer.member || this.#ttlMs <= 0 || outdated) && this.#entries.peek(key) === answer) {
      this.#entries.delete(key);
    }
    this.#pruneKnown();
    return answer;
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
    const asked = this.#removals;
    try {
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

  #pruneKnown(): void {
    if (this.#known.size <= this.#maxEntries) return;
    const now = this.#now();
    for (const [key, known] of this.#known)
      if (now - known.at > this.#staleMs) this.#known.delete(key);
    while (this.#known.size > this.#maxEntries) {
      const oldest = this.#known.keys().next();
      if (oldest.done) break;
      this.#known.delete(oldest.value);
    }
  }
}
