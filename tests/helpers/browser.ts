// Headless Chromium (Debian's `chromium` package, driven by playwright-core) for the web page
// tests. Every page opened here is fenced to 127.0.0.1: any request elsewhere is aborted and
// recorded, so a test can assert that the pages need no internet.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { buildWeb } from '../../scripts/buildWeb.ts';
import type { Leftovers } from './leftovers.ts';

export const CHROMIUM = process.env['SWITCHBOARD_CHROMIUM'] ?? '/usr/bin/chromium';

/** Where screenshots go; gitignored. */
export const TEST_OUTPUT = path.resolve(
  process.env['SWITCHBOARD_TEST_OUTPUT'] ??
    fileURLToPath(new URL('../../test-output', import.meta.url)),
);

/** Builds dist/web when it is missing or older than its sources (`npm test` does too). */
export async function ensureWebBuilt(): Promise<void> {
  await buildWeb({ onlyIfStale: true });
}

export async function launchBrowser(leftovers: Leftovers): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}: apt-get install chromium (or set SWITCHBOARD_CHROMIUM)`,
    );
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  leftovers.defer(() => browser.close());
  return browser;
}

export interface FencedPage {
  readonly context: BrowserContext;
  readonly page: Page;
  /** Every URL the page (or its workers) tried to reach beyond 127.0.0.1; aborted. */
  readonly offsite: string[];
  /** Uncaught page errors and console errors, for failure messages. */
  readonly errors: string[];
}

function isLocal(url: string): boolean {
  const { protocol, hostname } = new URL(url);
  if (protocol === 'data:' || protocol === 'blob:' || protocol === 'about:') return true;
  return hostname === '127.0.0.1' || hostname === 'localhost' || hostname === '[::1]';
}

export async function openFencedPage(browser: Browser): Promise<FencedPage> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const offsite: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (isLocal(url)) await route.continue();
    else {
      offsite.push(url);
      await route.abort('blockedbyclient');
    }
  });
  await context.routeWebSocket(/.*/, (ws) => {
    if (isLocal(ws.url())) ws.connectToServer();
    else {
      offsite.push(ws.url());
      void ws.close();
    }
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  return { context, page, offsite, errors };
}

/**
 * Whether `screenshot` saves anything: only when SWITCHBOARD_TEST_SCREENSHOTS is set (not "0").
 * No test reads them back; they are for a person looking at the pages, and each full-page PNG is
 * Chromium's CPU (measured on dashboard.e2e, its 11: about 2.4 of 31 CPU-s) in every run (#18).
 */
const SCREENSHOTS = !['', '0'].includes(process.env['SWITCHBOARD_TEST_SCREENSHOTS'] ?? '');

/**
 * Saves a full-page screenshot as test-output/web/<name>.png and returns its path; when
 * SCREENSHOTS is off, saves nothing and returns undefined.
 */
export async function screenshot(page: Page, name: string): Promise<string | undefined> {
  if (!SCREENSHOTS) return undefined;
  const dir = path.join(TEST_OUTPUT, 'web');
  const file = path.join(dir, `${name.replace(/[^\w.-]+/g, '-')}.png`);
  await mkdir(dir, { recursive: true });
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
