// Every node must serve exactly schema/node.graphql: the gateway plans against that one schema,
// so a node with another one (an old or newer build) would answer plans it cannot satisfy. Its
// `_service { sdl }` is compared with the expected SDL, ignoring descriptions and order.
import {
  graphqlSync,
  Kind,
  parse,
  print,
  visit,
  type ASTNode,
  type DocumentNode,
  type GraphQLSchema,
} from 'graphql';

function nameOf(node: ASTNode): string {
  return 'name' in node && node.name && typeof node.name === 'object' && 'value' in node.name
    ? String(node.name.value)
    : '';
}

const byName = <T extends ASTNode>(list: readonly T[] | undefined) =>
  list ? [...list].sort((a, b) => nameOf(a).localeCompare(nameOf(b))) : list;

/** A canonical text of an SDL: no descriptions, definitions, fields, arguments and values sorted. */
export function canonicalSdl(sdl: string): string {
  const doc: DocumentNode = visit(parse(sdl), {
    enter(node) {
      if ('description' in node && node.description) return { ...node, description: undefined };
      return undefined;
    },
    leave(node) {
      switch (node.kind) {
        case Kind.OBJECT_TYPE_DEFINITION:
        case Kind.OBJECT_TYPE_EXTENSION:
        case Kind.INTERFACE_TYPE_DEFINITION:
        case Kind.INPUT_OBJECT_TYPE_DEFINITION:
          return { ...node, fields: byName(node.fields as readonly ASTNode[]) } as typeof node;
        case Kind.ENUM_TYPE_DEFINITION:
          return { ...node, values: byName(node.values) };
        case Kind.FIELD_DEFINITION:
          return { ...node, arguments: byName(node.arguments) };
        default:
          return undefined;
      }
    },
  });
  const definitions = [...doc.definitions].sort((a, b) =>
    `${a.kind}:${nameOf(a)}`.localeCompare(`${b.kind}:${nameOf(b)}`),
  );
  return print({ ...doc, definitions });
}

/**
 * What a correct node answers to `_service { sdl }`, asked of `nodeSchema` (`buildSubgraphSchema`
 * of schema/node.graphql), in canonical form.
 */
export function expectedNodeSdl(nodeSchema: GraphQLSchema): string {
  const result = graphqlSync({
    schema: nodeSchema,
    source: '{ _service { sdl } }',
  });
  const sdl = (result.data?.['_service'] as { sdl?: unknown } | undefined)?.sdl;
  if (typeof sdl !== 'string') throw new Error('the node schema does not answer _service { sdl }');
  return canonicalSdl(sdl);
}

/** Lines of the canonical SDLs that differ (for the report), at most `limit`. */
export function sdlDifference(expected: string, actual: string, limit = 5): string[] {
  const want = new Set(expected.split('\n'));
  const have = new Set(actual.split('\n'));
  const missing = [...want].filter((l) => !have.has(l)).map((l) => `missing: ${l.trim()}`);
  const extra = [...have].filter((l) => !want.has(l)).map((l) => `unexpected: ${l.trim()}`);
  return [...missing, ...extra].slice(0, limit);
}
