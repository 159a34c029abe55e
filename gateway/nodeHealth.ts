// The gateway's own view of each chat node's health, for routing only: central's heartbeats stay
// the truth for OFFLINE, but they take seconds to notice a death, while the gateway sees a refused
// connection or a frozen node at its next request. Passive: a failed request marks the node down
// (refused, reset, timed out, not GraphQL, HTTP 5xx), one slower than its hedge bound while another
// node answered marks it suspect. Active: while a node is not healthy it is probed (`GET /health`,
// short timeout), less and less often; an answer, or any good answer to a real request, makes it
// healthy again. The router prefers healthy nodes and hedges reads after each node's recent p95.
import type { Logger } from '../lib/log.ts';

export type HealthState = 'healthy' | 'suspect' | 'down';

export interface HealthView {
  readonly state: HealthState;
  /** Why it is not healthy; null when it is. */
  readonly reason: string | null;
  /** When the state began (ISO 8601). */
  readonly since: string;
  /** The p95 of its recent answers, null until there are enough of them. */
  readonly p95Ms: number | null;
  /** How long a read waits for it before also asking another storage node. */
  readonly hedgeAfterMs: number;
}

/** What the probe found: answered, did not, or should not be probed now (central: not ONLINE). */
export type ProbeResult = 'ok' | 'failed' | 'skip';

export interface NodeHealthOptions {
  /** Asks the node whether it lives (`GET /health` with a short timeout). */
  readonly probe: (nodeId: string) => Promise<ProbeResult>;
  readonly log: Logger;
  /** Lower clamp of the hedge bound. @default 50 */
  readonly hedgeMinMs?: number;
  /** Upper clamp of the hedge bound, and the bound while too few answers are known. @default 300 */
  readonly hedgeMaxMs?: number;
  /** First delay before probing a node that is not healthy; doubles up to 8x. @default 250 */
  readonly probeIntervalMs?: number;
}

/** Latencies kept per node: enough for a p95 that follows load within seconds. */
const SAMPLES = 100;
/** Fewer answers than this say too little for a p95: the upper clamp is used. */
const MIN_SAMPLES = 10;

interface Entry {
  readonly id: string;
  name: string;
  state: HealthState;
  reason: string | null;
  since: number;
  samples: number[];
  next: number;
  probeTimer: NodeJS.Timeout | undefined;
  probing: boolean;
  probeDelay: number;
}

export class NodeHealth {
  readonly #o: NodeHealthOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #probeMs: number;
  #closed = false;

  constructor(options: NodeHealthOptions) {
    this.#o = options;
    this.#minMs = options.hedgeMinMs ?? 50;
    this.#maxMs = Math.max(this.#minMs, options.hedgeMaxMs ?? 300);
    this.#probeMs = options.probeIntervalMs ?? 250;
  }

