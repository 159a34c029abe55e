// A node's clock as its heartbeats report it: the offset it measured against central's clock
// (subgraphs/node/clockOffset.ts) and the bound it holds itself to. Central keeps the last report
// on the node's row, so `Node.clockOffsetMs` / `Node.clockSkewed` and the dashboard's alert read
// what the node itself acts on (beyond its bound it refuses writes), not a second opinion.
import type { NodeRow } from './db/schema.ts';

/** The `clock` field of a heartbeat's body. */
export interface HeartbeatClock {
  /** Central's clock minus the node's, ms; null while the node has not measured it yet. */
  readonly offsetMs: number | null;
  /** How far the node's clock may be from central's before it refuses writes. */
  readonly maxDriftMs: number;
}

export class InvalidHeartbeatClockError extends Error {
  override readonly name = 'InvalidHeartbeatClockError';
}

/** A year: anything further is not a measurement. */
const MAX_OFFSET_MS = 366 * 24 * 3600 * 1000;

/** The body's `clock`, checked; undefined when the node sent none (a node older than it). */
export function parseHeartbeatClock(value: unknown): HeartbeatClock | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new InvalidHeartbeatClockError('clock must be an object {offsetMs, maxDriftMs}');
  const { offsetMs, maxDriftMs } = value as Record<string, unknown>;
  if (
    offsetMs !== null &&
    (typeof offsetMs !== 'number' ||
      !Number.isFinite(offsetMs) ||
      Math.abs(offsetMs) > MAX_OFFSET_MS)
  )
    throw new InvalidHeartbeatClockError(
      `clock.offsetMs must be null or a number of milliseconds within ±${MAX_OFFSET_MS}`,
    );
  if (
    typeof maxDriftMs !== 'number' ||
    !Number.isSafeInteger(maxDriftMs) ||
    maxDriftMs < 1 ||
    maxDriftMs > MAX_OFFSET_MS
  )
    throw new InvalidHeartbeatClockError('clock.maxDriftMs must be a positive integer');
  return { offsetMs, maxDriftMs };
}

/** Whether the node's last reported clock is beyond its own bound (false while unmeasured). */
export function isClockSkewed(node: Pick<NodeRow, 'clockOffsetMs' | 'clockMaxDriftMs'>): boolean {
  return (
    node.clockOffsetMs !== null &&
    node.clockMaxDriftMs !== null &&
    Math.abs(node.clockOffsetMs) > node.clockMaxDriftMs
  );
}

/** One log line's worth: "120000 ms ahead of central's clock (bound 60000 ms)". */
export function describeClock(node: Pick<NodeRow, 'clockOffsetMs' | 'clockMaxDriftMs'>): string {
  if (node.clockOffsetMs === null) return 'clock not measured yet';
  const way = node.clockOffsetMs < 0 ? 'ahead of' : 'behind';
  return (
    `clock ${Math.abs(Math.round(node.clockOffsetMs))} ms ${way} central's` +
    (node.clockMaxDriftMs === null ? '' : ` (bound ${node.clockMaxDriftMs} ms)`)
  );
}
