// Serves the browser pages that scripts/buildWeb.ts bundled into dist/web: the GraphQL IDE
// on GET /graphql for browsers (Accept: text/html), the sync dashboard on GET /dashboard and their
// assets under /web/assets/. Every asset name carries a content hash, so assets are cached for a
// year and pages not at all: a new build is picked up on the next page load.
import { createReadStream, type Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { packagePath } from '../../lib/packageRoot.ts';

export interface WebOptions {
  /** The folder buildWeb wrote. @default dist/web */
  readonly distDir?: string;
}

/** Returns true when the request was one of the web pages or assets (and is being answered). */
export type WebHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

const DEFAULT_DIST = packagePath('dist', 'web');
const ASSET_PREFIX = '/web/assets/';
/** The names buildWeb gives files: no separators, no dot-files, so no way out of the folder. */
const ASSET_NAME = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.ttf': 'font/ttf',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.png': 'image/png',
};

// The pages load nothing but their own origin: the browser itself refuses any other script,
// style, font or connection. Monaco sets inline styles, hence 'unsafe-inline' for styles only.
const PAGE_HEADERS = {
  'cache-control': 'no-cache',
  'content-security-policy': [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self' 'unsafe-inline'",
    "font-src 'self' data:",
    "img-src 'self' data:",
    "connect-src 'self' ws: wss:",
    "worker-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

const ASSET_HEADERS = {
  'cache-control': 'public, max-age=31536000, immutable',
  'x-content-type-options': 'nosniff',
};

function wantsHtml(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('text/html');
}

async function statFile(file: string): Promise<Stats | undefined> {
  try {
    const stats = await stat(file);
    return stats.isFile() ? stats : undefined;
  } catch {
    return undefined;
  }
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'cache-control': 'no-cache',
  });
  res.end(text);
}

async function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: string,
  headers: Record<string, string>,
): Promise<boolean> {
  const type = CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream';
  const gzipAccepted = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
  const gzipped = gzipAccepted ? await statFile(`${file}.gz`) : undefined;
  const plain = gzipped ? undefined : await statFile(file);
  const stats = gzipped ?? plain;
  if (!stats) return false;
  res.writeHead(200, {
    ...headers,
    'content-type': type,
    'content-length': String(stats.size),
    vary: 'accept-encoding',
    ...(gzipped ? { 'content-encoding': 'gzip' } : {}),
  });
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(gzipped ? `${file}.gz` : file);
    stream.once('error', reject);
    res.once('close', () => {
      stream.destroy();
      resolve();
    });
    stream.pipe(res);
  });
  return true;
}

export function createWebHandler(options: WebOptions = {}): WebHandler {
  const distDir = options.distDir ?? DEFAULT_DIST;

  const servePage = async (req: IncomingMessage, res: ServerResponse, name: string) => {
    if (await sendFile(req, res, path.join(distDir, `${name}.html`), PAGE_HEADERS)) return;
    sendText(
      res,
      503,
      'The web pages are not built yet: run `npm run build` (npm install does it too).\n',
    );
  };

  const serveAsset = async (req: IncomingMessage, res: ServerResponse, name: string) => {
    const file = path.join(distDir, 'web/assets', name);
    if (ASSET_NAME.test(name) && (await sendFile(req, res, file, ASSET_HEADERS))) return;
    sendText(res, 404, 'not found\n');
  };

  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return false;
    const pathname = (req.url ?? '/').split('?')[0] ?? '/';
    let answer: Promise<void>;
    if (pathname === '/graphql' && wantsHtml(req)) answer = servePage(req, res, 'ide');
    else if (pathname === '/dashboard') answer = servePage(req, res, 'dashboard');
    else if (pathname === '/dashboard/') {
      // The pages load their assets relative to themselves: one canonical URL keeps that simple.
      res.writeHead(308, { location: '../dashboard' });
      res.end();
      return true;
    } else if (pathname.startsWith(ASSET_PREFIX)) {
      answer = serveAsset(req, res, pathname.slice(ASSET_PREFIX.length));
    } else return false;
    answer.catch(() => {
      if (!res.headersSent) sendText(res, 500, 'internal server error\n');
      else res.destroy();
    });
    return true;
  };
}

/** The gateway's handler, serving dist/web. */
export const serveWeb: WebHandler = createWebHandler();
