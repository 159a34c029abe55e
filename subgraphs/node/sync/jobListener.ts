// Listens to central's stream of sync jobs for this node (Server-Sent Events at SYNC_JOBS_PATH)
// and hands every `job` event to the puller. The stream is the node's only way to learn of its
// sessions, so it is reopened whenever it ends or fails, with exponential backoff and jitter
// that resets once a connection succeeded. On every (re)connect central re-sends the PENDING
// jobs; the puller ignores those it already has.
import { Backoff } from '../../../lib/backoff.ts';
import type { Logger } from '../../../lib/log.ts';
import { readEvents } from '../../../lib/sseReader.ts';
import { parseWire } from '../../../lib/wire.ts';
import {
  LivePeersSchema,
  SyncJobSchema,
  type LivePeer,
  type SyncJob,
} from '../../../lib/syncProtocol.ts';
import { CentralRejectedError, type CentralClient } from '../centralClient.ts';

export interface JobListenerOptions {
  readonly central: Pick<CentralClient, 'openSyncJobs'>;
  readonly onJob: (job: SyncJob) => void;
  /** The sources to keep live streams open to (the `peers` event): the complete set each time. */
  readonly onPeers?: (peers: readonly LivePeer[]) => void;
  /** A `placement` or `membership` notice, as sent (lib/nodeNotices.ts; nodeNotices.ts reads it). */
  readonly onNotice?: (event: 'placement' | 'membership', data: string) => void;
  readonly log: Logger;
  /** First delay before reconnecting. @default 200 */
  readonly minBackoffMs?: number;
  /** Longest delay between reconnects. @default 5000 */
  readonly maxBackoffMs?: number;
  /** Called each time the stream is open (tests wait on it). */
  readonly onConnected?: () => void;
}

export interface JobListener {
  /** Closes the stream and stops reconnecting; resolves once the loop has ended. */
  close(): Promise<void>;
}

export function startJobListener(options: JobListenerOptions): JobListener {
  const minBackoffMs = options.minBackoffMs ?? 200;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  const stop = new AbortController();
  const log = options.log;

  const loop = async () => {
    const backoff = new Backoff({ initialMs: minBackoffMs, maxMs: maxBackoffMs });
    let failing = false;
    while (!stop.signal.aborted) {
      try {
        const stream = await options.central.openSyncJobs(stop.signal);
        if (failing) log.info('sync job stream open again');
        failing = false;
        backoff.reset();
        options.onConnected?.();
        await readEvents(stream, (event, data) => {
          if (event === 'peers') {
            let peers: LivePeer[];
            try {
              peers = validateLivePeers(JSON.parse(data));
            } catch (error) {
              log.error(`ignoring a malformed peers event from central: ${describe(error)}`);
              return;
            }
            options.onPeers?.(peers);
            return;
          }
          if (event === 'placement' || event === 'membership') {
            options.onNotice?.(event, data);
            return;
          }
          if (event !== 'job') return;
          let job: SyncJob;
          try {
            job = validateSyncJob(JSON.parse(data));
          } catch (error) {
            log.error(`ignoring a malformed sync job from central: ${describe(error)}`);
            return;
          }
          options.onJob(job);
        });
        if (!stop.signal.aborted) log.info('central closed the sync job stream; reopening');
      } catch (error) {
        if (stop.signal.aborted) break;
        // One line per outage, like the heartbeats; a refused key is worth every line.
        if (!failing || error instanceof CentralRejectedError) {
          log.warn(`sync job stream failed: ${describe(error)}; retrying`);
        }
        failing = true;
      }
      // Each attempt already tried every central (centralClient.ts): this is the pause between
      // full rounds, with jitter so that nodes do not all come back in step.
      await delay(backoff.next(), stop.signal);
    }
  };
  const done = loop();
  return {
    async close() {
      stop.abort();
      await done;
    },
  };
}

/** Returns the value as a SyncJob or throws saying which field is wrong. */
export function validateSyncJob(value: unknown): SyncJob {
  return parseWire(SyncJobSchema, value, 'job');
}

/** Returns the `peers` event's list, or throws saying which field is wrong. */
export function validateLivePeers(value: unknown): LivePeer[] {
  return [...parseWire(LivePeersSchema, value).peers];
}

function delay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
