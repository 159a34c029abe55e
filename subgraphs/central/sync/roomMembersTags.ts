// Tags on central's answers to a node's periodic membership refresh (AuthorityQuery with
// `roomMembers`, every --sync-membership-refresh-ms per node): when nothing the answer depends on
// changed since the node's last full answer, central says so without reading anything (#15). The
// refresh's queries (room rows, nodes, the histories' json_agg) were central's largest cost that grew
// with the number of nodes at a fixed load.
//
// A tag names this central process, its generation when the full answer's reads began, when that
// was, and the asked rooms. The generation is bumped by every event that may change such an answer
// (memberships and rooms: roomChanged; placement and the set of nodes: nodeChanged,
// nodeStatusChanged), whichever central published it, since every central hears every event. A tag
// matches only the central that issued it, at the same generation, for the same rooms, and for at
// most `maxAgeMs` after its full read. Events missed while this central's listener reconnected
// bump the generation too, once it is back (the bus's gap); an event that never arrives otherwise
// (a central dying between a commit and its publish) is worth at most `maxAgeMs` of staleness.
import { createHash, randomUUID } from 'node:crypto';
import type { EventBus } from '../events.ts';
import { MEMBERSHIP_WRITE_SLACK_MS } from '../membership.ts';

/** How long after its full read a tag still answers "unchanged": the bound if an event is lost. */
export const ROOM_MEMBERS_TAG_MAX_AGE_MS = 60_000;

/**
 * An event of another central reaches this one this soon after its commit (NOTIFY after commit):
 * an "unchanged" answer's asOf stays this far behind, besides the write slack.
 */
export const MEMBERSHIP_EVENT_SLACK_MS = 5_000;

export interface RoomMembersTagsOptions {
  /** @default ROOM_MEMBERS_TAG_MAX_AGE_MS */
  readonly maxAgeMs?: number;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

export class RoomMembersTags {
  /** Tags of another central (or of this one before a restart) never match. */
  readonly #instance = randomUUID();
  readonly #maxAgeMs: number;
  readonly #now: () => number;
  #generation = 0;
  readonly #unsubscribe: () => void;
  readonly #unsubscribeGap: () => void;

  constructor(events: EventBus, options: RoomMembersTagsOptions = {}) {
    this.#maxAgeMs = options.maxAgeMs ?? ROOM_MEMBERS_TAG_MAX_AGE_MS;
    this.#now = options.now ?? Date.now;
    this.#unsubscribe = events.subscribe((event) => {
      // Sessions and acknowledgements change no membership, room or node: the frequent ones.
      if (event.type !== 'syncSessionUpdated' && event.type !== 'noticeAcked')
        this.#generation += 1;
    });
    this.#unsubscribeGap = events.onGap(() => {
      this.#generation += 1;
    });
  }

  /**
   * Called before a full answer's reads: the tag for `roomIds` as they are now. An event during
   * the reads makes the tag stale at once, so a change the reads missed is never tagged as seen.
   */
  begin(roomIds: readonly string[]): string {
    return [this.#instance, this.#generation, this.#now(), digestOf(roomIds)].join('.');
  }

  /** Whether the node's answer tagged `tag` is still the answer for `roomIds`. */
  matches(tag: string, roomIds: readonly string[]): boolean {
    const [instance, generation, issuedAt, digest, ...rest] = tag.split('.');
    if (rest.length > 0 || instance !== this.#instance) return false;
    if (generation !== String(this.#generation) || digest !== digestOf(roomIds)) return false;
    const age = this.#now() - Number(issuedAt);
    return age >= 0 && age <= this.#maxAgeMs;
  }

  /** The asOf of an "unchanged" answer: what the events this central heard vouch for. */
  unchangedAsOf(): number {
    return this.#now() - MEMBERSHIP_WRITE_SLACK_MS - MEMBERSHIP_EVENT_SLACK_MS;
  }

  close(): void {
    this.#unsubscribe();
    this.#unsubscribeGap();
  }
}

function digestOf(roomIds: readonly string[]): string {
  const rooms = [...new Set(roomIds)].sort().join('\n');
  return createHash('sha256').update(rooms, 'utf8').digest('base64url').slice(0, 22);
}
