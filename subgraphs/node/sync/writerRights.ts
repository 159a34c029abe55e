// Whether a version's writer had the right to write it. A source is only trusted to pass on what
// others wrote, so each version is judged against facts the source cannot make up: the row this
// node already holds (a message's room, sender, origin node and creation time never change) and,
// for a message new here, central's word (its sender was a member of the room when it was made;
// its origin node stores the room). Central's word is kept node-wide: each sender's membership
// history and each room's storage nodes, so that the messages that follow, replicated within
// milliseconds, are judged here without a round trip to central. Only what is certain is reused:
// a closed membership is history; an open one ("still a member") only for times central vouched
// for and for `trustMs`; anything else, and every refusal, is asked again, at most once a batch.
import { LRUCache } from 'lru-cache';
import type {
  AuthorityAnswer,
  AuthorityQuery,
  MembershipInterval,
} from '../../../lib/syncProtocol.ts';
import { CentralRefusedError } from '../centralClient.ts';
import type { NodeDb } from '../db/open.ts';
import type { HeldIdentity } from '../messageStore.ts';
import type { HeldMemberships } from './heldMemberships.ts';

/** Central's answer to an AuthorityQuery (SYNC_AUTHORITY_PATH); rejects when central cannot say. */
export type AuthorityLookup = (query: AuthorityQuery) => Promise<AuthorityAnswer>;

/** What judging a version reads of it; times are epoch milliseconds. */
export interface WrittenVersion {
  readonly id: string;
  readonly roomId: string;
  readonly senderId: string;
  readonly originNode: string;
  readonly createdAt: number;
}

/** A version could not be judged: central was not asked about it (it became new meanwhile). */
export class UnjudgedVersionError extends Error {
  override readonly name = 'UnjudgedVersionError';
}

/**
 * What judging one batch's new messages needs, from the cache or central, fixed when `learn`
 * returns it: the cache may move on while the batch applies, the batch's verdicts do not.
 */
export interface SendersWord {
  /** `room \n user \n at` -> was a member then. */
  readonly members: ReadonlyMap<string, boolean>;
  /** roomId -> its storage nodes; an empty set for a room central does not know. */
  readonly storage: ReadonlyMap<string, ReadonlySet<string>>;
}

export interface WriterRightsOptions {
  /**
   * How long after central said so an open membership, and a room's storage nodes, are trusted.
   * The same minute as central's clock margin (docs/SECURITY.md, "Sync versions"). @default 60000
   */
  readonly trustMs?: number;
  /** (room, user) histories kept, least recently used dropped first. @default 50000 */
  readonly maxHistories?: number;
  /** Rooms whose storage nodes are kept. @default 10000 */
  readonly maxRooms?: number;
  /** Milliseconds, for `trustMs` only: monotonic, so a clock step does not stretch trust. */
  readonly clock?: () => number;
  /** What this node holds of its rooms' memberships: the word while central does not answer. */
  readonly held?: HeldMemberships;
}

export const WRITER_TRUST_MS = 60_000;

interface KnownHistory {
  readonly intervals: readonly MembershipInterval[];
  /** An open interval covers message times up to here for sure (central's asOf + margin). */
  readonly openUntil: number;
  /** `clock()` when central was asked. */
  readonly askedAt: number;
}

interface KnownStorage {
  readonly nodes: ReadonlySet<string>;
  readonly askedAt: number;
}

const EMPTY_WORD: SendersWord = { members: new Map(), storage: new Map() };

/** One per node: every session's batches share what central said. */
export class WriterRights {
  readonly #lookup: AuthorityLookup;
  readonly #held: (ids: string) => { id: string; origin_node: string }[];
  readonly #trustMs: number;
  readonly #clock: () => number;
  readonly #histories: LRUCache<string, KnownHistory>;
  readonly #storage: LRUCache<string, KnownStorage>;
  readonly #heldRooms: HeldMemberships | undefined;

  constructor(db: NodeDb, lookup: AuthorityLookup, options: WriterRightsOptions = {}) {
    this.#lookup = lookup;
    this.#heldRooms = options.held;
    const statement = db.sqlite.prepare<[string], { id: string; origin_node: string }>(
      'SELECT id, origin_node FROM messages WHERE id IN (SELECT value FROM json_each(?))',
    );
    this.#held = (ids) => statement.all(ids);
    this.#trustMs = options.trustMs ?? WRITER_TRUST_MS;
    this.#clock = options.clock ?? (() => performance.now());
    this.#histories = new LRUCache({ max: options.maxHistories ?? 50_000 });
    this.#storage = new LRUCache({ max: options.maxRooms ?? 10_000 });
  }

