// The heartbeats of nodes that are ONLINE already, written together. Such a heartbeat changes
// nothing but `last_seen_at` (and the clock the node measured), and each used to be its own UPDATE:
// with every node beating every 1.5 s, that was central's most frequent statement, and it grew
// with the number of nodes. They are kept here and written in ONE statement at the liveness
// sweep's next tick (a tenth of the OFFLINE threshold), just before the sweep reads `last_seen_at`
// (nodeLiveness.ts): central's cost per tick, whatever the number of nodes.
//
// Only a beat that changes nothing else waits: a node's first heartbeat, its comeback, a new URL
// and a clock crossing its bound are written (and told) when they arrive, as before.
import type { NodeRow } from './db/schema.ts';

/**
 * What a heartbeat writes: when the node was seen, and the clock it measured if it sent one (both
 * fields then; the offset is null until the node has measured it).
 */
export interface Seen {
  readonly lastSeenAt: Date;
  readonly clockOffsetMs?: number | null;
  readonly clockMaxDriftMs?: number;
}

export interface PendingBeat {
  /** The node's row as the heartbeat found it (before this beat). */
  readonly node: NodeRow;
  readonly seen: Seen;
}

export class HeartbeatBatch {
  readonly #pending = new Map<string, PendingBeat>();

  /**
   * Keeps the node's latest beat. An earlier one not written yet says nothing more, except its
   * clock when the latest has none (a heartbeat without the field leaves the last report as it was).
   */
  add(beat: PendingBeat): void {
    const earlier = this.#pending.get(beat.node.id);
    const clock =
      beat.seen.clockMaxDriftMs === undefined && earlier?.seen.clockMaxDriftMs !== undefined
        ? {
            clockOffsetMs: earlier.seen.clockOffsetMs ?? null,
            clockMaxDriftMs: earlier.seen.clockMaxDriftMs,
          }
        : {};
    this.#pending.set(beat.node.id, { node: beat.node, seen: { ...beat.seen, ...clock } });
  }

  /** The beats kept so far; forgets them. (Their rows are locked in id order by the write's SQL.) */
  take(): PendingBeat[] {
    const beats = [...this.#pending.values()];
    this.#pending.clear();
    return beats;
  }

  /** Puts back beats whose write failed, unless a newer beat of the node came meanwhile. */
  restore(beats: readonly PendingBeat[]): void {
    for (const beat of beats) if (!this.#pending.has(beat.node.id)) this.add(beat);
  }

  get size(): number {
    return this.#pending.size;
  }
}
