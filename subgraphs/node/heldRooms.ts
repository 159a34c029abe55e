// The rooms this node takes writes for, as central last said (lib/nodeNotices.ts): a node keeps
// taking writes only for rooms it holds and is not leaving, because a write it takes for any
// other room may never be pulled by the room's holders, and would be acknowledged and lost.
//
// Central pushes the set on the job stream (at connect, on every placement change) and, before it
// drains a leaving holder, pushes it with a fence id and waits for the acknowledgement. The set is
// applied synchronously and checked again inside each write's transaction (MessageStore's
// `acceptsWritesFor`), so once the node acknowledges, every write for a room it left either
// committed before (and the drain's pull, begun after, reads it) or is refused.
//
// A room missing from the set may be new (created or placed here a moment ago, its push not yet
// arrived): the node asks central for its current set before refusing. An answer is applied only
// if no push arrived while it was asked: a push is newer than any answer asked before it.
//
// The set is kept in the node's database, so a restart while central is down refuses what the
// node left and takes what it holds.
import { appError } from '../../lib/errors.ts';
import type { Logger } from '../../lib/log.ts';
import { readMeta, writeMeta } from './db/meta.ts';
import type { NodeQueryable } from './db/open.ts';

const META_HELD_ROOMS = 'held_rooms';

export interface HeldRoomsOptions {
  readonly db: NodeQueryable;
  /** Central's current set for this node (PLACEMENT_PATH); throws when central cannot answer. */
  readonly fetch: () => Promise<readonly string[]>;
  readonly log: Logger;
}

export class HeldRooms {
  readonly #db: NodeQueryable;
  readonly #fetch: () => Promise<readonly string[]>;
  readonly #log: Logger;
  /** undefined: central never told this node (a fresh data dir). */
  #rooms: Set<string> | undefined;
  /** Counts the sets applied: an answer asked for before a newer set arrived is stale. */
  #version = 0;
  #asking: Promise<void> | undefined;

  constructor(options: HeldRoomsOptions) {
    this.#db = options.db;
    this.#fetch = options.fetch;
    this.#log = options.log;
    const stored = readMeta(options.db, META_HELD_ROOMS);
    if (stored !== undefined) this.#rooms = new Set(JSON.parse(stored) as string[]);
  }

  /** Takes central's set; kept before this returns (the caller acknowledges after). */
  apply(rooms: readonly string[]): void {
    const next = new Set(rooms);
    const dropped = [...(this.#rooms ?? [])].filter((room) => !next.has(room));
    this.#rooms = next;
    this.#version += 1;
    writeMeta(this.#db, META_HELD_ROOMS, JSON.stringify([...next].sort()));
    if (dropped.length > 0)
      this.#log.info(`no longer taking writes for room(s) ${dropped.join(', ')}`);
  }

  /** Synchronous: what a write's transaction checks. */
  accepts(roomId: string): boolean {
    return this.#rooms?.has(roomId) ?? false;
  }

  /** ROOM_MOVED unless this node takes writes for `roomId` (asking central if it may be new). */
  async require(roomId: string): Promise<void> {
    if (this.accepts(roomId)) return;
    try {
      await (this.#asking ??= this.#ask().finally(() => (this.#asking = undefined)));
    } catch (error) {
      this.#log.debug(`asking central for this node's rooms failed: ${(error as Error).message}`);
    }
    if (!this.accepts(roomId)) throw roomMoved(roomId);
  }

  async #ask(): Promise<void> {
    const version = this.#version;
    const rooms = await this.#fetch();
    if (this.#version === version) this.apply(rooms);
  }
}

/** The refusal of a write for a room this node does not take writes for: nothing was written. */
export function roomMoved(roomId: string) {
  return appError(
    'ROOM_MOVED',
    `this node does not take writes for room ${roomId} (it does not hold it, or is leaving it); nothing was written: send it to one of the room's storage nodes`,
    { extensions: { roomId } },
  );
}
