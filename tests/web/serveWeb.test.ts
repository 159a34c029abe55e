// The gateway's web handler on a real HTTP server over a dist folder written here: which requests
// it takes, the headers it sends (types, caching, CSP, gzip) and the paths it refuses.
import { mkdir, writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createWebHandler } from '../../gateway/web/serveWeb.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
const SCRIPT = `console.log(${JSON.stringify('x'.repeat(4000))});\n`;

interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** Raw requests: fetch would normalise `..` away before the server saw it. */
function send(
  base: string,
  method: string,
  rawPath: string,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const url = new URL(base);
    const req = request(
      { host: url.hostname, port: url.port, method, path: rawPath, headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function serve(distDir: string): Promise<string> {
  const handler = createWebHandler({ distDir });
  const server = createServer((req, res) => {
    if (handler(req, res)) return;
    // Whatever the handler leaves is the gateway's: GraphQL, /health...
    res.writeHead(418, { 'content-type': 'text/plain' });
    res.end('not web');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  leftovers.defer(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

let base: string;
let unbuilt: string;

beforeAll(async () => {
  const dist = await leftovers.tempDir('switchboard-web-');
  await mkdir(path.join(dist, 'web/assets'), { recursive: true });
  await writeFile(path.join(dist, 'ide.html'), '<!doctype html><title>IDE</title>');
  await writeFile(path.join(dist, 'dashboard.html'), '<!doctype html><title>Dashboard</title>');
  await writeFile(path.join(dist, 'web/assets/app-ABC123.js'), SCRIPT);
  await writeFile(path.join(dist, 'web/assets/app-ABC123.js.gz'), gzipSync(SCRIPT));
  await writeFile(path.join(dist, 'web/assets/style-XYZ.css'), 'body{margin:0}');
  await writeFile(path.join(dist, 'web/assets/.secret'), 'hidden');
  base = await serve(dist);
  unbuilt = await serve(path.join(dist, 'missing'));
});
afterAll(() => leftovers.dispose());

describe('web handler', () => {
  it('serves the IDE on GET /graphql to browsers only, with no-cache and a same-origin CSP', async () => {
    const page = await send(base, 'GET', '/graphql', { accept: 'text/html,application/xhtml+xml' });
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('<title>IDE</title>');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['content-security-policy']).toContain("default-src 'self'");
    expect(page.headers['content-security-policy']).toContain("connect-src 'self' ws: wss:");
    const withQuery = await send(base, 'GET', '/graphql?query=%7B__typename%7D', {
      accept: 'text/html',
    });
    expect(withQuery.body.toString()).toContain('<title>IDE</title>');
    // GraphQL clients (JSON), POSTs and anything else stay with the gateway.
    expect((await send(base, 'GET', '/graphql', { accept: 'application/json' })).status).toBe(418);
    expect((await send(base, 'GET', '/graphql')).status).toBe(418);
    expect((await send(base, 'POST', '/graphql', { accept: 'text/html' })).status).toBe(418);
    expect((await send(base, 'GET', '/health', { accept: 'text/html' })).status).toBe(418);
  });

  it('serves the dashboard on /dashboard and sends /dashboard/ there', async () => {
    const page = await send(base, 'GET', '/dashboard');
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('<title>Dashboard</title>');
    const slash = await send(base, 'GET', '/dashboard/');
    expect(slash.status).toBe(308);
    expect(new URL(slash.headers.location ?? '', `${base}/dashboard/`).pathname).toBe('/dashboard');
    const head = await send(base, 'HEAD', '/dashboard');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(Number(head.headers['content-length'])).toBe(page.body.length);
  });

  it('serves hashed assets with their type, a year of caching and gzip when accepted', async () => {
    const plain = await send(base, 'GET', '/web/assets/app-ABC123.js');
    expect(plain.status).toBe(200);
    expect(plain.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(plain.headers['cache-control']).toBe('public, max-age=31536000, immutable');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toBe(SCRIPT);
    const gzipped = await send(base, 'GET', '/web/assets/app-ABC123.js', {
      'accept-encoding': 'gzip, deflate, br',
    });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gzipped.headers.vary).toBe('accept-encoding');
    expect(gunzipSync(gzipped.body).toString()).toBe(SCRIPT);
    expect(gzipped.body.length).toBeLessThan(plain.body.length);
    // No .gz beside it: the plain file, whatever the client accepts.
    const css = await send(base, 'GET', '/web/assets/style-XYZ.css', { 'accept-encoding': 'gzip' });
    expect(css.headers['content-type']).toBe('text/css; charset=utf-8');
    expect(css.headers['content-encoding']).toBeUndefined();
    expect(css.body.toString()).toBe('body{margin:0}');
  });

  it('refuses anything that is not a file of the assets folder', async () => {
    for (const raw of [
      '/web/assets/missing-1.js',
      '/web/assets/../ide.html',
      '/web/assets/..%2Fide.html',
      '/web/assets/%2e%2e/ide.html',
      '/web/assets/.secret',
      '/web/assets/',
      '/web/assets/sub/app-ABC123.js',
    ]) {
      const answer = await send(base, 'GET', raw);
      expect(answer.status, raw).toBe(404);
      expect(answer.body.toString(), raw).not.toContain('<title>');
      expect(answer.body.toString(), raw).not.toContain('hidden');
    }
  });

  it('says how to build the pages when dist is missing', async () => {
    const page = await send(unbuilt, 'GET', '/dashboard');
    expect(page.status).toBe(503);
    expect(page.body.toString()).toContain('npm run build');
    expect((await send(unbuilt, 'GET', '/web/assets/app-ABC123.js')).status).toBe(404);
  });
});
