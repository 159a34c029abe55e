// The node's half of the sync protocol, spoken from a test: open the job stream, report on
// sessions, announce changes. Real HTTP against a real central; it plays a node whose own code
// is not under test (the central tests) or an impostor (the end-to-end tests).
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import { NOTICE_ACK_PATH } from '../../lib/nodeNotices.ts';
import {
  SYNC_CHANGED_PATH,
  SYNC_JOBS_PATH,
  SYNC_REPORT_PATH,
  type SyncJob,
} from '../../lib/syncProtocol.ts';
import type { Leftovers } from '../helpers/leftovers.ts';

export interface JobStreamClient {
  readonly jobs: SyncJob[];
  /** Resolves with the first job (received or future) matching `predicate`. */
  waitForJob(predicate?: (job: SyncJob) => boolean): Promise<SyncJob>;
  /** Resolves once central ended the stream. */
  readonly ended: Promise<void>;
  close(): Promise<void>;
}

export interface JobStreamOptions {
  /**
   * Acknowledge the notices central waits on (a `membership` or `placement` event with a
   * `fenceId`) as a node does once it acts on them. Without it the stream stays silent, and a
   * member's removal from a room this node stores waits out central's deadline (5 s) for it.
   */
  readonly ackNotices?: boolean;
}

export async function openJobStream(
  leftovers: Leftovers,
  centralUrl: string,
  apiKey: string,
  options: JobStreamOptions = {},
): Promise<JobStreamClient> {
  const abort = new AbortController();
  const response = await fetch(`${centralUrl}${SYNC_JOBS_PATH}`, {
    headers: { [NODE_KEY_HEADER]: apiKey, accept: 'text/event-stream' },
    signal: abort.signal,
  });
  if (response.status !== 200 || !response.body)
    throw new Error(`job stream refused: HTTP ${response.status} ${await response.text()}`);
  const jobs: SyncJob[] = [];
  const listeners = new Set<() => void>();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const ended = (async () => {
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += value;
        let end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const lines = block.split('\n');
          const data = lines.find((l) => l.startsWith('data: '));
          if (options.ackNotices && data && /^event: (membership|placement)$/m.test(block)) {
            const { fenceId } = JSON.parse(data.slice(6)) as { fenceId?: string };
            if (fenceId !== undefined) await ackNotice(centralUrl, apiKey, fenceId);
          }
          if (!lines.includes('event: job')) continue;
          if (data) jobs.push(JSON.parse(data.slice(6)) as SyncJob);
          for (const l of listeners) l();
        }
      }
    } catch {
      // aborted by close()
    } finally {
      for (const l of listeners) l();
    }
  })();
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    abort.abort();
    await ended;
  };
  leftovers.defer(close);
  return {
    jobs,
    ended,
    close,
    waitForJob: (predicate = () => true) =>
      new Promise((resolve, reject) => {
        let finished = false;
        const check = () => {
          const job = jobs.find(predicate);
          if (job) {
            listeners.delete(check);
            resolve(job);
          } else if (finished) {
            listeners.delete(check);
            reject(new Error('the job stream ended without a matching job'));
          }
        };
        void ended.then(() => {
          finished = true;
          check();
        });
        listeners.add(check);
        check();
      }),
  };
}

export async function postAsNode(
  centralUrl: string,
  apiKey: string | undefined,
  path: string,
  body: unknown,
): Promise<{ status: number; body: any }> {
  const response = await fetch(`${centralUrl}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(apiKey === undefined ? {} : { [NODE_KEY_HEADER]: apiKey }),
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

async function ackNotice(centralUrl: string, apiKey: string, fenceId: string): Promise<void> {
  const acked = await postAsNode(centralUrl, apiKey, NOTICE_ACK_PATH, { fenceId });
  if (acked.status !== 200) throw new Error(`notice ack refused: HTTP ${acked.status}`);
}

export const report = (centralUrl: string, apiKey: string, body: unknown) =>
  postAsNode(centralUrl, apiKey, SYNC_REPORT_PATH, body);

export const roomsChanged = (centralUrl: string, apiKey: string, roomIds: string[]) =>
  postAsNode(centralUrl, apiKey, SYNC_CHANGED_PATH, { roomIds });

export const heartbeat = (centralUrl: string, apiKey: string, url: string) =>
  postAsNode(centralUrl, apiKey, '/internal/heartbeat', { url });