  /**
   * Learns what judging the batch's messages that are new here needs: from what is kept, else
   * from central in one request at most (none when none is new here, or all is known). Returns
   * the batch's word, for `judge`; rejects as the lookup does.
   */
  async learn(versions: readonly WrittenVersion[]): Promise<SendersWord> {
    if (versions.length === 0) return EMPTY_WORD;
    const held = new Map(
      this.#held(JSON.stringify(versions.map((v) => v.id))).map((r) => [r.id, r.origin_node]),
    );
    const now = this.#clock();
    const members = new Map<string, boolean>();
    const storage = new Map<string, ReadonlySet<string>>();
    const rooms = new Set<string>();
    const senders: { roomId: string; userId: string; at: number }[] = [];
    /** The versions that need central's word: what the held memberships must settle without it. */
    const unsettled: WrittenVersion[] = [];
    for (const v of versions) {
      const heldOrigin = held.get(v.id);
      if (heldOrigin === v.originNode) continue;
      const known = this.#storage.get(v.roomId);
      // The room's memberships held and refreshed within the trust time are central's word too.
      const fresh = this.#heldRooms?.fresh(v.roomId, this.#trustMs);
      // A refusal is never taken from the cache: a node registered since may store the room.
      if (known && now - known.askedAt <= this.#trustMs && known.nodes.has(v.originNode)) {
        if (!rooms.has(v.roomId)) storage.set(v.roomId, known.nodes);
      } else if (fresh?.storage.has(v.originNode)) {
        if (!rooms.has(v.roomId)) storage.set(v.roomId, fresh.storage);
      } else {
        rooms.add(v.roomId);
        unsettled.push(v);
      }
      // Held with another origin (a retry-safe post made on two nodes): the sender's membership
      // was judged when the held copy came; only the other origin's right is new.
      if (heldOrigin !== undefined) continue;
      const key = memberKey(v.roomId, v.senderId, v.createdAt);
      if (members.has(key)) continue;
      if (
        this.#isKnownMember(v.roomId, v.senderId, v.createdAt, now) ||
        fresh?.member(v.senderId, v.createdAt) === true
      ) {
        members.set(key, true);
      } else {
        // Asked once: `false` marks it until the answer replaces it.
        members.set(key, false);
        senders.push({ roomId: v.roomId, userId: v.senderId, at: v.createdAt });
        if (unsettled.at(-1) !== v) unsettled.push(v);
      }
    }
    if (rooms.size === 0 && senders.length === 0) return { members, storage };
    let answer: AuthorityAnswer;
    try {
      answer = await this.#lookup({ roomIds: [...rooms], senders });
    } catch (error) {
      // Central refused the question itself: no held word stands in for that.
      if (error instanceof CentralRefusedError) throw error;
      const word = this.#heldWord(unsettled, rooms, members, storage);
      if (!word) throw error;
      return word;
    }
    for (const room of rooms) {
      const nodes = new Set(answer.storageNodes[room] ?? []);
      storage.set(room, nodes);
      this.#storage.set(room, { nodes, askedAt: now });
    }
    senders.forEach((s, i) =>
      members.set(memberKey(s.roomId, s.userId, s.at), answer.senders[i] === true),
    );
    const { memberships, asOf, marginMs } = answer;
    if (memberships && asOf !== undefined && marginMs !== undefined) {
      for (const history of memberships) {
        this.#histories.set(historyKey(history.roomId, history.userId), {
          intervals: history.intervals,
          openUntil: asOf + marginMs,
          askedAt: now,
        });
      }
    }
    return { members, storage };
  }

  /**
   * Central did not answer: the batch's word from the memberships held of this node's rooms, if
   * they settle every version that needed central (a member for sure, an origin among the held
   * storage nodes); otherwise undefined, and the batch waits for central. Never a refusal: a
   * refusal is central's to give.
   */
  #heldWord(
    unsettled: readonly WrittenVersion[],
    rooms: ReadonlySet<string>,
    members: Map<string, boolean>,
    storage: Map<string, ReadonlySet<string>>,
  ): SendersWord | undefined {
    const held = this.#heldRooms;
    if (!held) return undefined;
    for (const v of unsettled) {
      const nodes = held.storage(v.roomId);
      if (rooms.has(v.roomId) && !nodes?.has(v.originNode)) return undefined;
      const key = memberKey(v.roomId, v.senderId, v.createdAt);
      if (members.get(key) === false && !held.member(v.roomId, v.senderId, v.createdAt)) {
        return undefined;
      }
    }
    for (const v of unsettled) {
      const nodes = held.storage(v.roomId);
      if (rooms.has(v.roomId) && nodes) storage.set(v.roomId, nodes);
      const key = memberKey(v.roomId, v.senderId, v.createdAt);
      if (members.get(key) === false) members.set(key, true);
    }
    return { members, storage };
  }

  /**
   * Why the version may not be written here, or undefined when it may. `held` is the row this
   * node holds (read in the transaction that would write the version); a version of a message new
   * here needs `learn` to have seen it first (`word` is what it returned), or
   * UnjudgedVersionError is thrown.
   */
  judge(
    version: WrittenVersion,
    held: HeldIdentity | undefined,
    word: SendersWord,
  ): string | undefined {
    if (held) return changedIdentity(version, held) ?? otherOrigin(version, held, word);
    const storage = word.storage.get(version.roomId);
    const member = word.members.get(memberKey(version.roomId, version.senderId, version.createdAt));
    if (storage === undefined || member === undefined) {
      throw new UnjudgedVersionError(
        `message ${version.id} became new here while its batch was checked with central`,
      );
    }
    if (!storage.has(version.originNode)) {
      return storage.size === 0
        ? `roomId: central knows no storage node of room ${version.roomId}`
        : `originNode: node ${version.originNode} is not a storage node of room ${version.roomId}`;
    }
    if (!member) {
      return (
        `senderId: user ${version.senderId} was not a member of room ${version.roomId} ` +
        `at the message's createdAt (${new Date(version.createdAt).toISOString()})`
      );
    }
    return undefined;
  }

  /**
   * True when what central said earlier settles that the user was a member at `at`, so central
   * would say so now too: a closed interval never changes; an open one can only close after
   * central's `asOf`, and still covers the margin after that; history only grows. Anything else
   * (not known, not covered, trust run out) is central's to say.
   */
  #isKnownMember(roomId: string, userId: string, at: number, now: number): boolean {
    const known = this.#histories.get(historyKey(roomId, userId));
    if (!known) return false;
    const trusted = now - known.askedAt <= this.#trustMs;
    return known.intervals.some(
      (interval) =>
        interval.from <= at &&
        (interval.until === null ? trusted && at <= known.openUntil : at <= interval.until),
    );
  }
}

