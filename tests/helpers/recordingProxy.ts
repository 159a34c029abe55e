// A recording proxy in front of a real chat node: registered as the node's public URL, it sees
// everything the gateway sends that node (HTTP headers, graphql-ws connection_init payloads), as a
// rogue node would, and passes it on unchanged so the cluster keeps working.
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { baseUrl, closeServer, listen } from '../../lib/http.ts';
import type { Leftovers } from './leftovers.ts';

export interface RecordingProxy {
  readonly url: string;
  /** Headers of every HTTP request, in arrival order. */
  readonly requests: IncomingHttpHeaders[];
  /** The payload of every graphql-ws connection_init. */
  readonly connectionParams: Array<Record<string, unknown>>;
}

export async function startRecordingProxy(
  leftovers: Leftovers,
  target: () => string,
): Promise<RecordingProxy> {
  const requests: IncomingHttpHeaders[] = [];
  const connectionParams: Array<Record<string, unknown>> = [];
  const http = createServer((req, res) => {
    requests.push({ ...req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) {
        if (typeof value === 'string' && !['host', 'connection', 'content-length'].includes(name))
          headers[name] = value;
      }
      const body = Buffer.concat(chunks);
      fetch(`${target()}${req.url ?? '/'}`, {
        method: req.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      })
        .then(async (answer) => {
          res.writeHead(answer.status, {
            'content-type': answer.headers.get('content-type') ?? '',
          });
          res.end(Buffer.from(await answer.arrayBuffer()));
        })
        .catch(() => res.destroy());
    });
  });
  const wss = new WebSocketServer({ server: http });
  wss.on('connection', (client, req) => {
    const upstream = new WebSocket(
      `${target().replace(/^http/, 'ws')}${req.url ?? '/graphql'}`,
      client.protocol,
    );
    const early: RawData[] = [];
    client.on('message', (data: RawData, isBinary: boolean) => {
      try {
        const message = JSON.parse(Buffer.from(data as Buffer).toString('utf8')) as {
          type?: string;
          payload?: unknown;
        };
        if (message.type === 'connection_init')
          connectionParams.push((message.payload ?? {}) as Record<string, unknown>);
      } catch {
        // Not JSON: passed on as it is.
      }
      if (upstream.readyState === WebSocket.OPEN) upstream.send(data, { binary: isBinary });
      else early.push(data);
    });
    upstream.on('open', () => {
      for (const data of early.splice(0)) upstream.send(data, { binary: false });
    });
    upstream.on('message', (data: RawData, isBinary: boolean) =>
      client.send(data, { binary: isBinary }),
    );
    upstream.on('close', (code, reason) =>
      client.close(code >= 1000 && code < 5000 && code !== 1005 ? code : 1000, reason),
    );
    client.on('close', () => upstream.close());
    upstream.on('error', () => client.terminate());
  });
  const port = await listen(http, 0, '127.0.0.1');
  leftovers.defer(async () => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    await closeServer(http);
  });
  return { url: baseUrl('127.0.0.1', port), requests, connectionParams };
}
