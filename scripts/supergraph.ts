// Composes the gateway's supergraph (lib/supergraph.ts says why at build time): for
// `npm run build`, which writes dist/supergraph.json, and for tests that compose other SDL.
// @apollo/composition is a development dependency: nothing in dist/ loads it.
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { composeServices } from '@apollo/composition';
import { buildSubgraphSchema } from '@apollo/subgraph';
import { graphqlSync, parse } from 'graphql';
import {
  CENTRAL_SUBGRAPH,
  CompositionError,
  MESSAGES_SUBGRAPH,
  readSchemaFiles,
  sourcesHash,
  SUPERGRAPH_FILE,
  type ComposedSupergraph,
  type Supergraph,
} from '../lib/supergraph.ts';

const versionOf = (name: string): string =>
  (createRequire(import.meta.url)(`${name}/package.json`) as { version: string }).version;
// The subgraphs are printed by @apollo/subgraph (printSubgraph).
const COMPOSED_BY = ['@apollo/composition', '@apollo/subgraph']
  .map((name) => `${name}@${versionOf(name)}`)
  .join(' ');

/** Composes schema/*.graphql, or the SDL given instead of either file. */
export function composeSupergraph(sdl: { central?: string; node?: string } = {}): Supergraph {
  const files = readSchemaFiles();
  const centralSdl = sdl.central ?? files.centralSdl;
  const nodeSdl = sdl.node ?? files.nodeSdl;
  const result = composeServices([
    // The URLs are placeholders: both data sources know where to send requests themselves.
    { name: CENTRAL_SUBGRAPH, url: 'http://central.invalid/graphql', typeDefs: parse(centralSdl) },
    { name: MESSAGES_SUBGRAPH, url: 'http://messages.invalid/graphql', typeDefs: parse(nodeSdl) },
  ]);
  if (result.errors || !result.supergraphSdl) {
    throw new CompositionError(
      `the schemas in schema/ do not compose: ${(result.errors ?? []).map((e) => e.message).join('; ')}`,
    );
  }
  return {
    supergraphSdl: result.supergraphSdl,
    nodeSdl,
    centralSdl,
    printedSdl: { central: printSubgraph(centralSdl), node: printSubgraph(nodeSdl) },
  };
}

/**
 * `sdl` as @apollo/subgraph completes and validates it into a federation subgraph, printed: what
 * that schema answers to `_service { sdl }` (lib/subgraphSchema.ts builds from it).
 */
export function printSubgraph(sdl: string): string {
  const result = graphqlSync({
    schema: buildSubgraphSchema(parse(sdl)),
    source: '{ _service { sdl } }',
  });
  const printed = (result.data?.['_service'] as { sdl?: unknown } | undefined)?.sdl;
  if (typeof printed !== 'string')
    throw new CompositionError(`a subgraph schema did not answer _service { sdl }`);
  return printed;
}

/** Whether `file` lacks the supergraph of today's schema/*.graphql by today's composition. */
export function supergraphIsStale(file = SUPERGRAPH_FILE): boolean {
  if (!existsSync(file)) return true;
  const { centralSdl, nodeSdl } = readSchemaFiles();
  try {
    const composed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ComposedSupergraph>;
    return (
      composed.sources !== sourcesHash(centralSdl, nodeSdl) ||
      composed.composedBy !== COMPOSED_BY ||
      typeof composed.printedSdl?.central !== 'string' ||
      typeof composed.printedSdl.node !== 'string'
    );
  } catch {
    return true;
  }
}

/** Composes schema/*.graphql into `file` (dist/supergraph.json). */
export async function writeSupergraph(file = SUPERGRAPH_FILE): Promise<void> {
  const { supergraphSdl, centralSdl, nodeSdl, printedSdl } = composeSupergraph();
  const composed: ComposedSupergraph = {
    sources: sourcesHash(centralSdl, nodeSdl),
    composedBy: COMPOSED_BY,
    supergraphSdl,
    printedSdl,
  };
  // Renamed into place: a gateway starting during a build reads the old file or the new one whole.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(composed, null, 2)}\n`);
  await rename(temporary, file);
}
