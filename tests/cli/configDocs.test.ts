// The README's configuration table is generated from the option specs: it must match them.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readmeWithConfig } from '../../scripts/configDocs.ts';

describe('README configuration table', () => {
  it('lists every flag and environment variable with its default (run `npm run docs:config`)', async () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    expect(readme).toBe(await readmeWithConfig());
    for (const flag of ['--database-url', '--api-key', '--node-timeout-ms', '--password'])
      expect(readme).toContain(`\`${flag}\``);
  });
});
