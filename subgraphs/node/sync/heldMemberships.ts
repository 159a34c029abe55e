// The membership histories and storage nodes of the rooms this node replicates, held so that a new
// message from a peer can be judged while central cannot be reached (writerRights.ts asks central
// first, and falls back on this only when central does not answer). Refreshed from central every
// `refreshMs` and whenever the set of rooms grows, in one AuthorityQuery (`roomMembers`) per 1000
// rooms. Each query sends back the tag of the last full answer for its rooms: central answers
// "unchanged" (a new asOf, nothing read) when no membership, room or node changed since, and the
// full histories at least once a minute all the same (central/sync/roomMembersTags.ts). What it
// vouches for while central is away:
// - a closed interval is history: it covers its times for good;
// - an open interval ("still a member" at central's `asOf`) covers message times up to `asOf` plus
//   central's margin plus `staleMs`, the same allowance the write path gives a member while central
//   is unreachable (membership.ts): a post an honest node took is applied by its peers too.
// Anything else (a user with no interval covering the time, an origin not among the held storage
// nodes, a room not held) is not decided here: the version waits for central, it is never refused
// on this word, since a join may have happened since the refresh.
import type { Logger } from '../../../lib/log.ts';
import { MAX_AUTHORITY_ROOMS, type MembershipInterval } from '../../../lib/syncProtocol.ts';
import type { AuthorityLookup } from './writerRights.ts';

/** Rooms per AuthorityQuery: as many as central takes. */
const ROOMS_PER_QUERY = MAX_AUTHORITY_ROOMS;

export interface HeldMembershipsOptions {
  readonly lookup: AuthorityLookup;
  /** Between refreshes. @default 10000 */
  readonly refreshMs?: number;
  /** How far past central's `asOf` (and margin) an open membership still counts. @default 300000 */
  readonly staleMs?: number;
  /** Milliseconds, for the age of a refresh only: monotonic. @default performance.now */
  readonly clock?: () => number;
  readonly log: Logger;
}

interface HeldRoom {
  readonly members: ReadonlyMap<string, readonly MembershipInterval[]>;
  readonly storage: ReadonlySet<string>;
  /** Central's `asOf` plus its margin: open intervals are certain up to here. */
  readonly certainUntil: number;
  /** `clock()` when central answered. */
  readonly fetchedAt: number;
  /** Central's tag on the full answer this came from: sent back, it may be answered "unchanged". */
  readonly tag: string | undefined;
}

/** A held room's word while fresh: its storage nodes, and whether a user was surely a member. */
export interface HeldRoomWord {
  readonly storage: ReadonlySet<string>;
  member(userId: string, at: number): boolean;
}

export class HeldMemberships {
  readonly #options: HeldMembershipsOptions;
  readonly #held = new Map<string, HeldRoom>();
  #rooms: readonly string[] = [];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  #failing = false;
  /** Counts membership changes central told of: a fetch begun before one is not kept. */
  #changes = 0;

  constructor(options: HeldMembershipsOptions) {
    this.#options = options;
  }

  /** The rooms to hold (the live peers' rooms): a room not held before is fetched at once. */
  hold(roomIds: Iterable<string>): void {
    const rooms = [...new Set(roomIds)].sort();
    const wanted = new Set(rooms);
    for (const room of this.#held.keys()) if (!wanted.has(room)) this.#held.delete(room);
    const grew = rooms.some((room) => !this.#held.has(room));
    this.#rooms = rooms;
    if (grew) void this.refresh();
    else this.#schedule();
  }

  /** Fetches every held room's memberships again; resolves when done (failures are logged). */
  refresh(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    clearTimeout(this.#timer);
    this.#running = this.#fetch().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        void this.refresh();
      } else {
        this.#schedule();
      }
    });
    return this.#running;
  }

