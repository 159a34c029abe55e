// What the bridge needs to know about each subscription field of the API schema, worked out from
// the subgraph schemas rather than listed by hand, so a field added to a subgraph (e.g. central's
// `syncSessionUpdated`) is bridged without touching this code:
// - the subgraph that owns it, and the entity type it returns;
// - the projection asked upstream: every argument-free field the owning subgraph itself serves
//   on that type (and on the entities it refers to, one level down). It does not depend on any client's
//   selection, so one upstream subscription serves every client, and each event carries the
//   owning subgraph's data AS OF that event (an OFFLINE status, a sync session's progress), which
//   no later re-fetch could recover;
// - the root query field that looks the entity up by id (`message(id:)`, `node(id:)`,
//   `syncSession(id:)`): each event is resolved for each client as that query, through the
//   gateway, so fields of other subgraphs (`sender { displayName }`) get filled.
import {
  getNamedType,
  getNullableType,
  isEnumType,
  isNonNullType,
  isObjectType,
  isScalarType,
  type GraphQLField,
  type GraphQLSchema,
} from 'graphql';

export interface Subgraph {
  readonly name: string;
  /** The subgraph's own schema (`buildSubgraphSchema` of its SDL). */
  readonly schema: GraphQLSchema;
}

export interface BridgedField {
  readonly field: string;
  readonly subgraph: string;
  /** The owning subgraph's own schema (it may hold @inaccessible fields such as `Message.hlc`). */
  readonly subgraphSchema: GraphQLSchema;
  readonly entityType: string;
  /** Selection set asked upstream, e.g. `{ id hlc content room { id } ... }`. */
  readonly projection: string;
  /** Root query field of the API schema taking `id` and returning the entity. */
  readonly lookupField: string;
  /** The field takes `roomId`: a room's messages, served by each node storing the room. */
  readonly roomScoped: boolean;
  /** The owning subgraph replays from a message id (`after:`), so feeds resume without a gap. */
  readonly resumable: boolean;
  /** Upstream argument declarations, for building the upstream operation. */
  readonly arguments: ReadonlyArray<{ readonly name: string; readonly type: string }>;
}

export class UnbridgeableFieldError extends Error {
  override readonly name = 'UnbridgeableFieldError';
}

/**
 * Argument-free fields of the type, and one level into the entities it refers to: a planner fetch
 * for `syncSession(id) { sourceNode { name } }` stays within central, so the referenced node's
 * own fields must come with the event for the fetch to be answered from it.
 */
function projectionOf(schema: GraphQLSchema, typeName: string, depth = 1): string {
  const type = schema.getType(typeName);
  if (!isObjectType(type)) throw new UnbridgeableFieldError(`${typeName} is not an object type`);
  const parts: string[] = [];
  for (const field of Object.values(type.getFields())) {
    if (field.args.length > 0 || field.name.startsWith('_')) continue;
    const named = getNamedType(field.type);
    if (isScalarType(named) || isEnumType(named)) parts.push(field.name);
    else if (isObjectType(named) && named.getFields()['id']) {
      parts.push(
        `${field.name} ${depth > 0 ? projectionOf(schema, named.name, depth - 1) : '{ id }'}`,
      );
    }
  }
  return `{ ${parts.join(' ')} }`;
}

function lookupFieldOf(apiSchema: GraphQLSchema, typeName: string): string | undefined {
  const query = apiSchema.getQueryType();
  if (!query) return undefined;
  const candidates = Object.values(query.getFields()).filter(
    (f: GraphQLField<unknown, unknown>) =>
      // A single entity, not a list of them.
      isObjectType(getNullableType(f.type)) &&
      getNamedType(f.type).name === typeName &&
      f.args.some((a) => a.name === 'id') &&
      f.args.every((a) => a.name === 'id' || !isNonNullType(a.type)),
  );
  return candidates[0]?.name;
}

/** Every subscription field of the API schema, described for the bridge. */
export function bridgedFields(
  apiSchema: GraphQLSchema,
  schemas: readonly Subgraph[],
): Map<string, BridgedField> {
  const result = new Map<string, BridgedField>();
  for (const apiField of Object.values(apiSchema.getSubscriptionType()?.getFields() ?? {})) {
    const owner = schemas.find((s) => s.schema.getSubscriptionType()?.getFields()[apiField.name]);
    const upstreamField = owner?.schema.getSubscriptionType()?.getFields()[apiField.name];
    if (!owner || !upstreamField)
      throw new UnbridgeableFieldError(`no subgraph serves Subscription.${apiField.name}`);
    const entityType = getNamedType(upstreamField.type).name;
    const lookupField = lookupFieldOf(apiSchema, entityType);
    if (!lookupField) {
      throw new UnbridgeableFieldError(
        `Subscription.${apiField.name} returns ${entityType}, which no Query field looks up by id`,
      );
    }
    result.set(apiField.name, {
      field: apiField.name,
      subgraph: owner.name,
      subgraphSchema: owner.schema,
      entityType,
      projection: projectionOf(owner.schema, entityType),
      lookupField,
      roomScoped: upstreamField.args.some((a) => a.name === 'roomId'),
      resumable: upstreamField.args.some((a) => a.name === 'after'),
      arguments: upstreamField.args.map((a) => ({ name: a.name, type: String(a.type) })),
    });
  }
  return result;
}