/** A message keeps its room, sender, origin and creation time for life: a version may not move them. */
function changedIdentity(version: WrittenVersion, held: HeldIdentity): string | undefined {
  const where = `message ${version.id}`;
  if (version.roomId !== held.roomId) {
    return `roomId: ${where} is in room ${held.roomId} here; a version may not move it to ${version.roomId}`;
  }
  if (version.senderId !== held.senderId) {
    return `senderId: ${where} was sent by ${held.senderId}; a version may not change it to ${version.senderId}`;
  }
  if (version.createdAt !== held.createdAt) {
    return `createdAt: ${where} was created at ${held.createdAt}; a version may not change it to ${version.createdAt}`;
  }
  return undefined;
}

/**
 * A version of a held message with another origin node: a post made retry-safe
 * (clientMessageId.ts) that two nodes both made, the same id, sender, room and createdAt. Taken
 * when that origin stores the room too, as for a message new here; the versions' clocks decide
 * which one both nodes keep.
 */
function otherOrigin(
  version: WrittenVersion,
  held: HeldIdentity,
  word: SendersWord,
): string | undefined {
  if (version.originNode === held.originNode) return undefined;
  const storage = word.storage.get(version.roomId);
  if (storage === undefined) {
    throw new UnjudgedVersionError(
      `message ${version.id} changed here while its batch was checked with central`,
    );
  }
  if (!storage.has(version.originNode)) {
    return `originNode: message ${version.id} was first posted on ${held.originNode} here, and node ${version.originNode} is not a storage node of room ${version.roomId}`;
  }
  return undefined;
}

function memberKey(roomId: string, userId: string, at: number): string {
  return `${roomId}\n${userId}\n${at}`;
}

function historyKey(roomId: string, userId: string): string {
  return `${roomId}\n${userId}`;
}
