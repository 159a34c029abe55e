// An HTTP and WebSocket pass-through in front of a real process that records what callers send
// it: every request's headers, and every graphql-ws `connection_init` payload. Security tests
// put it where a rogue node would sit, to see exactly which credentials reach a node.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer, type RawData } from 'ws';

/** One request as it arrived: lowercase header names, repeated headers joined with ", ". */
export interface CapturedRequest {
  readonly method: string;
  /** Path and query. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly websocket: boolean;
}

/** The payload of a graphql-ws `connection_init`, with the upgrade request it came on. */
export interface CapturedInit {
  readonly url: string;
  readonly payload: Readonly<Record<string, unknown>>;
}

/**
 * Headers that prove who the caller is (or a secret), whatever the mechanism: what a rogue node
 * would try to reuse elsewhere.
 */
export const CREDENTIAL_HEADERS = [
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-gateway-secret',
  'x-gateway-assertion',
  'x-node-api-key',
  'x-sync-pull-token',
] as const;

export function flattenHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

// Not forwarded on the upstream WebSocket: `ws` writes its own handshake headers.
const HANDSHAKE_HEADERS = new Set([
  'host',
  'connection',
  'upgrade',
  'sec-websocket-key',
  'sec-websocket-version',
  'sec-websocket-extensions',
  'sec-websocket-protocol',
]);

export class RecordingProxy {
  readonly requests: CapturedRequest[] = [];
  readonly connectionInits: CapturedInit[] = [];
  readonly #server: Server;
  readonly #wss = new WebSocketServer({ noServer: true });
  readonly #sockets = new Set<Socket>();
  #target: URL | undefined;
  // Callers arriving before the target is known (the node announces the proxy's URL before it
  // listens) wait for it instead of failing.
  #waiting: Array<(target: URL) => void> = [];
  port = 0;

  private constructor() {
    this.#server = createServer((req, res) => {
      this.#record(req, false);
      void this.#targetUrl().then((target) => {
        const upstream = httpRequest(
          {
            host: target.hostname,
            port: target.port,
            method: req.method,
            path: req.url,
            headers: { ...req.headers, host: target.host },
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        upstream.on('error', () => {
          if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('recording proxy: upstream failed');
        });
        req.pipe(upstream);
      });
    });
    this.#server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
      this.#record(req, true);
      this.#wss.handleUpgrade(req, socket, head, (client) => this.#relay(req, client));
    });
  }

  static async start(): Promise<RecordingProxy> {
    const proxy = new RecordingProxy();
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Where requests go from now on (and where those waiting for a target go). */
  retarget(url: string): void {
    const target = new URL(url);
    this.#target = target;
    for (const resume of this.#waiting.splice(0)) resume(target);
  }

  /** Every distinct (header, value) among CREDENTIAL_HEADERS the proxy saw. */
  credentialHeaders(): Array<{ name: string; value: string }> {
    return distinct(
      this.requests.flatMap((r) =>
        CREDENTIAL_HEADERS.filter((name) => r.headers[name] !== undefined).map((name) => ({
          name,
          value: r.headers[name] as string,
        })),
      ),
    );
  }

  /** Every distinct (connectionParams key, string value) the proxy saw. */
  connectionParams(): Array<{ name: string; value: string }> {
    return distinct(
      this.connectionInits.flatMap((init) =>
        Object.entries(init.payload)
          .filter((entry): entry is [string, string] => typeof entry[1] === 'string')
          .map(([name, value]) => ({ name, value })),
      ),
    );
  }

  async close(): Promise<void> {
    for (const client of this.#wss.clients) client.terminate();
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #targetUrl(): Promise<URL> {
    if (this.#target) return Promise.resolve(this.#target);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #record(req: IncomingMessage, websocket: boolean): void {
    this.requests.push({
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: flattenHeaders(req.headers),
      websocket,
    });
  }

  #relay(req: IncomingMessage, client: WebSocket): void {
    const pending: Array<{ data: RawData; binary: boolean }> = [];
    let upstream: WebSocket | undefined;
    client.on('message', (data, binary) => {
      if (!binary) this.#recordInit(req, data);
      if (upstream?.readyState === WebSocket.OPEN) upstream.send(data, { binary });
      else pending.push({ data, binary });
    });
    void this.#targetUrl().then((target) => {
      if (client.readyState !== WebSocket.OPEN) return;
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(flattenHeaders(req.headers))) {
        if (!HANDSHAKE_HEADERS.has(name)) headers[name] = value;
      }
      const to = new WebSocket(
        `ws://${target.host}${req.url ?? '/'}`,
        client.protocol === '' ? [] : [client.protocol],
        { headers },
      );
      upstream = to;
      to.on('open', () => {
        for (const { data, binary } of pending.splice(0)) to.send(data, { binary });
      });
      to.on('message', (data, binary) => client.send(data, { binary }));
      to.on('close', (code, reason) => closeWith(client, code, reason));
      to.on('error', () => client.terminate());
      client.on('close', (code, reason) => closeWith(to, code, reason));
      client.on('error', () => to.terminate());
    });
  }

  #recordInit(req: IncomingMessage, data: RawData): void {
    let message: unknown;
    try {
      message = JSON.parse(rawText(data));
    } catch {
      return;
    }
    if (!isRecord(message) || message['type'] !== 'connection_init') return;
    const payload = message['payload'];
    this.connectionInits.push({ url: req.url ?? '/', payload: isRecord(payload) ? payload : {} });
  }
}

function closeWith(socket: WebSocket, code: number, reason: Buffer): void {
  if (socket.readyState === WebSocket.CLOSED || socket.readyState === WebSocket.CLOSING) return;
  // 1005 (no code) and 1006 (abnormal) describe a close; they cannot be sent in one.
  if (code === 1005 || code === 1006) socket.terminate();
  else if (socket.readyState === WebSocket.CONNECTING) socket.terminate();
  else socket.close(code, reason);
}

function rawText(data: RawData): string {
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  if (data instanceof ArrayBuffer) return Buffer.from(data).toString('utf8');
  return data.toString('utf8');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function distinct<T extends { name: string; value: string }>(list: readonly T[]): T[] {
  const seen = new Set<string>();
  return list.filter((item) => {
    const key = `${item.name}\n${item.value}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
