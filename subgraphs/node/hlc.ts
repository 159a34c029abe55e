// Hybrid Logical Clock (Kulkarni et al., "Logical Physical Clocks", 2014). Every version of a
// message carries one; when two versions of a message meet, the greater HLC wins. Unlike the wall
// clock it never runs backwards, and unlike a Lamport clock it stays close to real time, so a
// version written after another one (as far as any node could tell) always wins.
//
// Encoded as `PPPPPPPPPPPPPPP:LLLLLLLL:NODE` (physical milliseconds, 15 digits; logical counter,
// 8 digits; the id of the node that made the version). The widths are fixed, so comparing two
// encoded values as plain strings orders them by (physical, logical, node): the node id is the
// final tie-break, and SQLite can `ORDER BY hlc` without decoding anything.

const PHYSICAL_DIGITS = 15;
const LOGICAL_DIGITS = 8;
const MAX_PHYSICAL = 10 ** PHYSICAL_DIGITS - 1;
const MAX_LOGICAL = 10 ** LOGICAL_DIGITS - 1;
const ENCODED = /^(\d{15}):(\d{8}):(.+)$/s;

export interface HlcTimestamp {
  /** Milliseconds since the epoch: the greatest wall-clock reading seen by the clock. */
  readonly physical: number;
  /** Orders events within the same `physical` millisecond. */
  readonly logical: number;
  /** The node that made the timestamp: the tie-break between equal (physical, logical). */
  readonly node: string;
}

export class HlcError extends Error {
  override readonly name = 'HlcError';
}

/** A remote clock too far ahead of ours: accepting it would drag every later write into the future. */
export class HlcDriftError extends HlcError {
  constructor(
    readonly remote: HlcTimestamp,
    readonly wallClock: number,
    readonly maxDriftMs: number,
  ) {
    super(
      `remote clock ${encodeHlc(remote)} is ${remote.physical - wallClock} ms ahead of this node's clock ` +
        `(at most ${maxDriftMs} ms allowed)`,
    );
  }
}

export function encodeHlc(ts: HlcTimestamp): string {
  if (!Number.isSafeInteger(ts.physical) || ts.physical < 0 || ts.physical > MAX_PHYSICAL) {
    throw new HlcError(`HLC physical time must be 0..${MAX_PHYSICAL}, got ${ts.physical}`);
  }
  if (!Number.isSafeInteger(ts.logical) || ts.logical < 0 || ts.logical > MAX_LOGICAL) {
    throw new HlcError(`HLC logical counter must be 0..${MAX_LOGICAL}, got ${ts.logical}`);
  }
  if (ts.node === '') throw new HlcError('HLC node id must not be empty');
  return `${String(ts.physical).padStart(PHYSICAL_DIGITS, '0')}:${String(ts.logical).padStart(LOGICAL_DIGITS, '0')}:${ts.node}`;
}

export function decodeHlc(value: string): HlcTimestamp {
  const match = ENCODED.exec(value);
  if (!match) {
    throw new HlcError(
      `HLC must look like "<15 digits>:<8 digits>:<node id>", got ${JSON.stringify(value.slice(0, 80))}`,
    );
  }
  const [, physical = '', logical = '', node = ''] = match;
  return { physical: Number(physical), logical: Number(logical), node };
}

/** Orders two encoded HLCs: negative when `a` is older, positive when newer, 0 when equal. */
export function compareHlc(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface HybridLogicalClockOptions {
  /** The id of this node: the tie-break in every timestamp the clock makes. */
  readonly nodeId: string;
  /** The wall clock, injectable for tests and fault injection. @default Date.now */
  readonly now?: () => number;
  /** How far ahead of the reference time a remote timestamp may be. @default 60_000 */
  readonly maxDriftMs?: number;
  /**
   * The time remote timestamps are held to (`maxDriftMs`): central's clock as this node measured
   * it (clockOffset.ts), so a node whose own clock runs slow still takes its peers' versions
   * stamped at the right time. @default the wall clock (`now`)
   */
  readonly reference?: () => number;
  /**
   * The greatest timestamp issued or seen before a restart (e.g. the newest in the change log),
   * so the clock stays monotonic even if the wall clock went back while the node was down.
   */
  readonly resumeFrom?: string;
}

export class HybridLogicalClock {
  readonly nodeId: string;
  readonly maxDriftMs: number;
  readonly #wallClock: () => number;
  readonly #reference: (() => number) | undefined;
  #physical = 0;
  #logical = 0;

  constructor(options: HybridLogicalClockOptions) {
    if (options.nodeId === '') throw new HlcError('HLC node id must not be empty');
    this.nodeId = options.nodeId;
    this.maxDriftMs = options.maxDriftMs ?? 60_000;
    this.#wallClock = options.now ?? Date.now;
    this.#reference = options.reference;
    if (options.resumeFrom !== undefined) {
      const last = decodeHlc(options.resumeFrom);
      this.#physical = last.physical;
      this.#logical = last.logical;
    }
  }

  /** The last timestamp issued or merged, without advancing the clock. */
  get current(): HlcTimestamp {
    return { physical: this.#physical, logical: this.#logical, node: this.nodeId };
  }

  /** A timestamp for a local event (a write on this node): the paper's send rule. */
  now(): string {
    const wall = this.#readWallClock();
    if (wall > this.#physical) {
      this.#physical = wall;
      this.#logical = 0;
    } else {
      this.#tick();
    }
    return encodeHlc(this.current);
  }

  /**
   * Merges a timestamp from another node (a version applied by sync): the paper's receive rule.
   * Returns the clock's new timestamp, which is greater than both the remote one and every
   * timestamp this clock issued before. Throws HlcDriftError, leaving the clock unchanged, when
   * the remote timestamp is more than `maxDriftMs` ahead of the reference time.
   */
  receive(remote: string | HlcTimestamp): string {
    const theirs = typeof remote === 'string' ? decodeHlc(remote) : remote;
    const wall = this.#readWallClock();
    const reference = this.referenceTime();
    if (theirs.physical - reference > this.maxDriftMs)
      throw new HlcDriftError(theirs, reference, this.maxDriftMs);
    const physical = Math.max(this.#physical, theirs.physical, wall);
    if (physical === this.#physical && physical === theirs.physical) {
      this.#logical = Math.max(this.#logical, theirs.logical);
      this.#tick();
    } else if (physical === this.#physical) {
      this.#tick();
    } else if (physical === theirs.physical) {
      this.#physical = physical;
      this.#logical = theirs.logical;
      this.#tick();
    } else {
      this.#physical = physical;
      this.#logical = 0;
    }
    return encodeHlc(this.current);
  }

  /** What remote timestamps are held to: the reference clock, or the wall clock without one. */
  referenceTime(): number {
    return this.#reference === undefined ? this.#readWallClock() : Math.floor(this.#reference());
  }

  #readWallClock(): number {
    const wall = Math.floor(this.#wallClock());
    if (!Number.isSafeInteger(wall) || wall < 0) throw new HlcError(`wall clock returned ${wall}`);
    return wall;
  }

  #tick(): void {
    // The counter only grows while the wall clock stands still or runs behind. Should it ever
    // fill its digits, borrow the next millisecond: the clock stays monotonic and runs ahead of
    // real time by at most that millisecond until the wall clock catches up.
    if (this.#logical >= MAX_LOGICAL) {
      this.#physical += 1;
      this.#logical = 0;
    } else {
      this.#logical += 1;
    }
  }
}