  /**
   * Central told this node of a membership change in `roomId` (a member removed): what is held of
   * the room is no longer certain, so nothing is applied on its word until it is fetched again.
   */
  forgetRoom(roomId: string): void {
    this.#changes += 1;
    this.#held.delete(roomId);
    if (this.#rooms.includes(roomId)) void this.refresh();
  }

  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  /** The oldest held room's certain-until time (epoch ms, central's clock); NaN when none is held. */
  get certainUntil(): number {
    if (this.#rooms.length === 0) return Number.NaN;
    let oldest = Number.POSITIVE_INFINITY;
    for (const room of this.#rooms) {
      const held = this.#held.get(room);
      if (!held) return Number.NaN;
      oldest = Math.min(oldest, held.certainUntil);
    }
    return oldest;
  }

  /**
   * True when what is held makes the user a member at `at`, an open interval counting up to
   * central's asOf + margin + `extraMs` (default: the stale allowance, for when central does not
   * answer); undefined when it cannot say.
   */
  member(
    roomId: string,
    userId: string,
    at: number,
    extraMs = this.#options.staleMs ?? 300_000,
  ): true | undefined {
    const held = this.#held.get(roomId);
    const intervals = held?.members.get(userId);
    if (!held || !intervals) return undefined;
    const openUntil = held.certainUntil + extraMs;
    const covered = intervals.some(
      (interval) =>
        interval.from <= at && at <= (interval.until === null ? openUntil : interval.until),
    );
    return covered ? true : undefined;
  }

  /** The room's storage nodes at the last refresh, or undefined when the room is not held. */
  storage(roomId: string): ReadonlySet<string> | undefined {
    return this.#held.get(roomId)?.storage;
  }

  /**
   * Central's word on the room as fresh as a cached answer (at most `maxAgeMs` old), or
   * undefined: then it is worth exactly what asking central now would give, for times up to
   * its asOf + margin (writerRights.ts uses it so as not to ask).
   */
  fresh(roomId: string, maxAgeMs: number): HeldRoomWord | undefined {
    const held = this.#held.get(roomId);
    if (!held || this.#clock() - held.fetchedAt > maxAgeMs) return undefined;
    return {
      storage: held.storage,
      member: (userId, at) => this.member(roomId, userId, at, 0) === true,
    };
  }

  #clock(): number {
    return (this.#options.clock ?? (() => performance.now()))();
  }

  #schedule(): void {
    if (this.#closed || this.#running || this.#rooms.length === 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.refresh(), this.#options.refreshMs ?? 10_000);
    this.#timer.unref();
  }

  /** The tag every room of `chunk` was last fetched under, if they share one (one full answer). */
  #tagOf(chunk: readonly string[]): string | undefined {
    const tag = this.#held.get(chunk[0] ?? '')?.tag;
    if (tag === undefined) return undefined;
    return chunk.every((room) => this.#held.get(room)?.tag === tag) ? tag : undefined;
  }

  /** The rooms still held from the answer tagged `tag` are as fresh as a new one. */
  #renew(chunk: readonly string[], tag: string, certainUntil: number): void {
    const fetchedAt = this.#clock();
    for (const room of chunk) {
      const held = this.#held.get(room);
      // Forgotten or fetched anew since the query was sent: this answer does not speak for it.
      if (!held || held.tag !== tag) continue;
      this.#held.set(room, {
        ...held,
        certainUntil: Math.max(held.certainUntil, certainUntil),
        fetchedAt,
      });
    }
  }

  async #fetch(): Promise<void> {
    const rooms = this.#rooms;
    const changes = this.#changes;
    try {
      for (let i = 0; i < rooms.length && !this.#closed; i += ROOMS_PER_QUERY) {
        const chunk = rooms.slice(i, i + ROOMS_PER_QUERY);
        const tag = this.#tagOf(chunk);
        const answer = await this.#options.lookup({
          roomIds: chunk,
          senders: [],
          roomMembers: true,
          ...(tag === undefined ? {} : { roomMembersTag: tag }),
        });
        const { roomMemberships, asOf, marginMs } = answer;
        if (answer.roomMembershipsUnchanged === true) {
          // Central vouches for what it answered under `tag`, now up to the new asOf.
          if (tag === undefined || asOf === undefined || marginMs === undefined) return;
          if (changes !== this.#changes) return;
          this.#renew(chunk, tag, asOf + marginMs);
          continue;
        }
        // A central that predates `roomMembers` answers without: nothing is held then.
        if (!roomMemberships || asOf === undefined || marginMs === undefined) return;
        const members = new Map<string, Map<string, readonly MembershipInterval[]>>();
        for (const history of roomMemberships) {
          const room =
            members.get(history.roomId) ?? new Map<string, readonly MembershipInterval[]>();
          members.set(history.roomId, room);
          room.set(history.userId, history.intervals);
        }
        // Central may have read it before a removal it told of since: fetch again instead.
        if (changes !== this.#changes) return;
        const wanted = new Set(this.#rooms);
        const fetchedAt = this.#clock();
        for (const room of chunk) {
          if (!wanted.has(room)) continue;
          this.#held.set(room, {
            members: members.get(room) ?? new Map<string, readonly MembershipInterval[]>(),
            storage: new Set(answer.storageNodes[room] ?? []),
            certainUntil: asOf + marginMs,
            fetchedAt,
            tag: answer.roomMembersTag,
          });
        }
      }
      if (this.#failing) this.#options.log.info('room memberships are refreshed again');
      this.#failing = false;
    } catch (error) {
      if (!this.#failing) {
        this.#options.log.warn(
          `could not refresh the memberships of this node's rooms (the last ones are kept): ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      }
      this.#failing = true;
    }
  }
}
