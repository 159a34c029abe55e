// The sync dashboard at GET /dashboard, in headless Chromium against a real cluster (central,
// three nodes and the gateway as processes). One admin session walks through the page as an
// operator would: log in, see the nodes, see the replication charts drawn and growing live, run a
// full sync and watch it complete live, lose a node and see it go OFFLINE live, see a version a
// node quarantined appear live, then see the error of a sync the offline node cannot run, and a
// node restarted with its clock two minutes ahead raise the clock-skew alert until it runs right.
import { readFile } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ensureWebBuilt,
  launchBrowser,
  openFencedPage,
  screenshot,
  type FencedPage,
} from '../helpers/browser.ts';
import { ADMIN_PASSWORD } from '../helpers/central.ts';
import { Cluster } from '../helpers/cluster.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { silentLogger } from '../../lib/log.ts';
import { startGateway } from '../../gateway/server.ts';
import { composeSupergraph } from '../../scripts/supergraph.ts';
import { SYNC_REPORT_PATH, type QuarantinedVersion } from '../../lib/syncProtocol.ts';
import { postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
let cluster: Cluster;
let browser: Browser;
let fenced: FencedPage;
let page: Page;
const roomIds = new Map<string, string>();

async function asAdmin<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  return ok(await gql<T>(cluster.gatewayUrl, query, variables, { token: cluster.adminToken }));
}

beforeAll(async () => {
  await ensureWebBuilt();
  [cluster, browser] = await Promise.all([
    Cluster.start(leftovers, { nodeTimeoutMs: 10_000 }),
    launchBrowser(leftovers),
  ]);
  // Rooms homed on two nodes, each kept by every node, with messages: pairs for a sync to move.
  for (const home of ['node-a', 'node-b']) {
    const { createRoom } = await asAdmin<{ createRoom: { id: string } }>(
      'mutation($n: String!, $h: ID) { createRoom(name: $n, homeNodeId: $h) { id } }',
      { n: `room on ${home}`, h: cluster.node(home).id },
    );
    roomIds.set(home, createRoom.id);
    for (let i = 0; i < 3; i++) {
      await asAdmin(
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        {
          r: createRoom.id,
          c: `hello ${i} from ${home}`,
        },
      );
    }
  }
  fenced = await openFencedPage(browser);
  leftovers.defer(() => fenced.context.close());
  page = fenced.page;
});
afterAll(() => leftovers.dispose());

const nodeRow = (name: string) => page.locator(`tr[data-node="${name}"]`);

