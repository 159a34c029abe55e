// Whether a version's writer had the right to write it. A source is only trusted to pass on what
// others wrote, so each version is judged against facts the source cannot make up: the row this
// node already holds (a message's room, sender, origin node and creation time never change) and,
// for a message new here, central's word (its sender was a member of the room when it was made;
// its origin node stores the room). Central is asked at most once per batch, and only about
// what the batch needs and the session has not learnt yet.
import type { AuthorityAnswer, AuthorityQuery } from '../../../lib/syncProtocol.ts';
import type { NodeDb } from '../db/open.ts';
import type { HeldIdentity } from '../messageStore.ts';

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
 * Central's word on the senders of one batch's new messages: `room \n user \n at` -> was a
 * member then. Per batch, not per session: each message comes once per pass, so keeping the
 * answers would only grow with the session (a million entries for a million-message FULL sync).
 */
export type SendersWord = ReadonlyMap<string, boolean>;

/** One per session: the rooms' storage nodes central named stay known for the whole session. */
export class WriterRights {
  readonly #lookup: AuthorityLookup;
  readonly #held: (ids: string) => { id: string }[];
  /** roomId -> its storage nodes; an empty set for a room central does not know. */
  readonly #storage = new Map<string, ReadonlySet<string>>();

  constructor(db: NodeDb, lookup: AuthorityLookup) {
    this.#lookup = lookup;
    const statement = db.sqlite.prepare<[string], { id: string }>(
      'SELECT id FROM messages WHERE id IN (SELECT value FROM json_each(?))',
    );
    this.#held = (ids) => statement.all(ids);
  }

  /**
   * Learns from central what judging the batch's messages that are new here needs: one request
   * at most, none when none is new here and the session knows their rooms. Returns the senders'
   * answers, for `judge`; rejects as the lookup does.
   */
  async learn(versions: readonly WrittenVersion[]): Promise<SendersWord> {
    const members = new Map<string, boolean>();
    if (versions.length === 0) return members;
    const held = new Set(this.#held(JSON.stringify(versions.map((v) => v.id))).map((r) => r.id));
    const rooms = new Set<string>();
    const senders: { roomId: string; userId: string; at: number }[] = [];
    const asked = new Set<string>();
    for (const v of versions) {
      if (held.has(v.id)) continue;
      if (!this.#storage.has(v.roomId)) rooms.add(v.roomId);
      const key = memberKey(v.roomId, v.senderId, v.createdAt);
      if (asked.has(key)) continue;
      asked.add(key);
      senders.push({ roomId: v.roomId, userId: v.senderId, at: v.createdAt });
    }
    if (rooms.size === 0 && senders.length === 0) return members;
    const answer = await this.#lookup({ roomIds: [...rooms], senders });
    for (const room of rooms) this.#storage.set(room, new Set(answer.storageNodes[room] ?? []));
    senders.forEach((s, i) =>
      members.set(memberKey(s.roomId, s.userId, s.at), answer.senders[i] === true),
    );
    return members;
  }

  /**
   * Why the version may not be written here, or undefined when it may. `held` is the row this
   * node holds (read in the transaction that would write the version); a version of a message new
   * here needs `learn` to have seen it first (`senders` is what it returned), or
   * UnjudgedVersionError is thrown.
   */
  judge(
    version: WrittenVersion,
    held: HeldIdentity | undefined,
    senders: SendersWord,
  ): string | undefined {
    if (held) return changedIdentity(version, held);
    const storage = this.#storage.get(version.roomId);
    const member = senders.get(memberKey(version.roomId, version.senderId, version.createdAt));
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
  if (version.originNode !== held.originNode) {
    return `originNode: ${where} was first posted on ${held.originNode}; a version may not change it to ${version.originNode}`;
  }
  if (version.createdAt !== held.createdAt) {
    return `createdAt: ${where} was created at ${held.createdAt}; a version may not change it to ${version.createdAt}`;
  }
  return undefined;
}

function memberKey(roomId: string, userId: string, at: number): string {
  return `${roomId}\n${userId}\n${at}`;
}
