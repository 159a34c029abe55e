// A hostile chat node, hand-written: registered at central with a real API key, it heartbeats
// (so central counts it ONLINE and sends peers to pull from it), keeps its job stream open (so
// it gets sessions as a target, to report on), and serves whatever change log a test gives it on
// the sync feed, honest in shape only. It records every request it receives: what honest nodes
// and the gateway hand a node they trust.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  SYNC_CHANGES_PATH,
  SYNC_DIGESTS_PATH,
  type ChangeBatch,
  type WireVersion,
} from '../../lib/syncProtocol.ts';
import {
  heartbeat,
  openJobStream,
  postAsNode,
  roomsChanged,
  report,
  type JobStreamClient,
} from '../sync/nodeSide.ts';
import type { Leftovers } from './leftovers.ts';
import { flattenHeaders, type CapturedRequest } from './recordingHttpProxy.ts';

export interface HostileNodeOptions {
  readonly centralUrl: string;
  /** The key registerNode returned for it. */
  readonly apiKey: string;
}

/** A batch the hostile feed served: to whom (their headers) and which seqs. */
export interface ServedBatch {
  readonly after: number;
  readonly seqs: readonly number[];
  readonly headers: Readonly<Record<string, string>>;
}

export type ForgedVersion = Omit<WireVersion, 'seq'>;

export class HostileNode {
  readonly requests: CapturedRequest[] = [];
  readonly served: ServedBatch[] = [];
  readonly #options: HostileNodeOptions;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #log: WireVersion[] = [];
  /** The last seq of each published page: a batch never runs past one. */
  readonly #pageEnds: number[] = [];
  #heartbeat: NodeJS.Timeout | undefined;
  #stopped = false;
  #logical = 0;
  nodeId = '';
  port = 0;
  jobs!: JobStreamClient;

  private constructor(options: HostileNodeOptions) {
    this.#options = options;
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
  }

  static async start(leftovers: Leftovers, options: HostileNodeOptions): Promise<HostileNode> {
    const node = new HostileNode(options);
    await new Promise<void>((resolve) => node.#server.listen(0, '127.0.0.1', resolve));
    node.port = (node.#server.address() as AddressInfo).port;
    leftovers.defer(() => node.close());
    const first = await heartbeat(options.centralUrl, options.apiKey, node.url);
    if (first.status !== 200) throw new Error(`central refused the heartbeat: ${first.status}`);
    node.nodeId = (first.body as { nodeId: string }).nodeId;
    node.#schedule((first.body as { heartbeatIntervalMs: number }).heartbeatIntervalMs);
    node.jobs = await openJobStream(leftovers, options.centralUrl, options.apiKey);
    return node;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** An HLC of this node, newer than any it made before and than the wall clock now. */
  nextHlc(): string {
    this.#logical += 1;
    return `${String(Date.now()).padStart(15, '0')}:${String(this.#logical).padStart(8, '0')}:${this.nodeId}`;
  }

  /**
   * Appends the versions to the change log as one page: a target asking from before them gets
   * them (and nothing after them) in one batch. Returns them with their seqs.
   */
  publish(versions: readonly ForgedVersion[]): WireVersion[] {
    const start = this.#log.length;
    const added = versions.map((v, i) => ({ ...v, seq: start + i + 1 }));
    this.#log.push(...added);
    this.#pageEnds.push(this.#log.length);
    return added;
  }

  /** Tells central the rooms changed here; answers the session ids central queued. */
  async announce(roomIds: readonly string[]): Promise<string[]> {
    const answer = await roomsChanged(this.#options.centralUrl, this.#options.apiKey, [...roomIds]);
    if (answer.status !== 200)
      throw new Error(`central refused the change notice: ${JSON.stringify(answer)}`);
    return (answer.body as { sessionIds: string[] }).sessionIds;
  }

  /** Sends a sync report (any body) as this node. */
  report(body: unknown): Promise<{ status: number; body: unknown }> {
    return report(this.#options.centralUrl, this.#options.apiKey, body);
  }

  /** Any other call to central's internal API as this node. */
  post(path: string, body: unknown): Promise<{ status: number; body: unknown }> {
    return postAsNode(this.#options.centralUrl, this.#options.apiKey, path, body);
  }

  async close(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#heartbeat);
    await this.jobs?.close();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #schedule(intervalMs: number): void {
    if (this.#stopped) return;
    this.#heartbeat = setTimeout(() => {
      heartbeat(this.#options.centralUrl, this.#options.apiKey, this.url)
        .then((answer) => (answer.body as { heartbeatIntervalMs?: number }).heartbeatIntervalMs)
        .catch(() => undefined)
        .then((next) => this.#schedule(next ?? intervalMs))
        .catch(() => {});
    }, intervalMs);
    this.#heartbeat.unref();
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    this.requests.push({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: flattenHeaders(req.headers),
      websocket: false,
    });
    // The body is never needed: drain it so the caller is answered.
    req.resume();
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === SYNC_CHANGES_PATH) {
      sendJson(res, 200, this.#batch(url, flattenHeaders(req.headers)));
    } else if (url.pathname === SYNC_DIGESTS_PATH) {
      sendJson(res, 200, { digests: {} });
    } else if (url.pathname === '/graphql' && req.method === 'POST') {
      // A schema the gateway will not route to: reads of its rooms stay on honest nodes.
      sendJson(res, 200, { data: { _service: { sdl: 'type Query { hostile: String }' } } });
    } else {
      sendJson(res, 404, { errors: [{ message: 'not here' }] });
    }
  }

  #batch(url: URL, headers: Record<string, string>): ChangeBatch {
    const after = Number(url.searchParams.get('after') ?? '0') || 0;
    const limit = Number(url.searchParams.get('limit') ?? '1000') || 1000;
    const pageEnd = this.#pageEnds.find((end) => end > after) ?? after;
    const versions = this.#log.filter((v) => v.seq > after && v.seq <= pageEnd).slice(0, limit);
    const head = this.#log.length;
    const nextAfter = versions.at(-1)?.seq ?? after;
    this.served.push({ after, seqs: versions.map((v) => v.seq), headers });
    return { sourceNodeId: this.nodeId, versions, nextAfter, headSeq: Math.max(head, nextAfter) };
  }
}

function sendJson(res: ServerResponse, status: number, body: object): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}
