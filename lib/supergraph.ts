// The supergraph of central + ONE node schema as the logical "messages" subgraph, so the gateway
// starts whether or not any node is up, and the node list can change at run time without
// recomposition. It is composed from schema/*.graphql by `npm run build` (scripts/supergraph.ts)
// into dist/supergraph.json, not at every start: composing cost 0.15-0.3 s of CPU in every gateway
// process (a gateway's start to ready went from 1.95 to 1.81 CPU-s, bench/startup.ts, loaded
// machine). The file records a hash of the SDL it was
// composed from; the gateway reads the SDL files too (it serves and checks them) and refuses a
// supergraph composed from other ones, so a schema edit without a build fails clearly at start
// instead of planning queries against an old schema. Central and the nodes read it too, for their
// schemas printed as federation subgraphs (lib/subgraphSchema.ts), under the same check: so it
// lives in lib/, not in the gateway's folder.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { packagePath } from './packageRoot.ts';

export const CENTRAL_SUBGRAPH = 'central';
export const MESSAGES_SUBGRAPH = 'messages';

/** Where `npm run build` writes the composed supergraph. */
export const SUPERGRAPH_FILE = packagePath('dist', 'supergraph.json');

export class CompositionError extends Error {
  override readonly name = 'CompositionError';
}

export interface Supergraph {
  readonly supergraphSdl: string;
  /** The SDL every node must serve (schema/node.graphql). */
  readonly nodeSdl: string;
  readonly centralSdl: string;
  /**
   * Each SDL as a federation subgraph schema, printed: what central and the nodes answer to
   * `_service { sdl }`, and what lib/subgraphSchema.ts builds their schemas from.
   */
  readonly printedSdl: PrintedSubgraphs;
}

export interface PrintedSubgraphs {
  readonly central: string;
  readonly node: string;
}

/** dist/supergraph.json. */
export interface ComposedSupergraph {
  /** Of the SDL composed: `sourcesHash(centralSdl, nodeSdl)`. */
  readonly sources: string;
  /** The composition library and its version, e.g. `@apollo/composition@2.14.4`. */
  readonly composedBy: string;
  readonly supergraphSdl: string;
  readonly printedSdl: PrintedSubgraphs;
}

/** Identifies the pair of SDL texts a supergraph was composed from. */
export function sourcesHash(centralSdl: string, nodeSdl: string): string {
  return createHash('sha256')
    .update(`${centralSdl.length}:${centralSdl}`)
    .update(`${nodeSdl.length}:${nodeSdl}`)
    .digest('hex');
}

/** The SDL files of schema/, which both the build and the gateway read. */
export function readSchemaFiles(): { centralSdl: string; nodeSdl: string } {
  return {
    centralSdl: readFileSync(packagePath('schema', 'central.graphql'), 'utf8'),
    nodeSdl: readFileSync(packagePath('schema', 'node.graphql'), 'utf8'),
  };
}

/** Reads the composed supergraph of schema/*.graphql, refusing one missing or composed from others. */
export function loadSupergraph(file = SUPERGRAPH_FILE): Supergraph {
  const { centralSdl, nodeSdl } = readSchemaFiles();
  const rebuild = 'run `npm run build`, which composes it from schema/*.graphql';
  if (!existsSync(file)) throw new CompositionError(`${file} is missing: ${rebuild}`);
  const composed = JSON.parse(readFileSync(file, 'utf8')) as Partial<ComposedSupergraph>;
  if (
    typeof composed.supergraphSdl !== 'string' ||
    typeof composed.printedSdl?.central !== 'string' ||
    typeof composed.printedSdl.node !== 'string'
  )
    throw new CompositionError(`${file} holds no supergraphSdl or printedSdl: ${rebuild}`);
  if (composed.sources !== sourcesHash(centralSdl, nodeSdl))
    throw new CompositionError(
      `${file} was composed from other schemas than schema/central.graphql and ` +
        `schema/node.graphql: ${rebuild}`,
    );
  const { central, node } = composed.printedSdl;
  return {
    supergraphSdl: composed.supergraphSdl,
    nodeSdl,
    centralSdl,
    printedSdl: { central, node },
  };
}
