// How far this node's wall clock is from central's, measured on every heartbeat round trip the
// way NTP does: central answers with its time `c`; sent at `t0`, answered at `t1`, central's
// clock read `c` somewhere in between, so at the middle of the trip it was `c` give or take
// rtt/2. Of the last few samples the one with the shortest round trip wins (the least queueing).
//
// Samples are kept against the monotonic clock, not the wall clock: a sample says "central's
// time is the monotonic reading plus `base`". The offset is then that estimate minus the wall
// clock read NOW, so a wall clock stepped between two heartbeats (an operator, a broken NTP
// daemon, a test's injected skew) is seen at once, without waiting for central.
//
// A node beyond the bound (`maxDriftMs`, the bound peers hold versions' HLCs to) refuses writes:
// a version it stamped could be refused by every peer, or (behind) it is not the time the write
// happened. Before any sample it refuses them too: an unmeasured clock is not known to be right.
import { performance } from 'node:perf_hooks';
import { appError } from '../../lib/errors.ts';

/** Samples kept; the one with the shortest round trip among them is the estimate. */
const SAMPLES = 8;

interface Sample {
  /** Central's time minus the monotonic clock at the middle of the round trip. */
  readonly base: number;
  readonly rttMs: number;
}

export interface ClockOffsetOptions {
  /** This node's wall clock (the one its HLCs read). @default Date.now */
  readonly now?: () => number;
  /** A clock that never steps. @default performance.now */
  readonly monotonic?: () => number;
  /** How far from central's clock this node's may be. @default 60000 */
  readonly maxDriftMs?: number;
}

export interface ClockState {
  /** Central's time minus this node's wall clock, ms; undefined before the first sample. */
  readonly offsetMs: number | undefined;
  /** How wrong `offsetMs` may be: half the round trip of the sample it comes from. */
  readonly errorMs: number | undefined;
  readonly maxDriftMs: number;
  /** Whether this node may stamp versions: measured, and within the bound. */
  readonly withinBound: boolean;
  /** Why not, when not. */
  readonly reason?: string;
}

export class ClockOffset {
  readonly maxDriftMs: number;
  readonly #now: () => number;
  readonly #monotonic: () => number;
  #samples: Sample[] = [];
  readonly #listeners = new Set<() => void>();

  constructor(options: ClockOffsetOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#monotonic = options.monotonic ?? (() => performance.now());
    this.maxDriftMs = options.maxDriftMs ?? 60_000;
  }

  /** The monotonic clock, to read before and after a round trip to central. */
  mark(): number {
    return this.#monotonic();
  }

  /** One round trip: `sentAt` and `answeredAt` from `mark()`, `centralTime` from central. */
  record(sentAt: number, answeredAt: number, centralTime: number): void {
    if (!Number.isFinite(centralTime) || answeredAt < sentAt) return;
    const rttMs = answeredAt - sentAt;
    this.#samples.push({ base: centralTime - (sentAt + answeredAt) / 2, rttMs });
    if (this.#samples.length > SAMPLES) this.#samples.shift();
    for (const listener of this.#listeners) listener();
  }

  /** Called after every sample (e.g. to apply versions that became acceptable). */
  onSample(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #best(): Sample | undefined {
    let best: Sample | undefined;
    for (const s of this.#samples) if (!best || s.rttMs < best.rttMs) best = s;
    return best;
  }

  /** Central's time now, as measured; this node's wall clock before the first sample. */
  centralNow(): number {
    const best = this.#best();
    return best === undefined ? this.#now() : Math.round(this.#monotonic() + best.base);
  }

  state(): ClockState {
    const best = this.#best();
    const maxDriftMs = this.maxDriftMs;
    if (best === undefined) {
      return {
        offsetMs: undefined,
        errorMs: undefined,
        maxDriftMs,
        withinBound: false,
        reason: "this node's clock has not been measured against central's yet",
      };
    }
    const offsetMs = Math.round(this.#monotonic() + best.base - this.#now());
    const errorMs = Math.ceil(best.rttMs / 2);
    if (Math.abs(offsetMs) <= maxDriftMs)
      return { offsetMs, errorMs, maxDriftMs, withinBound: true };
    const way = offsetMs < 0 ? 'ahead of' : 'behind';
    return {
      offsetMs,
      errorMs,
      maxDriftMs,
      withinBound: false,
      reason:
        `this node's clock is ${Math.abs(offsetMs)} ms ${way} central's (±${errorMs} ms), ` +
        `beyond the ${maxDriftMs} ms allowed`,
    };
  }
}

/**
 * Throws CLOCK_SKEW unless this node may stamp a new version now: its clock is measured and
 * within the bound, and its HLC (which resumes from the change log, and so may still carry a
 * fast clock's past) is not beyond the bound ahead of central's time either.
 */
export function requireSaneClock(offset: ClockOffset, hlcPhysical: number): void {
  const state = offset.state();
  if (!state.withinBound) {
    throw appError(
      'CLOCK_SKEW',
      `${state.reason ?? 'clock not within bound'}: writes are refused until it is`,
    );
  }
  const ahead = hlcPhysical - offset.centralNow();
  if (ahead > state.maxDriftMs) {
    throw appError(
      'CLOCK_SKEW',
      `this node's HLC is ${ahead} ms ahead of central's clock (at most ${state.maxDriftMs} ms ` +
        `allowed; its log holds versions stamped by a fast clock): writes are refused for ` +
        `${ahead - state.maxDriftMs} ms more`,
    );
  }
}
