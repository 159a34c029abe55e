// Versions deferred for their clock (an HLC too far ahead of this node's: sync/validateBatch.ts)
// come back in two ways. A session from their source applies the ones whose time has come after
// each batch, through the same checks and apply as the batch (pullSession.ts). And, since their
// source may have nothing new to send for a long while (it refuses writes while its clock is
// off), every clock sample (each heartbeat) looks for due ones and asks central for a session
// from their source: the version is applied within a heartbeat of becoming acceptable.
import type { ChangeBatch } from '../../../lib/syncProtocol.ts';
import type { Logger } from '../../../lib/log.ts';
import type { CentralClient } from '../centralClient.ts';
import type { DueVersion, Quarantine } from './quarantine.ts';

/**
 * The due versions as one batch from their source, to examine and apply like any other: only
 * those at or before the session's cursor (a FULL session starts again from 0: one further on
 * comes with its own batch, and the cursor must never jump past versions not yet pulled), the
 * latest version of each message (the source's later version of a message supersedes its earlier
 * one), seqs in order, the cursor unchanged. Returns the seqs it covers, to settle.
 */
export function dueBatch(
  sourceNodeId: string,
  due: readonly DueVersion[],
  cursor: number,
  headSeq: number,
): { value: unknown; seqs: number[]; after: number } {
  const passed = due.filter((d) => d.seq <= cursor);
  const latest = new Map<string, DueVersion>();
  for (const d of passed) {
    const id = (d.version as { id?: unknown }).id;
    latest.set(typeof id === 'string' ? id : `#${d.seq}`, d);
  }
  const versions = [...latest.values()].sort((x, y) => x.seq - y.seq).map((d) => d.version);
  const batch: Omit<ChangeBatch, 'versions'> & { versions: unknown[] } = {
    sourceNodeId,
    versions,
    nextAfter: cursor,
    headSeq: Math.max(headSeq, cursor),
  };
  return { value: batch, seqs: passed.map((d) => d.seq), after: 0 };
}

export interface DeferredWatchOptions {
  readonly quarantine: Quarantine;
  /** The reference clock deferrals are timed by (the HLC's `referenceTime`). */
  readonly now: () => number;
  readonly central: Pick<CentralClient, 'requestPull'>;
  readonly log: Logger;
  /** How long before asking again for the same source. @default 10000 */
  readonly retryMs?: number;
}

/** Asks central for a session from each source with a due deferred version. */
export class DeferredWatch {
  readonly #options: DeferredWatchOptions;
  readonly #askedAt = new Map<string, number>();

  constructor(options: DeferredWatchOptions) {
    this.#options = options;
  }

  check(): void {
    const now = this.#options.now();
    const retryMs = this.#options.retryMs ?? 10_000;
    for (const source of this.#options.quarantine.sourcesDue(now)) {
      const asked = this.#askedAt.get(source);
      // A session asked for may take a while (queued behind others): one ask per retryMs.
      if (asked !== undefined && now - asked < retryMs && now >= asked) continue;
      this.#askedAt.set(source, now);
      this.#options.central.requestPull(source).catch((error: unknown) => {
        this.#options.log.warn(
          `could not ask central for a session from ${source} (deferred versions due): ${
            error instanceof Error ? error.message : String(error)
          }`,
        );
      });
    }
  }
}