describe('sync dashboard', () => {
  it('refuses a wrong password with the error next to the form', async () => {
    const response = await page.goto(`${cluster.gatewayUrl}/dashboard`);
    expect(response?.status()).toBe(200);
    await page.getByLabel('Username').fill('admin');
    await page.getByLabel('Password').fill('not the password');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect
      .poll(() => page.locator('[data-error-for="login"]').textContent())
      .toContain('(UNAUTHENTICATED)');
    await screenshot(page, 'dashboard-login-error');
  });

  it('logs in as admin and lists the three nodes as ONLINE', async () => {
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Log in' }).click();
    for (const name of ['node-a', 'node-b', 'node-c']) {
      await nodeRow(name).and(page.locator('[data-status="ONLINE"]')).waitFor();
    }
    await page.locator('[data-live="live"]').waitFor();
    await screenshot(page, 'dashboard-nodes');
    expect(fenced.offsite).toEqual([]);
  });

  it('draws versions/s and lag per pair from the replicated posts, and grows live', async () => {
    const throughput = page.locator('figure[data-chart="throughput"]');
    const lag = page.locator('figure[data-chart="lag"]');
    const number = async (figure: typeof throughput, name: string) =>
      Number(await figure.getAttribute(name));
    // The six posts reached the two other nodes by live replication: each is applied once on each
    // of them (12 versions), and those were new messages, so their lag is measured too. Which pairs
    // carry them varies: a stream serves what its source received from a third node too, so on a
    // loaded machine node-c may get node-a's posts from node-b first (once seen in a full run:
    // 3 pairs). node-a and node-b each sent to someone: at least two pairs.
    await expect
      .poll(() => number(throughput, 'data-versions'), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(12);
    expect(await number(throughput, 'data-series')).toBeGreaterThanOrEqual(2);
    expect(await number(throughput, 'data-points')).toBeGreaterThan(0);
    // Two series per pair (p50, p99), the same pairs.
    expect(await number(lag, 'data-series')).toBe(2 * (await number(throughput, 'data-series')));
    expect(await number(lag, 'data-points')).toBeGreaterThan(0);
    // uPlot drew them: a canvas and a legend line per pair. React sets the figure's attributes at
    // commit and uPlot rebuilds the chart in an effect after it, so the legend can trail by a frame.
    expect(await throughput.locator('canvas').count()).toBe(1);
    await expect
      .poll(async () => {
        const legend = await throughput.locator('.u-legend .u-series').allInnerTexts();
        return legend.some((line) => /node-[ab] → node-[abc]/.test(line));
      })
      .toBe(true);
    // More posts: the page reads the newest buckets again on the sessions' events, no reload.
    const before = await number(throughput, 'data-versions');
    for (let i = 0; i < 4; i++) {
      await asAdmin(
        'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
        {
          r: roomIds.get('node-a'),
          c: `more ${i}`,
        },
      );
    }
    // Each reaches node-b and node-c: 8 more versions.
    await expect
      .poll(() => number(throughput, 'data-versions'), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(before + 8);
    await screenshot(page, 'dashboard-replication-chart');
  });

  it('"Full sync all nodes" shows the sessions reaching COMPLETED without a reload', async () => {
    const navigations: string[] = [];
    page.on('framenavigated', (frame) => navigations.push(frame.url()));
    const before = new Set(
      await page
        .locator('tr[data-session]')
        .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-session'))),
    );
    // Rows changing status in place are the live updates (a re-render from scratch would add rows).
    await page.evaluate(() => {
      const changes: string[] = [];
      const seen: string[] = [];
      (window as unknown as { statusChanges: string[] }).statusChanges = changes;
      // What the request note and the pairs' Running cells said at any moment: sessions can end
      // before a poll looks, so the page's own observer keeps every text they showed.
      (window as unknown as { seenTexts: string[] }).seenTexts = seen;
      new MutationObserver((records) => {
        for (const record of records) {
          const row =
            record.target instanceof Element ? record.target : record.target.parentElement;
          if (record.type === 'attributes' && row?.matches('tr[data-session]')) {
            changes.push(`${record.oldValue}>${row.getAttribute('data-status')}`);
          }
        }
        for (const cell of document.querySelectorAll(
          '[data-running], [data-action="all-full"] [role="status"]',
        )) {
          seen.push(cell.textContent ?? '');
        }
      }).observe(document.body, {
        subtree: true,
        childList: true,
        characterData: true,
        attributes: true,
        attributeFilter: ['data-status'],
        attributeOldValue: true,
      });
    });
    await page.getByRole('button', { name: 'Full sync all nodes' }).click();
    const seenTexts = () =>
      page.evaluate(() => (window as unknown as { seenTexts: string[] }).seenTexts);
    // The mutation's answer, on a loaded machine, may take longer than poll's default second.
    await expect
      .poll(async () => (await seenTexts()).some((t) => /\d+ sessions? requested/.test(t)), {
        timeout: 15_000,
      })
      .toBe(true);
    // Every listed session, those the click started (FULL, MANUAL) and any a write started
    // before (CHANGE), reaches COMPLETED on the page.
    const rows = page.locator('tr[data-session]');
    await expect
      .poll(
        async () => {
          const statuses = await rows.evaluateAll((all) =>
            all.map((r) => r.getAttribute('data-status')),
          );
          return statuses.length > 0 && statuses.every((s) => s === 'COMPLETED');
        },
        { timeout: 60_000 },
      )
      .toBe(true);
    const changes = await page.evaluate(
      () => (window as unknown as { statusChanges: string[] }).statusChanges,
    );
    expect(
      changes.filter((c) => /^(PENDING|IN_PROGRESS)>COMPLETED$/.test(c)).length,
    ).toBeGreaterThan(0);
    // A finished session's bar is full; one that had nothing to pull shows 0 / 0 and no bar.
    const bars = await rows
      .locator('progress')
      .evaluateAll((all) => all.map((bar) => (bar as HTMLProgressElement).value));
    expect(bars.every((value) => value === 1)).toBe(true);
    for (const empty of await rows.locator('.progress.empty').all()) {
      expect(await empty.textContent()).toBe('0 / 0');
    }
    // The pairs' Running column showed the FULL sessions while they ran, and the request note
    // went away once they all ended.
    expect((await seenTexts()).some((t) => /^FULL (PENDING|IN_PROGRESS)/.test(t))).toBe(true);
    await expect
      .poll(() => page.locator('[data-action="all-full"] [role="status"]').count())
      .toBe(0);
    // The trigger filter lists only the chosen trigger's sessions, with its count.
    const manualFilter = page.locator('[data-trigger-filter="MANUAL"]');
    expect(await manualFilter.textContent()).toMatch(/^manual \(\d+\)$/);
    await manualFilter.click();
    const triggers = await page
      .locator('tr[data-session] td:nth-child(3)')
      .evaluateAll((cells) => cells.map((c) => c.textContent));
    expect(triggers.length).toBeGreaterThan(0);
    expect(triggers.every((t) => t === 'MANUAL')).toBe(true);
    await screenshot(page, 'dashboard-manual-filter');
    await page.locator('[data-trigger-filter="ALL"]').click();
    const started = page.locator('tr[data-session]', { hasText: 'MANUAL' });
    expect(await started.count()).toBeGreaterThan(0);
    const ids = await started.evaluateAll((rows) =>
      rows.map((r) => r.getAttribute('data-session')),
    );
    expect(ids.some((id) => !before.has(id))).toBe(true);
    // The page learnt all that live: it never navigated.
    expect(navigations).toEqual([]);
    // What the page shows is what central says.
    const { syncSessions } = await asAdmin<{ syncSessions: { id: string; status: string }[] }>(
      '{ syncSessions(last: 20) { id status } }',
    );
    for (const id of ids) {
      expect(syncSessions.find((s) => s.id === id)?.status).toBe('COMPLETED');
    }
    await expect
      .poll(() => page.locator('tr[data-pair]').count(), { timeout: 15_000 })
      .toBeGreaterThan(0);
    await screenshot(page, 'dashboard-full-sync');
  });

  it('lists the versions a node quarantined, with node names, message id and reason, live', async () => {
    const panel = page.locator('section', { hasText: 'Quarantined versions' });
    await expect.poll(() => panel.innerText()).toContain('No version is quarantined');
    const { syncSessions, rooms } = await asAdmin<{
      syncSessions: {
        id: string;
        status: string;
        sourceNode: { name: string };
        targetNode: { name: string };
      }[];
      rooms: { id: string; homeNode: { name: string } }[];
    }>(
      '{ syncSessions(last: 50) { id status sourceNode { name } targetNode { name } } rooms { id homeNode { name } } }',
    );
    const session = syncSessions.find(
      (s) =>
        s.sourceNode.name === 'node-a' &&
        s.targetNode.name === 'node-b' &&
        s.status === 'COMPLETED',
    );
    const room = rooms.find((r) => r.homeNode.name === 'node-a');
    if (!session || !room)
      throw new Error('no completed node-a -> node-b session or room on node-a');
    // node-b tells central, as its sync would, that it kept a forged version aside.
    const forged: QuarantinedVersion = {
      messageId: '01900000-0000-7000-8000-00000000beef',
      roomId: room.id,
      hlc: `${String(Date.now()).padStart(15, '0')}:00000000:${cluster.node('node-a').id}`,
      seq: 1,
      reason: 'senderId is not a member of the room at its createdAt',
    };
    const answer = await postAsNode(
      cluster.centralUrl,
      cluster.node('node-b').apiKey,
      SYNC_REPORT_PATH,
      {
        sessionId: session.id,
        status: 'COMPLETED',
        messagesSynced: 0,
        applied: [],
        cursor: 0,
        quarantined: [forged],
      },
    );
    expect(answer.status).toBe(200);
    const row = page.locator(`tr[data-quarantined="${forged.messageId}"]`);
    await row.waitFor({ timeout: 15_000 });
    const text = await row.innerText();
    expect(text).toContain('node-a → node-b');
    expect(text).toContain(forged.reason);
    expect(text).toContain(forged.messageId);
    await screenshot(page, 'dashboard-quarantined');
  });

  it('shows a node going OFFLINE live when its process dies', async () => {
    await cluster.killNode('node-c', 'SIGKILL');
    await nodeRow('node-c')
      .and(page.locator('[data-status="OFFLINE"]'))
      .waitFor({ timeout: 30_000 });
    await expect.poll(() => nodeRow('node-a').getAttribute('data-status')).toBe('ONLINE');
    await screenshot(page, 'dashboard-node-offline');
  });

  it('shows the error of a failed sync next to its button', async () => {
    await page.getByRole('button', { name: 'Sync node-c' }).click();
    const error = nodeRow('node-c').locator('[role="alert"]');
    await expect.poll(() => error.textContent()).toContain('(NODE_UNAVAILABLE)');
    expect(await error.textContent()).toContain('node-c');
    // Only that button shows it.
    expect(await page.locator('[data-action="all-full"] [role="alert"]').count()).toBe(0);
    await screenshot(page, 'dashboard-button-error');
    expect(fenced.offsite).toEqual([]);
  });

  it('raises the clock-skew alert for a node whose clock runs ahead, and drops it once it is right', async () => {
    const alert = page.locator('[data-clock-alert="node-b"]');
    expect(await alert.count()).toBe(0);
    // node-b restarted with its wall clock two minutes ahead, beyond the 60 s bound.
    await cluster.killNode('node-b', 'SIGTERM');
    await cluster.startNode('node-b', ['--clock-offset-ms', '120000']);
    await alert.waitFor({ timeout: 30_000 });
    expect(await alert.innerText()).toMatch(
      /node-b's clock is 1\d\d\.\d s ahead of central's \(allowed: 60\.0 s\): it refuses writes/,
    );
    expect(await alert.getAttribute('role')).toBe('alert');
    expect(await nodeRow('node-b').locator('td.clock').getAttribute('data-clock-skewed')).toBe(
      'true',
    );
    expect(await nodeRow('node-a').locator('td.clock').getAttribute('data-clock-skewed')).toBe(
      'false',
    );
    // What the page shows is what central says.
    const { nodes } = await asAdmin<{
      nodes: { name: string; clockOffsetMs: number | null; clockSkewed: boolean }[];
    }>('{ nodes { name clockOffsetMs clockSkewed } }');
    const skewed = nodes.find((n) => n.name === 'node-b');
    expect(skewed?.clockSkewed).toBe(true);
    expect(skewed?.clockOffsetMs).toBeLessThan(-60_000);
    await screenshot(page, 'dashboard-clock-skew');
    // Restarted with its clock right: the alert goes, live.
    await cluster.killNode('node-b', 'SIGTERM');
    await cluster.startNode('node-b');
    await alert.waitFor({ state: 'detached', timeout: 30_000 });
    await expect
      .poll(() => nodeRow('node-b').locator('td.clock').getAttribute('data-clock-skewed'))
      .toBe('false');
    expect(await page.locator('[data-clock-alert]').count()).toBe(0);
    await screenshot(page, 'dashboard-clock-right');
  });

  it('works without syncPairs, saying so in that section only', async () => {
    // A gateway whose central schema predates syncPairs refuses the query as invalid.
    const centralSdl = (
      await readFile(new URL('../../schema/central.graphql', import.meta.url), 'utf8')
    )
      .replace(/^.*"ADMIN only\. Every ordered pair.*\n/m, '')
      .replace(/^\s*syncPairs: \[SyncPair!\]!\n/m, '');
    expect(centralSdl).not.toContain('syncPairs');
    const older = leftovers.add(
      await startGateway({
        centralUrl: cluster.centralUrl,
        gatewaySecret: cluster.secret,
        supergraph: composeSupergraph({ central: centralSdl }),
        logger: silentLogger,
      }),
      (g) => g.close(),
    );
    const other = await fenced.context.newPage();
    await other.goto(`${older.url}/dashboard`);
    await other.getByLabel('Password').fill(ADMIN_PASSWORD);
    await other.getByRole('button', { name: 'Log in' }).click();
    await other.locator('tr[data-node="node-a"][data-status="ONLINE"]').waitFor();
    const pairs = other.locator('section', { hasText: 'How far behind each pair is' });
    await expect
      .poll(() => pairs.innerText())
      .toMatch(/Not available from this gateway: .*\(GRAPHQL_VALIDATION_FAILED\)/);
    // The sessions section loads on its own: it fills in, the missing field notwithstanding.
    await expect.poll(() => other.locator('tr[data-session]').count()).toBeGreaterThan(0);
    expect(await other.locator('[role="alert"]').count()).toBe(0);
    await screenshot(other, 'dashboard-without-sync-pairs');
  });
});
