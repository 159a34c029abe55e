// Rewrites and splits the operations the query planner sends to the "messages" subgraph, so the
// router can send them to several nodes and merge the answers:
// - every Message selection also asks for the message's id and HLC (to keep the newest version
//   of a message several nodes hold),
// - every Room.messages selection also asks for page info and for each edge's cursor and
//   message id (to merge several nodes' pages into one), and for edges even when the client
//   selected none: the merged page, and so its start and end cursors, is chosen from them,
// - an operation with several root fields is split into one operation per field, each with only
//   the variables and fragments it uses (each field may belong on other nodes).
import {
  getArgumentValues,
  getNamedType,
  isObjectType,
  Kind,
  parse,
  print,
  TypeInfo,
  visit,
  visitWithTypeInfo,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionNode,
  type SelectionSetNode,
} from 'graphql';
import { LRUCache } from 'lru-cache';

/** Response keys the router adds; never part of what a client asked for. */
export const INJECTED = {
  id: '_sb_id',
  hlc: '_sb_hlc',
  cursor: '_sb_cursor',
  pageInfo: '_sb_pageInfo',
  edges: '_sb_edges',
} as const;

const name = (value: string) => ({ kind: Kind.NAME, value }) as const;

function field(
  fieldName: string,
  alias?: string,
  selections?: readonly SelectionNode[],
): FieldNode {
  return {
    kind: Kind.FIELD,
    name: name(fieldName),
    ...(alias && alias !== fieldName ? { alias: name(alias) } : {}),
    ...(selections ? { selectionSet: { kind: Kind.SELECTION_SET, selections } } : {}),
  };
}

const responseKey = (node: FieldNode) => node.alias?.value ?? node.name.value;

function hasKey(set: SelectionSetNode, key: string): boolean {
  return set.selections.some((s) => s.kind === Kind.FIELD && responseKey(s) === key);
}

function withFields(set: SelectionSetNode, extra: FieldNode[]): SelectionSetNode {
  const missing = extra.filter((f) => !hasKey(set, responseKey(f)));
  return missing.length === 0 ? set : { ...set, selections: [...set.selections, ...missing] };
}

/** The fields of a selection set, looking through inline fragments (what the planner emits). */
function fieldsOf(
  set: SelectionSetNode | undefined,
  fragments: Record<string, FragmentDefinitionNode>,
): FieldNode[] {
  if (!set) return [];
  return set.selections.flatMap((s) => {
    if (s.kind === Kind.FIELD) return [s];
    if (s.kind === Kind.INLINE_FRAGMENT) return fieldsOf(s.selectionSet, fragments);
    const fragment = fragments[s.name.value];
    return fragment ? fieldsOf(fragment.selectionSet, fragments) : [];
  });
}

/** How to merge one `messages` field of a Room answered by several nodes. */
export interface MessagesPlan {
  readonly responseKey: string;
  readonly node: FieldNode;
  readonly definition: GraphQLField<unknown, unknown>;
  /** Response keys of `edges` selections; the first also carries the injected cursor and ids. */
  readonly edgesKeys: readonly string[];
  /** Response key of `node` inside the first edges selection. */
  readonly edgeNodeKey: string;
  /** `pageInfo` selections: response key -> (response key -> PageInfo field name). */
  readonly pageInfos: ReadonlyMap<string, ReadonlyMap<string, string>>;
}

export interface PreparedOperation {
  readonly document: DocumentNode;
  readonly text: string;
  readonly operation: OperationDefinitionNode;
  readonly fragments: Record<string, FragmentDefinitionNode>;
  /** Root fields in order (only plain fields: the planner puts no fragments at the root). */
  readonly rootFields: readonly FieldNode[];
  /** The Room.messages selections inside `_entities`, for merging Room entities. */
  readonly roomMessages: readonly MessagesPlan[];
}

export class OperationPreparer {
  readonly #schema: GraphQLSchema;
  readonly #cache: LRUCache<string, PreparedOperation>;

  /** @param schema the node subgraph's schema (with `_entities`, `hlc`...). */
  constructor(schema: GraphQLSchema, cacheSize = 1000) {
    this.#schema = schema;
    this.#cache = new LRUCache({ max: cacheSize });
  }

  /** Planner operations repeat (one per query shape): prepared once, then served from a cache. */
  prepare(query: string): PreparedOperation {
    const cached = this.#cache.get(query);
    if (cached) return cached;
    const prepared = this.#prepare(parse(query));
    this.#cache.set(query, prepared);
    return prepared;
  }

