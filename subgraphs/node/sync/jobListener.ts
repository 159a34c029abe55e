// Listens to central's stream of sync jobs for this node (Server-Sent Events at SYNC_JOBS_PATH)
// and hands every `job` event to the puller. The stream is the node's only way to learn of its
// sessions, so it is reopened whenever it ends or fails, with exponential backoff that resets
// once a connection succeeded. On every (re)connect central re-sends the PENDING jobs; the puller
// ignores those it already has.
import type { Logger } from '../../../lib/log.ts';
import type { LivePeer, SyncJob } from '../../../lib/syncProtocol.ts';
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
    let delayMs = minBackoffMs;
    let failing = false;
    while (!stop.signal.aborted) {
      try {
        const stream = await options.central.openSyncJobs(stop.signal);
        if (failing) log.info('sync job stream open again');
        failing = false;
        delayMs = minBackoffMs;
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
      await delay(Math.round(delayMs / 2 + (Math.random() * delayMs) / 2), stop.signal);
      delayMs = Math.min(delayMs * 2, maxBackoffMs);
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

/** Parses a text/event-stream (the WHATWG SSE format) and calls `onEvent` per dispatched event. */
export async function readEvents(
  stream: ReadableStream<Uint8Array>,
  onEvent: (event: string, data: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  const line = (text: string) => {
    if (text === '') {
      if (data.length > 0) onEvent(event || 'message', data.join('\n'));
      event = '';
      data = [];
      return;
    }
    if (text.startsWith(':')) return;
    const colon = text.indexOf(':');
    const field = colon === -1 ? text : text.slice(0, colon);
    let value = colon === -1 ? '' : text.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  };
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      // A '\r' at the end may be the first half of '\r\n': wait for the next chunk to tell.
      const held = buffer.endsWith('\r') ? '\r' : '';
      const parts = (held ? buffer.slice(0, -1) : buffer).split(/\r\n|\r|\n/);
      buffer = (parts.pop() ?? '') + held;
      for (const part of parts) line(part);
    }
  } finally {
    reader.releaseLock();
  }
}

/** Returns the value as a SyncJob or throws saying which field is wrong. */
export function validateSyncJob(value: unknown): SyncJob {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new Error('job: expected an object');
  }
  const job = value as Record<string, unknown>;
  const text = (name: string): string => {
    const field = job[name];
    if (typeof field !== 'string' || field === '') {
      throw new Error(`job.${name}: expected a non-empty string`);
    }
    return field;
  };
  const sessionId = text('sessionId');
  const syncType = job['syncType'];
  if (syncType !== 'FULL' && syncType !== 'INCREMENTAL') {
    throw new Error('job.syncType: expected FULL or INCREMENTAL');
  }
  const sourceNodeId = text('sourceNodeId');
  const sourceNodeName = job['sourceNodeName'];
  if (sourceNodeName !== undefined && typeof sourceNodeName !== 'string') {
    throw new Error('job.sourceNodeName: expected a string');
  }
  const sourceUrl = text('sourceUrl');
  if (!/^https?:\/\//.test(sourceUrl)) throw new Error('job.sourceUrl: expected an http(s) URL');
  const roomIds = job['roomIds'];
  if (!Array.isArray(roomIds) || roomIds.some((room) => typeof room !== 'string' || room === '')) {
    throw new Error('job.roomIds: expected an array of room ids');
  }
  const batchSize = job['batchSize'];
  if (typeof batchSize !== 'number' || !Number.isSafeInteger(batchSize) || batchSize < 0) {
    throw new Error('job.batchSize: expected a non-negative integer');
  }
  const pullToken = text('pullToken');
  const pullTokenExpiresAt = job['pullTokenExpiresAt'];
  if (typeof pullTokenExpiresAt !== 'number' || !Number.isSafeInteger(pullTokenExpiresAt)) {
    throw new Error('job.pullTokenExpiresAt: expected epoch milliseconds');
  }
  return {
    sessionId,
    syncType,
    sourceNodeId,
    ...(sourceNodeName ? { sourceNodeName } : {}),
    sourceUrl,
    roomIds: roomIds as string[],
    batchSize,
    pullToken,
    pullTokenExpiresAt,
  };
}

/** Returns the `peers` event's list, or throws saying which field is wrong. */
export function validateLivePeers(value: unknown): LivePeer[] {
  const list = (value as { peers?: unknown } | null)?.peers;
  if (!Array.isArray(list)) throw new Error('peers: expected { "peers": [...] }');
  return list.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null)
      throw new Error(`peers[${i}]: expected an object`);
    const peer = item as Record<string, unknown>;
    const text = (name: string): string => {
      const field = peer[name];
      if (typeof field !== 'string' || field === '') {
        throw new Error(`peers[${i}].${name}: expected a non-empty string`);
      }
      return field;
    };
    const sourceUrl = text('sourceUrl');
    if (!/^https?:\/\//.test(sourceUrl))
      throw new Error(`peers[${i}].sourceUrl: expected an http(s) URL`);
    const roomIds = peer['roomIds'];
    if (
      !Array.isArray(roomIds) ||
      roomIds.length === 0 ||
      roomIds.some((room) => typeof room !== 'string' || room === '')
    ) {
      throw new Error(`peers[${i}].roomIds: expected a non-empty array of room ids`);
    }
    const expiresAt = peer['pullTokenExpiresAt'];
    if (typeof expiresAt !== 'number' || !Number.isSafeInteger(expiresAt)) {
      throw new Error(`peers[${i}].pullTokenExpiresAt: expected epoch milliseconds`);
    }
    return {
      sourceNodeId: text('sourceNodeId'),
      sourceUrl,
      roomIds: roomIds as string[],
      pullToken: text('pullToken'),
      pullTokenExpiresAt: expiresAt,
    };
  });
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
