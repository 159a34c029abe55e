// The supergraph is composed at start from the SDL files in schema/ (central + ONE node schema as
// the logical "messages" subgraph), so the gateway starts whether or not any node is up, and the
// node list can change at run time without recomposition.
import { readFileSync } from 'node:fs';
import { composeServices } from '@apollo/composition';
import { parse } from 'graphql';
import { packagePath } from '../lib/packageRoot.ts';

export const CENTRAL_SUBGRAPH = 'central';
export const MESSAGES_SUBGRAPH = 'messages';

export class CompositionError extends Error {
  override readonly name = 'CompositionError';
}

export interface Supergraph {
  readonly supergraphSdl: string;
  /** The SDL every node must serve (schema/node.graphql). */
  readonly nodeSdl: string;
  readonly centralSdl: string;
}

const schemaFile = (name: string) => packagePath('schema', name);

export function composeSupergraph(sdl: { central?: string; node?: string } = {}): Supergraph {
  const centralSdl = sdl.central ?? readFileSync(schemaFile('central.graphql'), 'utf8');
  const nodeSdl = sdl.node ?? readFileSync(schemaFile('node.graphql'), 'utf8');
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
