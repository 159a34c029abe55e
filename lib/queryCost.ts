// The static cost of a GraphQL operation: an estimate of how many values its answer holds, so
// that one small request cannot ask for an enormous answer. Every field counts 1, and a list
// multiplies the cost of what it selects by how many items it may hold: the page size its field
// asks for (`first`/`last`, or the schema's default for them), or, for a list inside a connection
// (`edges`), the page size of the connection around it; other lists count `listSize` items.
// So one full page of messages is about 500 times what one message selects, while a page inside a
// page (messages of the rooms of messages) multiplies both sizes and is refused.
import {
  getNamedType,
  getNullableType,
  GraphQLError,
  isInterfaceType,
  isLeafType,
  isListType,
  isObjectType,
  Kind,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from 'graphql';

export interface CostModel {
  /** Items assumed in a list field that takes no page size. */
  readonly listSize: number;
  /** Page size assumed when `first`/`last` is a variable whose value is not known (graphql-ws). */
  readonly unknownPageSize: number;
}

export const defaultCostModel: CostModel = {
  listSize: 10,
  // The nodes' default largest page (`--max-page-size`).
  unknownPageSize: 500,
};

const isInt = (value: unknown): value is number =>
  typeof value === 'number' && Number.isInteger(value) && Math.abs(value) <= 2 ** 31 - 1;

const PAGE_SIZE_ARGUMENTS = ['first', 'last'] as const;
const INTROSPECTION_ROOTS = new Set(['__schema', '__type']);

export interface OperationCost {
  readonly cost: number;
  /** Whether a page size came from a variable (the cost then depends on the request). */
  readonly usesVariables: boolean;
}

/** The cost of one operation; `variables` undefined when they are not known yet. */
export function operationCost(
  schema: GraphQLSchema,
  operation: OperationDefinitionNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
  variables: Readonly<Record<string, unknown>> | undefined,
  model: CostModel = defaultCostModel,
): OperationCost {
  let usesVariables = false;
  // Fragments are costed once per page size they are spread under: a document spreading one
  // fragment many times, or fragments spreading each other, costs linear time to measure.
  const fragmentCosts = new Map<string, number>();
  const measuring = new Set<string>();

  const variableValue = (name: string): unknown => {
    usesVariables = true;
    if (variables && Object.hasOwn(variables, name)) {
      const value = variables[name];
      // A value that is no Int fails variable coercion at execution, with a message that says so;
      // it must not be refused here first as if it asked for that many items.
      return isInt(value) || value === null ? value : model.unknownPageSize;
    }
    const definition = operation.variableDefinitions?.find((v) => v.variable.name.value === name);
    const fallback = definition?.defaultValue;
    if (fallback?.kind === Kind.INT) return Number(fallback.value);
    // Known variables without this one: the argument's own default applies.
    return variables ? undefined : model.unknownPageSize;
  };

  const pageSizeOf = (
    node: FieldNode,
    field: GraphQLField<unknown, unknown>,
  ): number | undefined => {
    let given: number | undefined;
    let defaulted: number | undefined;
    for (const name of PAGE_SIZE_ARGUMENTS) {
      const argument = field.args.find((a) => a.name === name);
      if (!argument) continue;
      const literal = node.arguments?.find((a) => a.name.value === name)?.value;
      const value =
        literal?.kind === Kind.INT
          ? Number(literal.value)
          : literal?.kind === Kind.VARIABLE
            ? variableValue(literal.name.value)
            : undefined;
      if (typeof value === 'number' && Number.isFinite(value)) {
        given = Math.max(given ?? 0, Math.max(0, Math.trunc(value)));
      } else if (typeof argument.defaultValue === 'number') {
        defaulted = Math.max(defaulted ?? 0, argument.defaultValue);
      }
    }
    return given ?? defaulted;
  };

  const selectionCost = (
    set: SelectionSetNode,
    type: GraphQLNamedType | undefined,
    pageSize: number | undefined,
  ): number => {
    let cost = 0;
    for (const selection of set.selections) {
      if (selection.kind === Kind.FIELD) {
        cost += fieldCost(selection, type, pageSize);
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const condition = selection.typeCondition?.name.value;
        cost += selectionCost(
          selection.selectionSet,
          condition ? schema.getType(condition) : type,
          pageSize,
        );
      } else {
        const name = selection.name.value;
        const key = `${name}@${pageSize ?? ''}`;
        const known = fragmentCosts.get(key);
        if (known !== undefined) {
          cost += known;
          continue;
        }
        const fragment = fragments.get(name);
        // A cycle is refused by graphql-js's own rules; measuring it here must merely end.
        if (!fragment || measuring.has(key)) continue;
        measuring.add(key);
        const measured = selectionCost(
          fragment.selectionSet,
          schema.getType(fragment.typeCondition.name.value),
          pageSize,
        );
        measuring.delete(key);
        fragmentCosts.set(key, measured);
        cost += measured;
      }
    }
    return cost;
  };

  const fieldCost = (
    node: FieldNode,
    parent: GraphQLNamedType | undefined,
    pageSize: number | undefined,
  ): number => {
    const name = node.name.value;
    if (INTROSPECTION_ROOTS.has(name)) return 0;
    const field =
      isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
    // Unknown fields (and __typename) are counted as leaves; graphql-js refuses the unknown ones.
    if (!field || !node.selectionSet) return 1;
    const type = getNamedType(field.type);
    if (isLeafType(type)) return 1;
    const ownPageSize = pageSizeOf(node, field);
    if (isListType(getNullableType(field.type))) {
      const items = ownPageSize ?? pageSize ?? model.listSize;
      return 1 + items * selectionCost(node.selectionSet, type, undefined);
    }
    // A connection: its page size is the size of the lists directly inside it (`edges`).
    return 1 + selectionCost(node.selectionSet, type, ownPageSize);
  };

  const rootType = schema.getRootType(operation.operation) ?? undefined;
  const cost = selectionCost(operation.selectionSet, rootType, undefined);
  return { cost, usesVariables };
}

export function fragmentsOf(document: DocumentNode): Map<string, FragmentDefinitionNode> {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION)
      fragments.set(definition.name.value, definition);
  }
  return fragments;
}

export function costLimitMessage(cost: number, maxCost: number): string {
  return (
    `query cost ${cost} exceeds the limit of ${maxCost}: each list multiplies the cost of what ` +
    'it selects by its page size (or by its assumed size); ask for smaller pages or fewer nested lists'
  );
}

/** The cost limit as a graphql-js validation rule (graphql-ws), with variables unknown. */
export function costLimitRule(
  maxCost: number,
  model: CostModel = defaultCostModel,
): ValidationRule {
  return (context) => {
    const fragments = fragmentsOf(context.getDocument());
    return {
      OperationDefinition: (operation) => {
        const { cost } = operationCost(context.getSchema(), operation, fragments, undefined, model);
        if (cost > maxCost) {
          context.reportError(
            new GraphQLError(costLimitMessage(cost, maxCost), {
              nodes: [operation],
              extensions: { code: 'GRAPHQL_VALIDATION_FAILED', cost, maxCost },
            }),
          );
        }
        return false;
      },
    };
  };
}
