// The gateway's supergraph comes from dist/supergraph.json, composed by `npm run build` (the
// global setup built it): what it holds, and a clear refusal of a file missing or composed from
// other schemas than schema/*.graphql.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  CompositionError,
  loadSupergraph,
  readSchemaFiles,
  SUPERGRAPH_FILE,
  type ComposedSupergraph,
} from '../../lib/supergraph.ts';
import { composeSupergraph, supergraphIsStale } from '../../scripts/supergraph.ts';
import { Leftovers } from '../helpers/leftovers.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

describe('dist/supergraph.json', () => {
  it('is the composition of schema/*.graphql, and the build sees it fresh', () => {
    expect(supergraphIsStale()).toBe(false);
    const loaded = loadSupergraph();
    expect(loaded).toEqual(composeSupergraph());
    expect(loaded).toMatchObject(readSchemaFiles());
    expect(loaded.supergraphSdl).toContain('@join__graph(name: "messages"');
  });

  it('missing: the gateway refuses to start, saying to build', async () => {
    const file = path.join(await leftovers.tempDir(), 'supergraph.json');
    expect(() => loadSupergraph(file)).toThrow(CompositionError);
    expect(() => loadSupergraph(file)).toThrow(/supergraph\.json is missing: run `npm run build`/);
    expect(supergraphIsStale(file)).toBe(true);
  });

  it('composed from another schema: refused until rebuilt', async () => {
    const file = path.join(await leftovers.tempDir(), 'supergraph.json');
    const built = JSON.parse(readFileSync(SUPERGRAPH_FILE, 'utf8')) as ComposedSupergraph;
    const { centralSdl } = readSchemaFiles();
    const older = composeSupergraph({
      central: centralSdl
        .replace(/^.*"ADMIN only\. Every ordered pair.*\n/m, '')
        .replace(/^\s*syncPairs: \[SyncPair!\]!\n/m, ''),
    });
    expect(older.supergraphSdl).not.toEqual(built.supergraphSdl);
    await writeFile(
      file,
      JSON.stringify({ ...built, sources: 'an older schema', supergraphSdl: older.supergraphSdl }),
    );
    expect(() => loadSupergraph(file)).toThrow(/composed from other schemas.*npm run build/);
    expect(supergraphIsStale(file)).toBe(true);
    // By another version of @apollo/composition: recomposed by the next build, loaded meanwhile.
    await writeFile(file, JSON.stringify({ ...built, composedBy: '@apollo/composition@0.0.1' }));
    expect(supergraphIsStale(file)).toBe(true);
    expect(loadSupergraph(file).supergraphSdl).toBe(built.supergraphSdl);
  });
});
