// Group commit of local writes: posts, edits and deletes that arrive within a few milliseconds of
// each other share one SQLite transaction, so one fsync (synchronous = FULL) pays for all of them
// instead of one each, the cost that bounds a node's posts/s. better-sqlite3 is synchronous, so
// nothing can arrive while a commit runs; what waits for the next commit is what arrives during
// the window opened by the first write of a group (and the requests that queued in the socket
// while the previous commit held the event loop). Each caller's promise settles only after the
// group's COMMIT, with its own outcome: a write that fails, fails alone (a savepoint each, see
// MessageStore.commitGroup).
import { appError } from '../../lib/errors.ts';
import type { MessageRow } from './db/schema.ts';
import type { LocalWrite, MessageStore, NewMessage } from './messageStore.ts';

/** Default window: long enough to gather the requests of a busy moment, short beside an fsync. */
export const DEFAULT_GROUP_COMMIT_MS = 2;
/**
 * Most writes in one transaction: the event loop is blocked while a group runs, so a flood is
 * committed in slices rather than in one long stall.
 */
export const MAX_GROUP_WRITES = 500;

export interface GroupCommitOptions {
  readonly store: MessageStore;
  /**
   * How long the first write of a group waits for others to join it; 0: no grouping, every
   * write commits in its own transaction at once. @default DEFAULT_GROUP_COMMIT_MS
   */
  readonly windowMs?: number;
  /** @default MAX_GROUP_WRITES */
  readonly maxWrites?: number;
}

export interface GroupCommitStats {
  /** Groups committed. */
  readonly groups: number;
  /** Writes in committed groups that succeeded. */
  readonly committed: number;
  /** Writes that failed, alone or with their whole group. */
  readonly failed: number;
  readonly largestGroup: number;
}

interface Queued {
  readonly write: LocalWrite;
  readonly resolve: (row: MessageRow) => void;
  readonly reject: (error: unknown) => void;
}

export class GroupCommit {
  readonly #store: MessageStore;
  readonly #windowMs: number;
  readonly #maxWrites: number;
  #queue: Queued[] = [];
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #stats: GroupCommitStats = { groups: 0, committed: 0, failed: 0, largestGroup: 0 };

  constructor(options: GroupCommitOptions) {
    this.#store = options.store;
    this.#windowMs = options.windowMs ?? DEFAULT_GROUP_COMMIT_MS;
    this.#maxWrites = options.maxWrites ?? MAX_GROUP_WRITES;
    if (!Number.isInteger(this.#windowMs) || this.#windowMs < 0)
      throw new RangeError(`windowMs must be an integer >= 0, got ${this.#windowMs}`);
    if (!Number.isInteger(this.#maxWrites) || this.#maxWrites < 1)
      throw new RangeError(`maxWrites must be an integer >= 1, got ${this.#maxWrites}`);
  }

  /** See MessageStore.post; resolves once the post has committed. */
  post(message: NewMessage): Promise<MessageRow> {
    return this.#submit({ kind: 'post', message });
  }

  /** See MessageStore.edit; resolves once the edit has committed. */
  edit(id: string, content: string): Promise<MessageRow> {
    return this.#submit({ kind: 'edit', id, content });
  }

  /** See MessageStore.delete; resolves once the delete has committed (or was a no-op). */
  delete(id: string): Promise<MessageRow> {
    return this.#submit({ kind: 'delete', id });
  }

  get stats(): GroupCommitStats {
    return this.#stats;
  }

  /** Writes waiting for their group's commit. */
  get pending(): number {
    return this.#queue.length;
  }

  /** Commits what is queued now, without waiting for the window to end. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const group = this.#queue;
    if (group.length === 0) return;
    this.#queue = [];
    let outcomes;
    try {
      outcomes = this.#store.commitGroup(group.map((queued) => queued.write));
    } catch (error) {
      this.#stats = { ...this.#stats, failed: this.#stats.failed + group.length };
      for (const queued of group) queued.reject(error);
      return;
    }
    let committed = 0;
    group.forEach((queued, i) => {
      const outcome = outcomes[i];
      if (outcome?.ok) {
        committed += 1;
        queued.resolve(outcome.row);
      } else {
        queued.reject(outcome ? outcome.error : new Error('write lost its outcome'));
      }
    });
    this.#stats = {
      groups: this.#stats.groups + 1,
      committed: this.#stats.committed + committed,
      failed: this.#stats.failed + group.length - committed,
      largestGroup: Math.max(this.#stats.largestGroup, group.length),
    };
  }

  /** Commits what is queued; later writes are refused (the node is stopping). */
  close(): void {
    this.#closed = true;
    this.flush();
  }

  #submit(write: LocalWrite): Promise<MessageRow> {
    if (this.#closed) return Promise.reject(appError('NODE_UNAVAILABLE', 'node is shutting down'));
    return new Promise<MessageRow>((resolve, reject) => {
      this.#queue.push({ write, resolve, reject });
      if (this.#windowMs === 0 || this.#queue.length >= this.#maxWrites) this.flush();
      else this.#timer ??= setTimeout(() => this.flush(), this.#windowMs);
    });
  }
}
