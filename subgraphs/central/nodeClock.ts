// A node's clock as its heartbeats report it: the offset it measured against central's clock
// (subgraphs/node/clockOffset.ts) and the bound it holds itself to. Central keeps the last report
// on the node's row, so `Node.clockOffsetMs` / `Node.clockSkewed` and the dashboard's alert read
// what the node itself acts on (beyond its bound it refuses writes), not a second opinion. The
// report's wire shape is HeartbeatClockSchema (lib/nodeApi.ts).
import type { NodeRow } from './db/schema.ts';

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
