// Our servers' keep-alive: they tell clients 5 s and keep an idle connection 65 s, so that a client
// closing "its" idle socket late (a loaded machine) never sends a request on one the server is
// closing (the replication benchmark lost hundreds of posts per run to "other side closed").
import { Agent, createServer, request, type IncomingHttpHeaders } from 'node:http';
import { connect } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { closeServer, KEEP_ALIVE_KEPT_MS, KEEP_ALIVE_TOLD_S, listen } from '../../lib/http.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

async function startServer(answer: 'sync' | 'async') {
  const server = createServer((_req, res) => {
    const reply = () =>
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' }).end('ok');
    if (answer === 'sync') reply();
    else setImmediate(reply);
  });
  const port = await listen(server, 0);
  leftovers.add(server, (s) => closeServer(s));
  return { server, port };
}

function headersOf(port: number): Promise<IncomingHttpHeaders> {
  // A keep-alive client: without one, Node's client asks the server to close.
  const agent = new Agent({ keepAlive: true });
  leftovers.defer(() => agent.destroy());
  return new Promise((resolve, reject) => {
    request({ port, host: '127.0.0.1', path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.headers));
    })
      .on('error', reject)
      .end();
  });
}

describe('listen', () => {
  it.each(['sync', 'async'] as const)(
    'tells clients %s-answered responses 5 s and keeps idle connections a minute longer',
    async (answer) => {
      const { server, port } = await startServer(answer);
      const headers = await headersOf(port);
      expect(headers['keep-alive']).toBe(`timeout=${KEEP_ALIVE_TOLD_S}`);
      expect(headers['connection']).toBe('keep-alive');
      expect(server.keepAliveTimeout).toBe(KEEP_ALIVE_KEPT_MS);
      expect(KEEP_ALIVE_KEPT_MS).toBeGreaterThanOrEqual(KEEP_ALIVE_TOLD_S * 1000 + 60_000);
      // An idle connection is not cut by the headers timer before the keep-alive one.
      expect(server.headersTimeout).toBeGreaterThan(server.keepAliveTimeout);
    },
  );

  it('answers several requests on one connection with the header once each', async () => {
    const { port } = await startServer('async');
    const socket = connect(port, '127.0.0.1');
    leftovers.defer(() => void socket.destroy());
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')));
    socket.write('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n');
    await expect.poll(() => received.match(/\r\n\r\nok/g)?.length ?? 0).toBe(2);
    expect(received.match(/^keep-alive: timeout=5\r$/gim)).toHaveLength(2);
    expect(received).not.toMatch(/timeout=65/i);
  });
});
