// What scripts/buildWeb.ts writes: pages that refer only to their own assets, assets that refer to
// nothing on the internet (no CDN script, no web font, no remote stylesheet), and a build that is
// skipped while it is up to date.
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildWeb, WEB_DIST, webBuildIsStale } from '../../scripts/buildWeb.ts';
import { ensureWebBuilt } from '../helpers/browser.ts';

const ASSETS = path.join(WEB_DIST, 'web/assets');

beforeAll(async () => {
  await ensureWebBuilt();
});

describe('web build', () => {
  it('writes both pages, each loading only files of its own assets folder', async () => {
    for (const name of ['ide', 'dashboard']) {
      const html = await readFile(path.join(WEB_DIST, `${name}.html`), 'utf8');
      const refs = [...html.matchAll(/(?:src|href)="([^"]+)"/g)]
        .map((m) => m[1] as string)
        .filter((ref) => !ref.startsWith('data:'));
      expect(refs.length, name).toBeGreaterThanOrEqual(1);
      for (const ref of refs) {
        expect(ref, name).toMatch(/^web\/assets\/[\w.-]+$/);
        await expect(readFile(path.join(WEB_DIST, ref))).resolves.toBeInstanceOf(Buffer);
      }
    }
    const manifest = JSON.parse(await readFile(path.join(WEB_DIST, 'manifest.json'), 'utf8'));
    for (const worker of Object.values<string>(manifest.workers)) {
      await expect(readFile(path.join(WEB_DIST, worker))).resolves.toBeInstanceOf(Buffer);
    }
  });

  it('ships no reference to a remote script, stylesheet, font or module', async () => {
    const files = (await readdir(ASSETS)).filter((f) => /\.(js|css)$/.test(f));
    expect(files.length).toBeGreaterThan(3);
    const remote = /^(https?:)?\/\//;
    for (const file of files) {
      const text = await readFile(path.join(ASSETS, file), 'utf8');
      if (file.endsWith('.css')) {
        for (const [, url] of text.matchAll(/url\(\s*["']?([^"')]+)/g)) {
          expect(url, file).not.toMatch(remote);
        }
        expect(text, file).not.toMatch(/@import/);
      } else {
        // Static and dynamic imports, and scripts loaded by URL, stay relative.
        for (const [, spec] of text.matchAll(/\bimport\s*\(?\s*["']([^"']+)["']/g)) {
          expect(spec, file).not.toMatch(remote);
        }
        expect(text, file).not.toMatch(/importScripts\(\s*["']https?:/);
      }
      expect(text, file).not.toMatch(/fonts\.googleapis|cdn\.jsdelivr|unpkg\.com|esm\.sh\//);
    }
  });

  it('is not rebuilt while it is newer than its sources', async () => {
    expect(webBuildIsStale()).toBe(false);
    await expect(buildWeb({ onlyIfStale: true, log: () => undefined })).resolves.toEqual({
      built: false,
      outDir: WEB_DIST,
    });
  });
});
