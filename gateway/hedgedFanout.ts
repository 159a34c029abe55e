// One read spread over the nodes that can answer it, with hedging. A read has slots (an entity
// of an `_entities` fetch, or one root field), each with its candidate nodes, best first. Every
// slot is first asked of its preferred nodes (the router: all healthy storage nodes, whose
// answers it merges); requests are grouped per node. Then, per slot:
// - a node that fails hands its slots on to the next candidate not yet asked;
// - a node not answered within its hedge bound (nodeHealth.ts: its recent p95, clamped) makes
//   the slots it alone was serving go to the next candidate too, while it keeps running;
// - a slot is done when nothing asked of it is pending, or when it has an answer and everything
//   still pending is past its bound.
// Once every slot is done, requests still pending are cancelled: a frozen node then costs a read
// about its bound, not the node timeout.
import type { RoutingNode } from './centralLink.ts';

export interface FanoutHooks {
  /** Which of a slot's candidates to ask at once; the others are kept for failover and hedging. */
  readonly first: (candidates: readonly RoutingNode[]) => readonly RoutingNode[];
  /** Sends the slots to the node and records what it answered; throws when it did not answer. */
  readonly ask: (node: RoutingNode, slots: readonly number[], cancel: AbortSignal) => Promise<void>;
  /** Records that the node did not answer for these slots (not called for cancelled requests). */
  readonly failed: (node: RoutingNode, slots: readonly number[], error: unknown) => void;
  /** Whether the slot holds an answer that may be served (data or a node's GraphQL error). */
  readonly answered: (slot: number) => boolean;
  /** How long to wait for the node before asking another candidate as well. */
  readonly hedgeAfterMs: (node: RoutingNode) => number;
  /**
   * Told when a node passes its bound while some of its slots have another answer or are sent to
   * another candidate: the read no longer waits for it alone.
   */
  readonly onHedge?: (slow: RoutingNode) => void;
}

interface Pending {
  readonly node: RoutingNode;
  readonly slots: readonly number[];
  readonly cancel: AbortController;
  pastBound: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Runs the read; resolves once every slot is done (see above). Rejects on a non-node error. */
export function hedgedFanout(
  candidates: ReadonlyArray<readonly RoutingNode[]>,
  hooks: FanoutHooks,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const asked = candidates.map(() => new Set<string>());
    const pending = new Set<Pending>();
    let finished = false;

    const finish = (error?: unknown) => {
      if (finished) return;
      finished = true;
      for (const p of pending) {
        clearTimeout(p.timer);
        p.cancel.abort();
      }
      pending.clear();
      if (error === undefined) resolve();
      else reject(error as Error);
    };

    const pendingFor = (slot: number) => [...pending].filter((p) => p.slots.includes(slot));

    const done = (slot: number) => {
      const waiting = pendingFor(slot);
      return waiting.length === 0 || (hooks.answered(slot) && waiting.every((p) => p.pastBound));
    };

    const check = () => {
      if (!finished && candidates.every((_, slot) => done(slot))) finish();
    };

    /** Sends each slot to its next candidate not yet asked, grouped per node. */
    const askNext = (slots: readonly number[]) => {
      const groups = new Map<string, { node: RoutingNode; slots: number[] }>();
      for (const slot of slots) {
        const next = candidates[slot]?.find((n) => !asked[slot]?.has(n.id));
        if (!next) continue;
        const group = groups.get(next.id) ?? { node: next, slots: [] };
        group.slots.push(slot);
        groups.set(next.id, group);
      }
      for (const { node, slots: grouped } of groups.values()) send(node, grouped);
    };

    const send = (node: RoutingNode, slots: number[]) => {
      for (const slot of slots) asked[slot]?.add(node.id);
      const p: Pending = {
        node,
        slots,
        cancel: new AbortController(),
        pastBound: false,
        timer: undefined,
      };
      pending.add(p);
      p.timer = setTimeout(() => {
        p.timer = undefined;
        if (finished || !pending.has(p)) return;
        p.pastBound = true;
        // Slots that nobody else is working on and that have no answer: ask another node too.
        const alone = slots.filter(
          (slot) => !hooks.answered(slot) && pendingFor(slot).every((q) => q.pastBound),
        );
        const hedgeable = alone.filter((slot) =>
          candidates[slot]?.some((n) => !asked[slot]?.has(n.id)),
        );
        // Hedged: the read no longer waits for this node alone, for some of its slots.
        if (hedgeable.length > 0 || slots.some((slot) => hooks.answered(slot)))
          hooks.onHedge?.(node);
        if (hedgeable.length > 0) askNext(hedgeable);
        check();
      }, hooks.hedgeAfterMs(node));
      p.timer.unref();
      hooks.ask(node, slots, p.cancel.signal).then(
        () => {
          if (!pending.delete(p)) return;
          clearTimeout(p.timer);
          check();
        },
        (error: unknown) => {
          if (!pending.delete(p)) return;
          clearTimeout(p.timer);
          try {
            hooks.failed(node, slots, error);
          } catch (thrown) {
            finish(thrown);
            return;
          }
          // Failover: slots left with no answer and nothing else pending go on to the next node.
          askNext(slots.filter((slot) => !hooks.answered(slot) && pendingFor(slot).length === 0));
          check();
        },
      );
    };

    const initial = new Map<string, { node: RoutingNode; slots: number[] }>();
    candidates.forEach((list, slot) => {
      for (const node of hooks.first(list)) {
        const group = initial.get(node.id) ?? { node, slots: [] };
        group.slots.push(slot);
        initial.set(node.id, group);
      }
    });
    for (const { node, slots } of initial.values()) send(node, slots);
    check();
  });
}