  #prepare(original: DocumentNode): PreparedOperation {
    const typeInfo = new TypeInfo(this.#schema);
    const originalFragments: Record<string, FragmentDefinitionNode> = {};
    for (const d of original.definitions)
      if (d.kind === Kind.FRAGMENT_DEFINITION) originalFragments[d.name.value] = d;
    const document = visit(
      original,
      visitWithTypeInfo(typeInfo, {
        SelectionSet: {
          enter: (set) => {
            const type = getNamedType(typeInfo.getType());
            const parentField = typeInfo.getFieldDef();
            if (type?.name === 'Message') {
              return withFields(set, [field('id', INJECTED.id), field('hlc', INJECTED.hlc)]);
            }
            if (type?.name === 'MessageConnection') {
              const hasEdges = fieldsOf(set, originalFragments).some(
                (f) => f.name.value === 'edges',
              );
              return withFields(set, [
                field('pageInfo', INJECTED.pageInfo, [
                  field('hasNextPage'),
                  field('hasPreviousPage'),
                ]),
                ...(hasEdges
                  ? []
                  : [
                      field('edges', INJECTED.edges, [
                        field('cursor', INJECTED.cursor),
                        field('node', 'node', [
                          field('id', INJECTED.id),
                          field('hlc', INJECTED.hlc),
                        ]),
                      ]),
                    ]),
              ]);
            }
            if (type?.name === 'MessageEdge' && parentField?.name === 'edges') {
              // Every edge must name its message, even when the client asked only for cursors.
              const hasNode = set.selections.some(
                (s) => s.kind === Kind.FIELD && s.name.value === 'node',
              );
              return withFields(set, [
                field('cursor', INJECTED.cursor),
                ...(hasNode
                  ? []
                  : [
                      field('node', 'node', [field('id', INJECTED.id), field('hlc', INJECTED.hlc)]),
                    ]),
              ]);
            }
            return undefined;
          },
        },
      }),
    );
    const operation = document.definitions.find(
      (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
    );
    if (!operation) throw new Error('the planner sent a document without an operation');
    const fragments: Record<string, FragmentDefinitionNode> = {};
    for (const d of document.definitions)
      if (d.kind === Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
    const rootFields = operation.selectionSet.selections.filter(
      (s): s is FieldNode => s.kind === Kind.FIELD,
    );
    return {
      document,
      text: print(document),
      operation,
      fragments,
      rootFields,
      roomMessages: this.#roomMessagePlans(rootFields, fragments),
    };
  }

  #roomMessagePlans(
    rootFields: readonly FieldNode[],
    fragments: Record<string, FragmentDefinitionNode>,
  ): MessagesPlan[] {
    const entities = rootFields.find((f) => f.name.value === '_entities');
    const room = this.#schema.getType('Room');
    const definition = isObjectType(room) ? room.getFields()['messages'] : undefined;
    if (!entities?.selectionSet || !definition) return [];
    const plans: MessagesPlan[] = [];
    for (const selection of entities.selectionSet.selections) {
      if (selection.kind !== Kind.INLINE_FRAGMENT || selection.typeCondition?.name.value !== 'Room')
        continue;
      for (const f of fieldsOf(selection.selectionSet, fragments)) {
        if (f.name.value !== 'messages') continue;
        const inner = fieldsOf(f.selectionSet, fragments);
        const edges = inner.filter((x) => x.name.value === 'edges');
        const edgeNode = fieldsOf(edges[0]?.selectionSet, fragments).find(
          (x) => x.name.value === 'node',
        );
        const pageInfos = new Map<string, Map<string, string>>();
        for (const p of inner.filter(
          (x) => x.name.value === 'pageInfo' && responseKey(x) !== INJECTED.pageInfo,
        )) {
          pageInfos.set(
            responseKey(p),
            new Map(fieldsOf(p.selectionSet, fragments).map((x) => [responseKey(x), x.name.value])),
          );
        }
        plans.push({
          responseKey: responseKey(f),
          node: f,
          definition,
          edgesKeys: edges.map(responseKey),
          edgeNodeKey: edgeNode ? responseKey(edgeNode) : 'node',
          pageInfos,
        });
      }
    }
    return plans;
  }

  /** Argument values of a field (variables, literals and schema defaults resolved). */
  argumentsOf(
    node: FieldNode,
    parentType: string,
    variables: Record<string, unknown> | undefined,
  ): Record<string, unknown> {
    const type = this.#schema.getType(parentType);
    const definition = isObjectType(type) ? type.getFields()[node.name.value] : undefined;
    if (!definition) return {};
    return getArgumentValues(definition, node, variables ?? {});
  }
}

/**
 * One operation per root field, each keeping only the variables and fragments it uses, for
 * routing root fields to different nodes.
 */
export function splitRootField(
  prepared: PreparedOperation,
  rootField: FieldNode,
  variables: Record<string, unknown> | undefined,
): { query: string; variables: Record<string, unknown> } {
  const usedVariables = new Set<string>();
  const usedFragments = new Set<string>();
  const collect = (node: FieldNode | FragmentDefinitionNode) =>
    visit(node, {
      Variable: (v) => {
        usedVariables.add(v.name.value);
      },
      FragmentSpread: (s) => {
        if (usedFragments.has(s.name.value)) return;
        usedFragments.add(s.name.value);
        const fragment = prepared.fragments[s.name.value];
        if (fragment) collect(fragment);
      },
    });
  collect(rootField);
  const operation: OperationDefinitionNode = {
    ...prepared.operation,
    variableDefinitions:
      prepared.operation.variableDefinitions?.filter((d) =>
        usedVariables.has(d.variable.name.value),
      ) ?? [],
    selectionSet: { kind: Kind.SELECTION_SET, selections: [rootField] },
  };
  const document: DocumentNode = {
    kind: Kind.DOCUMENT,
    definitions: [
      operation,
      ...Object.values(prepared.fragments).filter((f) => usedFragments.has(f.name.value)),
    ],
  };
  const kept: Record<string, unknown> = {};
  for (const key of usedVariables) if (variables && key in variables) kept[key] = variables[key];
  return { query: print(document), variables: kept };
}

export { responseKey };
