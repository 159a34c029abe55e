// The GraphQL IDE at GET /graphql, in headless Chromium against a real cluster (central, one node
// and the gateway as processes: a node to go down is all the IDE needs, and each more was a process
// start beside the browser on two cores): it loads with nothing from beyond 127.0.0.1, documents
// the schema, runs a query with an Authorization header and a subscription over graphql-ws.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Cluster } from '../helpers/cluster.ts';
import {
  ensureWebBuilt,
  launchBrowser,
  openFencedPage,
  screenshot,
  type FencedPage,
} from '../helpers/browser.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
let browser: Browser;

beforeAll(async () => {
  await ensureWebBuilt();
  [cluster, browser] = await Promise.all([
    Cluster.start(leftovers, { nodes: ['node-a'], nodeTimeoutMs: 10_000 }),
    launchBrowser(leftovers),
  ]);
});
afterAll(() => leftovers.dispose());

async function openIde(): Promise<FencedPage> {
  const fenced = await openFencedPage(browser);
  leftovers.defer(() => fenced.context.close());
  const response = await fenced.page.goto(`${cluster.gatewayUrl}/graphql`);
  expect(response?.status()).toBe(200);
  expect(response?.headers()['content-type']).toContain('text/html');
  // The operation editor is Monaco, which GraphiQL loads lazily: once it shows text, every
  // script, style and worker has loaded.
  await fenced.page.locator('.graphiql-query-editor .view-lines').waitFor();
  return fenced;
}

/**
 * The IDE the first test loaded, for the next ones: each load is GraphiQL and Monaco (scripts,
 * styles, workers) parsed and laid out again, seconds of Chromium on a loaded machine, and what
 * the later tests check (a query, a subscription) is what a user does in an IDE already open. A
 * test run alone loads its own.
 */
let loaded: FencedPage | undefined;
const theIde = async (): Promise<FencedPage> => (loaded ??= await openIde());

const HEADERS_EDITOR = '.graphiql-editor-tool .graphiql-editor:not(.hidden)';

/** Replaces the content of a Monaco editor (the operation or the headers editor). */
async function setEditor(page: Page, selector: string, text: string): Promise<void> {
  // Forced: in an IDE already used, parts of the editor (its margin, the tools pane) lie over
  // the middle of the lines, which only places the cursor: the select-all below wins anyway.
  await page.locator(`${selector} .view-lines`).click({ force: true });
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(text);
}

/** The text the response pane shows, as the user sees it. */
async function responseText(page: Page): Promise<string> {
  return (await page.locator('.result-window .view-lines').innerText()).replace(/\u00a0/g, ' ');
}

describe('GraphQL IDE', () => {
  it('loads with no request leaving 127.0.0.1 and documents the schema', async () => {
    const { page, offsite, errors } = await theIde();
    await page.getByRole('button', { name: 'Show Documentation Explorer' }).click();
    const docs = page.locator('.graphiql-doc-explorer');
    await expect.poll(() => docs.innerText()).toMatch(/subscription:\s*Subscription/);
    await docs.getByText('Query', { exact: true }).first().click();
    await expect.poll(() => docs.innerText()).toContain('syncSessions');
    await screenshot(page, 'ide-docs');
    expect(offsite).toEqual([]);
    expect(errors).toEqual([]);
  });

  it('runs a query with an Authorization header and shows the result', async () => {
    const { page, offsite } = await theIde();
    await setEditor(page, '.graphiql-query-editor', 'query Me { me { username role } }');
    await page.getByRole('button', { name: 'Headers' }).click();
    await setEditor(
      page,
      HEADERS_EDITOR,
      JSON.stringify({ Authorization: `Bearer ${cluster.adminToken}` }),
    );
    await page.locator('.graphiql-execute-button').click();
    await expect.poll(() => responseText(page), { timeout: 15_000 }).toContain('"ADMIN"');
    expect(await responseText(page)).toContain('"username": "admin"');
    await screenshot(page, 'ide-query');
    expect(offsite).toEqual([]);
  });

  it('runs a subscription over graphql-ws with the header as its connection parameter', async () => {
    const { page, offsite } = await theIde();
    const sockets: string[] = [];
    page.on('websocket', (ws) => sockets.push(ws.url()));
    await setEditor(
      page,
      '.graphiql-query-editor',
      'subscription Nodes { nodeStatusChanged { name status } }',
    );
    await page.getByRole('button', { name: 'Headers' }).click();
    await setEditor(
      page,
      HEADERS_EDITOR,
      JSON.stringify({ Authorization: `Bearer ${cluster.adminToken}` }),
    );
    await page.locator('.graphiql-execute-button').click();
    await expect.poll(() => sockets.length).toBeGreaterThan(0);
    // The subscription is live once the gateway holds its upstream; then a node goes down.
    await cluster.waitForReady((report: any) => report.subscriptions?.upstream > 0);
    await cluster.killNode('node-a');
    await expect
      .poll(() => responseText(page), { timeout: 20_000 })
      .toMatch(/"name": "node-a",\s*"status": "OFFLINE"/);
    await screenshot(page, 'ide-subscription');
    expect(sockets.every((url) => url.startsWith(cluster.gatewayUrl.replace('http', 'ws')))).toBe(
      true,
    );
    expect(offsite).toEqual([]);
  });
});
