// Turns a client's subscription selection into the query that resolves one event for that client
// (`query($id: ID!) { event: message(id: $id) { ...the client's selection } }`) and runs it through
// the gateway's normal query path, so any field of any subgraph can be selected. Subscribers that
// would run the same execution for the same event (same selection, same variables, same user)
// share one.
import {
  Kind,
  print,
  visit,
  type DocumentNode,
  type FieldNode,
  type FormattedExecutionResult,
  type FragmentDefinitionNode,
  type GraphQLFormattedError,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type VariableDefinitionNode,
} from 'graphql';
import type { Viewer } from '../../lib/userAuth.ts';
import type { EventContext, PrefetchedEntity } from './prefetch.ts';

export type Execute = (
  request: { readonly query: string; readonly variables: Record<string, unknown> },
  context: EventContext,
) => Promise<FormattedExecutionResult>;

/** A client's selection, rewritten as a query on one entity. */
export interface PreparedSelection {
  readonly query: string;
  readonly variables: Record<string, unknown>;
  /** The alias (or name) of the client's subscription field: where results go. */
  readonly responseKey: string;
  readonly idVariable: string;
  /** Identifies the execution apart from the event and the user. */
  readonly key: string;
}

export interface BridgeEvent {
  /** Unique per event delivered by a topic, so executions are shared only for the same event. */
  readonly serial: number;
  readonly entity: PrefetchedEntity;
}

export interface Scope {
  readonly viewer: Viewer;
  readonly authorization: string | undefined;
}

const EVENT_ALIAS = 'event';

/** Fragments reachable from a selection set, and the variables it (and they) use. */
function dependencies(
  selectionSet: SelectionSetNode,
  fragments: ReadonlyMap<string, FragmentDefinitionNode>,
): { fragments: FragmentDefinitionNode[]; variables: Set<string> } {
  const used = new Map<string, FragmentDefinitionNode>();
  const variables = new Set<string>();
  const walk = (node: SelectionSetNode | FragmentDefinitionNode) => {
    visit(node, {
      Variable: (v) => void variables.add(v.name.value),
      FragmentSpread: (spread) => {
        const name = spread.name.value;
        const fragment = fragments.get(name);
        if (!fragment || used.has(name)) return;
        used.set(name, fragment);
        walk(fragment);
      },
    });
  };
  walk(selectionSet);
  return { fragments: [...used.values()], variables };
}

/** The client's selection as text, with the fragments and variables it needs. */
export interface SelectionParts {
  /** `{ id content ... }` */
  readonly selection: string;
  /** Fragment definitions the selection uses, printed. */
  readonly fragments: string;
  /** `$name: Type` declarations of the variables it uses. */
  readonly variableDefinitions: readonly string[];
  readonly variables: Record<string, unknown>;
  /** The alias (or name) of the client's subscription field: where results go. */
  readonly responseKey: string;
  /** A variable name free in the client's operation. */
  freeVariable(base: string): string;
}

export function selectionParts(
  document: DocumentNode,
  operation: OperationDefinitionNode,
  field: FieldNode,
  variableValues: Readonly<Record<string, unknown>>,
): SelectionParts {
  const fragments = new Map(
    document.definitions
      .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
      .map((d) => [d.name.value, d]),
  );
  const selectionSet = field.selectionSet;
  if (!selectionSet) throw new Error(`subscription field ${field.name.value} has no selection`);
  const deps = dependencies(selectionSet, fragments);
  const all = operation.variableDefinitions ?? [];
  const declared = all.filter((d: VariableDefinitionNode) =>
    deps.variables.has(d.variable.name.value),
  );
  const variables: Record<string, unknown> = {};
  for (const d of declared) {
    const name = d.variable.name.value;
    if (name in variableValues) variables[name] = variableValues[name];
  }
  return {
    selection: print(selectionSet),
    fragments: deps.fragments.map((f) => print(f)).join('\n'),
    variableDefinitions: declared.map((d) => print(d)),
    variables,
    responseKey: field.alias?.value ?? field.name.value,
    freeVariable(base) {
      let name = base;
      while (all.some((d) => d.variable.name.value === name)) name = `_${name}`;
      return name;
    },
  };
}

/** `{ event: lookup(id: $id) <selection> }`, the query that resolves one event for a client. */
export function prepareSelection(parts: SelectionParts, lookupField: string): PreparedSelection {
  const idVariable = parts.freeVariable('eventId');
  const definitions = [`$${idVariable}: ID!`, ...parts.variableDefinitions].join(', ');
  const query = `query SubscriptionEvent(${definitions}) { ${EVENT_ALIAS}: ${lookupField}(id: $${idVariable}) ${parts.selection} }\n${parts.fragments}`;
  return {
    query,
    variables: parts.variables,
    responseKey: parts.responseKey,
    idVariable,
    key: `${query}\n${JSON.stringify(parts.variables)}`,
  };
}

export interface EventExecutorOptions {
  readonly execute: Execute;
}

export class EventExecutor {
  readonly #execute: Execute;
  readonly #inFlight = new Map<string, Promise<FormattedExecutionResult>>();
  #executions = 0;

  constructor(options: EventExecutorOptions) {
    this.#execute = options.execute;
  }

  /** Executions started so far (shared ones counted once), for tests and metrics. */
  get executions(): number {
    return this.#executions;
  }

  /**
   * The client's result for an event: `{ data: { <responseKey>: ... } }`. Every subscriber of a
   * topic is handed the event in the same tick, so an in-flight map is all the sharing needs.
   */
  run(
    prepared: PreparedSelection,
    event: BridgeEvent,
    scope: Scope,
  ): Promise<FormattedExecutionResult> {
    const key = `${event.serial}\n${scope.viewer.id}\n${scope.viewer.role}\n${prepared.key}`;
    const shared = this.#inFlight.get(key);
    if (shared) return shared;
    this.#executions += 1;
    const running = this.#execute(
      {
        query: prepared.query,
        variables: { ...prepared.variables, [prepared.idVariable]: event.entity.id },
      },
      {
        viewer: scope.viewer,
        authorization: scope.authorization,
        prefetched: event.entity,
      },
    )
      .then((result) => toClientResult(result, prepared.responseKey))
      .finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, running);
    return running;
  }
}

function toClientResult(
  result: FormattedExecutionResult,
  responseKey: string,
): FormattedExecutionResult {
  const data = result.data as Record<string, unknown> | null | undefined;
  const errors = result.errors?.map(
    (e): GraphQLFormattedError =>
      e.path?.[0] === EVENT_ALIAS ? { ...e, path: [responseKey, ...e.path.slice(1)] } : e,
  );
  return {
    data: data ? { [responseKey]: data[EVENT_ALIAS] ?? null } : null,
    ...(errors?.length ? { errors } : {}),
  };
}
