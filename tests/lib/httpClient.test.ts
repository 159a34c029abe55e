// lib/httpClient.ts: JSON POSTs and liveness probes through undici's Agent and request API, loaded
// from two of its files rather than its index (issue 18), against a real HTTP server.
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answersOk, postJson } from '../../lib/httpClient.ts';
import { DIST } from '../../scripts/build.ts';

describe('httpClient', () => {
  let server: Server;
  let url: string;
  /** Requests the server holds without answering (closed after each test file). */
  const held: (() => void)[] = [];
  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        if (req.url === '/never') {
          held.push(() => res.end());
          return;
        }
        if (req.url?.startsWith('/down')) {
          res.writeHead(503).end();
          return;
        }
        res.setHeader('X-Echo', req.headers['x-caller'] ?? '');
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ method: req.method, path: req.url, body }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    for (const release of held) release();
    await new Promise((resolve) => server.close(resolve));
  });

  it('posts JSON to the path and query of the URL and reads the whole answer', async () => {
    const response = await postJson(`${url}/graphql?x=1`, '{"a":1}', { 'x-caller': 'test' }, 5000);
    expect(response.status).toBe(200);
    expect(response.headers['x-echo']).toBe('test');
    expect(JSON.parse(response.body)).toEqual({
      method: 'POST',
      path: '/graphql?x=1',
      body: '{"a":1}',
    });
  });

  it('names a passed deadline TimeoutError and a cancel AbortError', async () => {
    await expect(postJson(`${url}/never`, '{}', {}, 50)).rejects.toMatchObject({
      name: 'TimeoutError',
    });
    const cancel = new AbortController();
    const posted = postJson(`${url}/never`, '{}', {}, 5000, cancel.signal);
    cancel.abort();
    await expect(posted).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('keeps the code of a connection error', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    await expect(postJson(`http://127.0.0.1:${port}/`, '{}', {}, 5000)).rejects.toMatchObject({
      code: 'ECONNREFUSED',
    });
  });

  it('answersOk: true on 2xx only', async () => {
    expect(await answersOk(`${url}/health`, 5000)).toBe(true);
    expect(await answersOk(`${url}/down`, 5000)).toBe(false);
  });

  it("does not load undici's index (all of undici) in a fresh process", async () => {
    const script = `
import { createRequire } from 'node:module';
const { postJson } = await import(${JSON.stringify(`${DIST}/lib/httpClient.js`)});
const response = await postJson(process.argv[1] + '/x', '{}', {}, 5000);
const require = createRequire(${JSON.stringify(`${DIST}/lib/httpClient.js`)});
process.stdout.write(JSON.stringify({
  status: response.status,
  indexLoaded: require.cache[require.resolve('undici')] !== undefined,
}));
process.exit(0);
`;
    const { stdout } = await promisify(execFile)(process.execPath, [
      '--input-type=module',
      '-e',
      script,
      url,
    ]);
    expect(JSON.parse(stdout)).toEqual({ status: 200, indexLoaded: false });
  });
});
