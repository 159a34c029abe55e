// The "messages" subgraph's data source: one logical subgraph backed by N chat nodes. Every fetch
// the query planner makes is routed at run time: room entities to the nodes that store each room
// (answers merged), message lookups to every node (newest version kept), mutations to the room's
// home node (or another ONLINE storage node when it is down), one root field at a time. Reads are
// hedged (hedgedFanout.ts), and nodes the gateway saw fail are avoided (nodeHealth.ts).
import type { GraphQLDataSource, GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import type { FieldNode, GraphQLFormattedError } from 'graphql';
import { appError } from '../lib/errors.ts';
import type { Logger } from '../lib/log.ts';
import type { RoutingNode } from './centralLink.ts';
import type { GatewayContext } from './context.ts';
import { ASSERTION_HEADER, type GatewaySigner } from '../lib/gatewayAssertion.ts';
import type { Viewer } from '../lib/userAuth.ts';
import { mergeRoom, newestVersion, stripInjected, type PageArguments } from './merge.ts';
import { hedgedFanout } from './hedgedFanout.ts';
import {
  NodeUnreachableError,
  sendToNode,
  type NodeFailureKind,
  type NodeRequest,
  type NodeResponse,
} from './nodeClient.ts';
import {
  responseKey,
  splitRootField,
  type OperationPreparer,
  type PreparedOperation,
} from './operations.ts';
import type { NodeOutcome } from './metrics.ts';
import type { RoutingTable } from './routingTable.ts';
import { SearchScatter, type CallerRooms } from './searchScatter.ts';

type Obj = Record<string, unknown>;
type Path = ReadonlyArray<string | number>;

export interface NodeRouterOptions {
  readonly routing: RoutingTable;
  readonly preparer: OperationPreparer;
  /** Per request to a node; a node slower than this counts as down for that request. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Signs the assertion every request to a node carries (lib/gatewayAssertion.ts). */
  readonly signer: GatewaySigner;
  /** Told of every request to a node, for `/metrics`. */
  readonly onNodeRequest?: (node: string, outcome: NodeOutcome, seconds: number) => void;
  /** Told when a read stops waiting for a node slower than its hedge bound (hedgedFanout.ts). */
  readonly onHedge?: (node: string) => void;
  /** The caller's rooms from central, for searchMessages (searchScatter.ts). */
  readonly callerRooms?: CallerRooms;
}

const OUTCOMES: Record<NodeFailureKind, NodeOutcome> = {
  unreachable: 'unreachable',
  'connection failed': 'failed',
  'timed out': 'timeout',
  'no GraphQL answer': 'failed',
  cancelled: 'cancelled',
};

/** What one node answered for one slot (an entity index or a root field). */
interface SlotAnswers {
  clean: unknown[];
  partial: unknown[];
  errors: GraphQLFormattedError[];
  failures: string[];
}

const newSlot = (): SlotAnswers => ({ clean: [], partial: [], errors: [], failures: [] });

const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function unavailable(path: Path, what: string, failures: readonly string[]): GraphQLFormattedError {
  const detail = failures.length > 0 ? ` (${failures.join('; ')})` : ' (no ONLINE node serves it)';
  const error = appError('NODE_UNAVAILABLE', `no chat node holding ${what} answered${detail}`);
  return { message: error.message, path, extensions: error.extensions };
}

/** A write sent to a node that never answered: the client must retry it, not assume either way. */
function outcomeUnknown(
  path: Path,
  field: string,
  failure: NodeUnreachableError,
): GraphQLFormattedError {
  const advice =
    field === 'postMessage'
      ? 'retry with the same clientMessageId (it returns the message if it was posted, and never posts twice)'
      : 'retry it as it was (an edit to the same content or a delete again is harmless)';
  const error = appError(
    'OUTCOME_UNKNOWN',
    `${field} was sent to ${failure.summary}, and no answer came: it may have been applied; ${advice}`,
    { extensions: { node: failure.node.name } },
  );
  return { message: error.message, path, extensions: error.extensions };
}

function dedupe(errors: readonly GraphQLFormattedError[]): GraphQLFormattedError[] {
  const seen = new Set<string>();
  return errors.filter((e) => {
    const key = `${JSON.stringify(e.path)}|${String(e.extensions?.['code'])}|${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function withNode(
  error: GraphQLFormattedError,
  node: RoutingNode,
  path?: Path,
): GraphQLFormattedError {
  return {
    ...error,
    ...(path ? { path } : {}),
    extensions: { ...error.extensions, node: node.name },
  };
}

export class NodeRouter implements GraphQLDataSource<GatewayContext> {
  readonly #o: NodeRouterOptions;
  readonly #search: SearchScatter;

  constructor(options: NodeRouterOptions) {
    this.#o = options;
    this.#search = new SearchScatter({
      routing: options.routing,
      preparer: options.preparer,
      rooms:
        options.callerRooms ??
        (() => Promise.reject(appError('NODE_UNAVAILABLE', 'search is not configured'))),
      send: (node, request, viewer, cancel) => this.#send(node, request, viewer, cancel),
      hedgeAfterMs: (node) => options.routing.health.hedgeAfterMs(node.id),
      onHedge: (node) => options.onHedge?.(node.name),
    });
  }

  async process(
    options: GraphQLDataSourceProcessOptions<GatewayContext>,
  ): Promise<GatewayGraphQLResponse> {
    // The request-kind enum is not exported by @apollo/gateway; compare with its value.
    if ((options.kind as string) !== 'incoming operation' || !options.request.query) {
      return { errors: [{ message: 'the messages subgraph serves only incoming operations' }] };
    }
    const prepared = this.#o.preparer.prepare(options.request.query);
    const variables = options.request.variables ?? {};
    // Nodes get neither the user's token nor the gateway secret: each request carries an
    // assertion for that one node, naming the user the gateway verified.
    const viewer = (options.context as GatewayContext | undefined)?.viewer ?? null;
    let response: GatewayGraphQLResponse;
    switch (prepared.operation.operation as string) {
      case 'query':
        response =
          prepared.rootFields.length === 1 && prepared.rootFields[0]?.name.value === '_entities'
            ? await this.#entities(prepared, variables, viewer)
            : await this.#queryRoots(
                prepared,
                variables,
                viewer,
                options.context as GatewayContext | undefined,
              );
        break;
      case 'mutation':
        response = await this.#mutations(prepared, variables, viewer);
        break;
      default:
        response = {
          errors: [{ message: 'subscriptions are served by the gateway bridge, not fetched' }],
        };
    }
    stripInjected(response.data);
    return response;
  }

  /** Nodes to read from at once: the healthy candidates, or all of them when none is healthy. */
  #readTargets(candidates: readonly RoutingNode[]): RoutingNode[] {
    const healthy = candidates.filter((n) => !this.#o.routing.isSuspect(n.id));
    return healthy.length > 0 ? healthy : [...candidates];
  }

  /**
   * A read over the slots' candidates, hedged and failed over (hedgedFanout.ts). `interchangeable`
   * says whether any candidate's answer may stand for the others' (the storage nodes of one room)
   * or only a non-null one (a message looked up on every node: most of them hold nothing).
   */
  #fanout(
    candidates: ReadonlyArray<readonly RoutingNode[]>,
    slots: readonly SlotAnswers[],
    interchangeable: (slot: number) => boolean,
    ask: (node: RoutingNode, indexes: readonly number[], cancel: AbortSignal) => Promise<void>,
  ): Promise<void> {
    const health = this.#o.routing.health;
    return hedgedFanout(candidates, {
      first: (list) => this.#readTargets(list),
      ask,
      failed: (_node, indexes, error) => {
        if (!(error instanceof NodeUnreachableError)) throw error;
        if (error.kind === 'cancelled') return;
        for (const i of indexes) slots[i]?.failures.push(error.summary);
      },
      answered: (i) => {
        const slot = slots[i];
        if (slot === undefined) return false;
        if (slot.partial.length > 0 || slot.errors.length > 0) return true;
        return interchangeable(i)
          ? slot.clean.length > 0
          : slot.clean.some((value) => value != null);
      },
      hedgeAfterMs: (node) => health.hedgeAfterMs(node.id),
      onHedge: (node) => this.#o.onHedge?.(node.name),
    });
  }

  async #send(
    node: RoutingNode,
    request: NodeRequest,
    viewer: Viewer | null,
    cancel?: AbortSignal,
  ): Promise<NodeResponse> {
    const health = this.#o.routing.health;
    const started = performance.now();
    const elapsed = () => performance.now() - started;
    const observe = (outcome: NodeOutcome) =>
      this.#o.onNodeRequest?.(node.name, outcome, elapsed() / 1000);
    try {
      const assertion = await this.#o.signer.assertion(node.id, viewer);
      const answer = await sendToNode(
        node,
        request,
        { [ASSERTION_HEADER]: assertion },
        this.#o.timeoutMs,
        cancel,
      );
      observe('ok');
      if (answer.status >= 500) health.failed(node.id, 'down', `HTTP ${answer.status}`);
      else health.answered(node.id, elapsed());
      return answer.body;
    } catch (error) {
      if (!(error instanceof NodeUnreachableError)) {
        observe('failed');
        throw error;
      }
      observe(OUTCOMES[error.kind]);
      if (error.kind === 'cancelled')
        health.failed(node.id, 'suspect', `slower than ${Math.round(elapsed())} ms`);
      else health.failed(node.id, 'down', error.kind);
      // Every failure at debug level; the state changes it causes are logged by nodeHealth.ts.
      this.#o.log.debug(error.message);
      throw error;
    }
  }

  // ---- _entities ------------------------------------------------------------------------------

  async #entities(
    prepared: PreparedOperation,
    variables: Obj,
    viewer: Viewer | null,
  ): Promise<GatewayGraphQLResponse> {
    const reps = Array.isArray(variables['representations'])
      ? (variables['representations'] as Obj[])
      : [];
    const slots = reps.map(newSlot);
    const targetsOf = await Promise.all(reps.map((rep) => this.#entityTargets(rep)));

    const isRoom = (i: number) => reps[i]?.['__typename'] === 'Room';
    await this.#fanout(targetsOf, slots, isRoom, async (node, indexes, cancel) => {
      const response = await this.#send(
        node,
        {
          query: prepared.text,
          variables: { ...variables, representations: indexes.map((i) => reps[i]) },
        },
        viewer,
        cancel,
      );
      const entities = Array.isArray(response.data?.['_entities'])
        ? (response.data['_entities'] as unknown[])
        : [];
      const errorsAt = new Map<number, GraphQLFormattedError[]>();
      for (const error of response.errors ?? []) {
        const local = error.path?.[0] === '_entities' ? error.path[1] : undefined;
        const indexesHit = typeof local === 'number' ? [local] : indexes.map((_, j) => j);
        for (const j of indexesHit) {
          const i = indexes[j];
          if (i === undefined) continue;
          const path =
            error.path && typeof local === 'number'
              ? ['_entities', i, ...error.path.slice(2)]
              : ['_entities', i];
          const list = errorsAt.get(j) ?? [];
          list.push(withNode(error, node, path));
          errorsAt.set(j, list);
        }
      }
      indexes.forEach((i, j) => {
        const slot = slots[i] as SlotAnswers;
        const value = entities[j];
        const errors = errorsAt.get(j) ?? [];
        if (value != null && errors.length === 0) slot.clean.push(value);
        else if (value != null) {
          slot.partial.push(value);
          slot.errors.push(...errors);
        } else if (errors.length > 0) slot.errors.push(...errors);
        else slot.clean.push(null);
      });
    });

    const errors: GraphQLFormattedError[] = [];
    const data = reps.map((rep, i) => {
      const slot = slots[i] as SlotAnswers;
      const present = slot.clean.filter(isObj);
      if (present.length > 0) return this.#mergeEntity(rep, present, prepared, variables);
      if (slot.clean.length > 0) return null; // every node that answered cleanly holds nothing
      if (slot.partial.length > 0 || slot.errors.length > 0) {
        errors.push(...dedupe(slot.errors));
        const partial = slot.partial.filter(isObj);
        return partial.length > 0 ? this.#mergeEntity(rep, partial, prepared, variables) : null;
      }
      const what = `${String(rep['__typename'])} ${String(rep['id'])}`;
      if (rep['__typename'] === 'Room' && prepared.roomMessages.length > 0) {
        // Room.messages is nullable for this: the room's other fields (from central) and every
        // other room of the response stay intact.
        const room: Obj = { __typename: 'Room' };
        for (const plan of prepared.roomMessages) {
          room[plan.responseKey] = null;
          errors.push(unavailable(['_entities', i, plan.responseKey], what, slot.failures));
        }
        return room;
      }
      errors.push(unavailable(['_entities', i], what, slot.failures));
      return null;
    });
    return { data: { _entities: data }, ...(errors.length > 0 ? { errors } : {}) };
  }

  async #entityTargets(rep: Obj): Promise<RoutingNode[]> {
    if (rep['__typename'] === 'Room' && typeof rep['id'] === 'string') {
      const placement = await this.#o.routing.placement(rep['id']);
      // A room central does not know: one node suffices to say so (with the right error code).
      if (!placement) return (await this.#o.routing.candidates()).slice(0, 1);
      return this.#o.routing.candidates(placement.storageNodeIds);
    }
    return this.#o.routing.candidates();
  }

  #mergeEntity(rep: Obj, answers: Obj[], prepared: PreparedOperation, variables: Obj): Obj {
    if (rep['__typename'] === 'Room') {
      return mergeRoom(
        answers,
        prepared.roomMessages,
        (plan) => this.#o.preparer.argumentsOf(plan.node, 'Room', variables) as PageArguments,
      );
    }
    return (newestVersion(answers) as Obj | null) ?? (answers[0] as Obj);
  }

  // ---- root query fields ------------------------------------------------------------------------

  async #queryRoots(
    prepared: PreparedOperation,
    variables: Obj,
    viewer: Viewer | null,
    context: GatewayContext | undefined,
  ): Promise<GatewayGraphQLResponse> {
    const data: Obj = {};
    const errors: GraphQLFormattedError[] = [];
    await Promise.all(
      prepared.rootFields.map(async (field) => {
        const key = responseKey(field);
        if (field.name.value === 'searchMessages') {
          const result = await this.#search.run(prepared, field, variables, viewer, context);
          data[key] = result.data;
          errors.push(...result.errors);
          return;
        }
        const request =
          prepared.rootFields.length === 1
            ? { query: prepared.text, variables }
            : splitRootField(prepared, field, variables);
        const targets = await this.#rootTargets(field, 'Query', variables);
        const ofRoom = typeof this.#roomArgument(field, 'Query', variables) === 'string';
        const slot = newSlot();
        await this.#fanout(
          [targets],
          [slot],
          () => ofRoom,
          async (node, _indexes, cancel) => {
            const response = await this.#send(node, request, viewer, cancel);
            const value = response.data?.[key];
            const fieldErrors = (response.errors ?? []).map((e) => withNode(e, node));
            if (fieldErrors.length === 0) slot.clean.push(value ?? null);
            else {
              if (value != null) slot.partial.push(value);
              slot.errors.push(...fieldErrors);
            }
          },
        );
        const present = slot.clean.filter((v) => v != null);
        if (present.length > 0)
          data[key] = present.every(isObj) ? newestVersion(present) : present[0];
        // A node that holds the data and refused (FORBIDDEN...) says more than one that has
        // nothing: a non-member asking for a message gets FORBIDDEN, not null.
        else if (slot.errors.length > 0 || slot.partial.length > 0) {
          errors.push(...dedupe(slot.errors));
          data[key] = slot.partial[0] ?? null;
        } else if (slot.clean.length > 0) data[key] = null;
        else {
          errors.push(unavailable([key], `the data of ${field.name.value}`, slot.failures));
          data[key] = null;
        }
      }),
    );
    return { data, ...(errors.length > 0 ? { errors } : {}) };
  }

  /** The storage nodes of the field's `roomId` argument, or every routable node. */
  #roomArgument(field: FieldNode, parentType: string, variables: Obj): unknown {
    return this.#o.preparer.argumentsOf(field, parentType, variables)['roomId'];
  }

  async #rootTargets(field: FieldNode, parentType: string, variables: Obj): Promise<RoutingNode[]> {
    const roomId = this.#roomArgument(field, parentType, variables);
    if (typeof roomId === 'string') {
      const placement = await this.#o.routing.placement(roomId);
      if (placement) return this.#o.routing.candidates(placement.storageNodeIds);
      return (await this.#o.routing.candidates()).slice(0, 1);
    }
    return this.#o.routing.candidates();
  }

  // ---- mutations ------------------------------------------------------------------------------

  async #mutations(
    prepared: PreparedOperation,
    variables: Obj,
    viewer: Viewer | null,
  ): Promise<GatewayGraphQLResponse> {
    const data: Obj = {};
    const errors: GraphQLFormattedError[] = [];
    // Serially, in order, as GraphQL requires of mutation fields.
    for (const field of prepared.rootFields) {
      const key = responseKey(field);
      const request =
        prepared.rootFields.length === 1
          ? { query: prepared.text, variables }
          : splitRootField(prepared, field, variables);
      const targets = await this.#mutationTargets(field, variables, viewer);
      const failures: string[] = [];
      let answered = false;
      /** A node that got the request and gave no answer: whether the write happened is unknown. */
      let sentTo: NodeUnreachableError | undefined;
      for (let i = 0; i < targets.length; i++) {
        const node = targets[i] as RoutingNode;
        try {
          const response = await this.#send(node, request, viewer);
          // A node whose clock is off (CLOCK_SKEW), or that does not take the room's writes
          // (ROOM_MOVED: it left the room or is leaving it), refuses the write before touching
          // anything: it was not applied, so another storage node may take it. The last one's
          // answer stands.
          const refusal = refusedUnwritten(response, key);
          if (refusal?.code === 'ROOM_MOVED') {
            // This gateway's placement is behind central's: read it again, and add the storage
            // nodes it did not know of.
            if (refusal.roomId !== undefined) this.#o.routing.forgetPlacement(refusal.roomId);
            for (const next of await this.#mutationTargets(field, variables, viewer))
              if (!targets.some((t) => t.id === next.id)) targets.push(next);
          }
          if (refusal && i < targets.length - 1) {
            failures.push(`${node.name}: ${response.errors?.[0]?.message ?? refusal.code}`);
            continue;
          }
          data[key] = response.data?.[key] ?? null;
          errors.push(...(response.errors ?? []).map((e) => withNode(e, node)));
          answered = true;
          break;
        } catch (error) {
          if (!(error instanceof NodeUnreachableError)) throw error;
          // Only a request that never reached the node may go elsewhere: one that timed out may
          // have been applied, and sending it again could write it twice.
          if (error.neverSent) failures.push(error.summary);
          else {
            sentTo = error;
            break;
          }
        }
      }
      if (!answered && sentTo) {
        errors.push(outcomeUnknown([key], field.name.value, sentTo));
        data[key] = null;
      } else if (!answered) {
        errors.push(unavailable([key], `the target of ${field.name.value}`, failures));
        data[key] = null;
      }
    }
    return { data, ...(errors.length > 0 ? { errors } : {}) };
  }

  /** Where a mutation goes, best first: the room's home node, then its other storage nodes. */
  async #mutationTargets(
    field: FieldNode,
    variables: Obj,
    viewer: Viewer | null,
  ): Promise<RoutingNode[]> {
    const args = this.#o.preparer.argumentsOf(field, 'Mutation', variables);
    if (typeof args['roomId'] === 'string') return this.#rootTargets(field, 'Mutation', variables);
    const all = await this.#o.routing.candidates();
    if (typeof args['id'] !== 'string') return all;
    // Editing or deleting: go to a node that holds the message, its room's home node first.
    const holders: Array<{ node: RoutingNode; roomId: string }> = [];
    // Hedged like a read: a frozen node does not hold the edit up once a holder has answered.
    const slot = newSlot();
    await this.#fanout(
      [all],
      [slot],
      () => false,
      async (node, _indexes, cancel) => {
        const response = await this.#send(
          node,
          {
            query: 'query($id: ID!) { message(id: $id) { room { id } } }',
            variables: { id: args['id'] },
          },
          viewer,
          cancel,
        );
        const message = response.data?.['message'];
        const room = isObj(message) && isObj(message['room']) ? message['room']['id'] : undefined;
        slot.clean.push(typeof room === 'string' ? room : null);
        if (typeof room === 'string') holders.push({ node, roomId: room });
      },
    );
    if (holders.length === 0) return all;
    const placement = await this.#o.routing.placement(holders[0]?.roomId ?? '');
    const order = placement?.storageNodeIds ?? [];
    holders.sort(
      (a, b) => (order.indexOf(a.node.id) + 1 || 1e9) - (order.indexOf(b.node.id) + 1 || 1e9),
    );
    return holders.map((h) => h.node);
  }
}

/** Codes a node answers a write with before writing anything: another node may take it. */
const UNWRITTEN = new Set(['CLOCK_SKEW', 'ROOM_MOVED']);

/**
 * The node answered the mutation field only with a refusal that wrote nothing (CLOCK_SKEW,
 * ROOM_MOVED): its code, and the room of a ROOM_MOVED.
 */
function refusedUnwritten(
  response: { data?: unknown; errors?: readonly GraphQLFormattedError[] },
  key: string,
): { code: string; roomId?: string } | undefined {
  const errors = response.errors ?? [];
  const value = isObj(response.data) ? response.data[key] : null;
  const first = errors[0];
  const code = first?.extensions?.['code'];
  if (
    first === undefined ||
    (value !== null && value !== undefined) ||
    typeof code !== 'string' ||
    !UNWRITTEN.has(code) ||
    !errors.every((e) => e.extensions?.['code'] === code)
  )
    return undefined;
  const roomId = first.extensions?.['roomId'];
  return { code, ...(typeof roomId === 'string' ? { roomId } : {}) };
}