  /** Starts following a node (healthy until shown otherwise); renames it if known. */
  track(nodeId: string, name: string): void {
    const entry = this.#entries.get(nodeId);
    if (entry) entry.name = name;
    else
      this.#entries.set(nodeId, {
        id: nodeId,
        name,
        state: 'healthy',
        reason: null,
        since: Date.now(),
        samples: [],
        next: 0,
        probeTimer: undefined,
        probing: false,
        probeDelay: this.#probeMs,
      });
  }

  forget(nodeId: string): void {
    clearTimeout(this.#entries.get(nodeId)?.probeTimer);
    this.#entries.delete(nodeId);
  }

  /**
   * Central saw the node come (back) ONLINE, or it moved: its heartbeats show it alive, and what
   * the gateway saw of it before says nothing about the process now running.
   */
  reset(nodeId: string): void {
    const entry = this.#entries.get(nodeId);
    if (!entry) return;
    entry.samples = [];
    entry.next = 0;
    this.#become(entry, 'healthy', null, 'ONLINE at central');
  }

  state(nodeId: string): HealthState {
    return this.#entries.get(nodeId)?.state ?? 'healthy';
  }

  /** A good answer after `ms`. */
  answered(nodeId: string, ms: number): void {
    const entry = this.#entries.get(nodeId);
    if (!entry) return;
    if (entry.samples.length < SAMPLES) entry.samples.push(ms);
    else entry.samples[entry.next] = ms;
    entry.next = (entry.next + 1) % SAMPLES;
    if (entry.state !== 'healthy') this.#become(entry, 'healthy', null, 'it answered a request');
  }

  /**
   * A request failed (`down`) or was given up as slower than another node (`suspect`). A node
   * already down stays down: being slow says less than being dead.
   */
  failed(nodeId: string, state: 'suspect' | 'down', reason: string): void {
    const entry = this.#entries.get(nodeId);
    if (!entry) return;
    if (entry.state === 'down' || entry.state === state) {
      entry.reason = reason;
      return;
    }
    this.#become(entry, state, reason);
  }

  /** How long a read waits for this node before also asking another one: its p95, clamped. */
  hedgeAfterMs(nodeId: string): number {
    const p95 = this.#p95(this.#entries.get(nodeId));
    return p95 === null ? this.#maxMs : Math.min(this.#maxMs, Math.max(this.#minMs, p95));
  }

  view(nodeId: string): HealthView {
    const entry = this.#entries.get(nodeId);
    return {
      state: entry?.state ?? 'healthy',
      reason: entry?.reason ?? null,
      since: new Date(entry?.since ?? Date.now()).toISOString(),
      p95Ms: this.#p95(entry),
      hedgeAfterMs: this.hedgeAfterMs(nodeId),
    };
  }

  close(): void {
    this.#closed = true;
    for (const entry of this.#entries.values()) clearTimeout(entry.probeTimer);
  }

  #p95(entry: Entry | undefined): number | null {
    if (!entry || entry.samples.length < MIN_SAMPLES) return null;
    const sorted = [...entry.samples].sort((a, b) => a - b);
    return Math.round(sorted[Math.ceil(sorted.length * 0.95) - 1] ?? 0);
  }

  #become(entry: Entry, state: HealthState, reason: string | null, cause?: string): void {
    if (entry.state === state) return;
    const was = entry.state;
    const lasted = ((Date.now() - entry.since) / 1000).toFixed(1);
    entry.state = state;
    entry.reason = reason;
    entry.since = Date.now();
    // One line per change of state, never one per failed request: a node down for a minute
    // under load would otherwise write thousands.
    if (state === 'healthy') {
      // A waiting probe is dropped; one already running finds the node healthy and stops.
      clearTimeout(entry.probeTimer);
      entry.probeTimer = undefined;
      entry.probeDelay = this.#probeMs;
      this.#o.log.info(`node ${entry.name} healthy again after ${lasted} s ${was} (${cause})`);
      return;
    }
    const line = `node ${entry.name} ${state} (${reason}): routing around it, probing it`;
    if (state === 'down') this.#o.log.warn(line);
    else this.#o.log.info(line);
    this.#scheduleProbe(entry);
  }

  #scheduleProbe(entry: Entry): void {
    if (this.#closed || entry.probeTimer || entry.probing) return;
    entry.probeTimer = setTimeout(() => {
      entry.probeTimer = undefined;
      void this.#probe(entry);
    }, entry.probeDelay);
    entry.probeTimer.unref();
  }

  async #probe(entry: Entry): Promise<void> {
    entry.probing = true;
    let result: ProbeResult;
    try {
      result = await this.#o.probe(entry.id);
    } finally {
      entry.probing = false;
    }
    const current: HealthState = entry.state;
    if (this.#closed || this.#entries.get(entry.id) !== entry || current === 'healthy') return;
    if (result === 'ok') {
      this.#become(entry, 'healthy', null, 'it answered a probe');
      return;
    }
    // Not ONLINE at central: not routed to anyway; its comeback (reset) starts it afresh.
    if (result === 'skip') return;
    entry.probeDelay = Math.min(entry.probeDelay * 2, this.#probeMs * 8);
    if (current === 'suspect') this.#become(entry, 'down', 'no answer to a health probe');
    else this.#scheduleProbe(entry);
  }
}
