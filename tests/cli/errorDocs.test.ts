// docs/errors.md is generated from the registry: it must list exactly the codes the code raises.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { errorCodes } from '../../lib/errors.ts';
import { errorDocs } from '../../scripts/errorDocs.ts';

describe('docs/errors.md', () => {
  it('is up to date with lib/errors.ts (run `npm run docs:errors`)', async () => {
    const docs = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
    expect(docs).toBe(await errorDocs());
    for (const code of Object.keys(errorCodes)) expect(docs).toContain(`\`${code}\``);
  });
});
