// Composes the gateway's supergraph (gateway/supergraph.ts says why at build time): for
// `npm run build`, which writes dist/supergraph.json, and for tests that compose other SDL.
// @apollo/composition is a development dependency: nothing in dist/ loads it.
import { existsSync, readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import {
  CENTRAL_SUBGRAPH,
  CompositionError,
  MESSAGES_SUBGRAPH,
  readSchemaFiles,
  sourcesHash,
  SUPERGRAPH_FILE,
  type ComposedSupergraph,
  type Supergraph,
} from '../gateway/supergraph.ts';

const composition = createRequire(import.meta.url)('@apollo/composition/package.json') as {
  version: string;
};
const COMPOSED_BY = `@apollo/composition@${composition.version}`;

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
  return { supergraphSdl: result.supergraphSdl, nodeSdl, centralSdl };
}

/** Whether `file` lacks the supergraph of today's schema/*.graphql by today's composition. */
export function supergraphIsStale(file = SUPERGRAPH_FILE): boolean {
  if (!existsSync(file)) return true;
  const { centralSdl, nodeSdl } = readSchemaFiles();
  try {
    const composed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ComposedSupergraph>;
    return (
      composed.sources !== sourcesHash(centralSdl, nodeSdl) || composed.composedBy !== COMPOSED_BY
    );
  } catch {
    return true;
  }
}

/** Composes schema/*.graphql into `file` (dist/supergraph.json). */
export async function writeSupergraph(file = SUPERGRAPH_FILE): Promise<void> {
  const { supergraphSdl, centralSdl, nodeSdl } = composeSupergraph();
  const composed: ComposedSupergraph = {
    sources: sourcesHash(centralSdl, nodeSdl),
    composedBy: COMPOSED_BY,
    supergraphSdl,
  };
  // Renamed into place: a gateway starting during a build reads the old file or the new one whole.
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, `${JSON.stringify(composed, null, 2)}\n`);
  await rename(temporary, file);
}
