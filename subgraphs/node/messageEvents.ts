// In-process events about messages, published after the transaction that made the change has
// committed: subscriptions (`messageAdded`, `messageChanged`) listen per room; sync listens to
// everything to notice local writes. A listener that throws is logged and does not disturb the
// writer or the other listeners.
import type { Logger } from '../../lib/log.ts';
import type { MessageRow } from './db/schema.ts';

export type MessageEventKind = 'added' | 'changed';

export interface MessageEvent {
  /** `added`: the message is new on this node; `changed`: an edit or a delete of one it had. */
  readonly kind: MessageEventKind;
  readonly message: MessageRow;
  /** Whether the change was made here or applied from a peer by sync. */
  readonly source: 'local' | 'remote';
}

export type MessageListener = (event: MessageEvent) => void;

export class MessageEvents {
  readonly #byRoom = new Map<string, Set<MessageListener>>();
  readonly #all = new Set<MessageListener>();
  readonly #waiters = new Set<{ roomId: string; count: number; resolve: () => void }>();
  readonly #log: Logger;

  constructor(log: Logger) {
    this.#log = log;
  }

  /** Listens to one room's events; returns the function that stops listening. */
  onRoom(roomId: string, listener: MessageListener): () => void {
    let listeners = this.#byRoom.get(roomId);
    if (!listeners) this.#byRoom.set(roomId, (listeners = new Set()));
    listeners.add(listener);
    for (const waiter of this.#waiters) {
      if (waiter.roomId === roomId && listeners.size >= waiter.count) {
        this.#waiters.delete(waiter);
        waiter.resolve();
      }
    }
    return () => {
      listeners.delete(listener);
      if (listeners.size === 0 && this.#byRoom.get(roomId) === listeners)
        this.#byRoom.delete(roomId);
    };
  }

  /** Listens to every room's events; returns the function that stops listening. */
  onAny(listener: MessageListener): () => void {
    this.#all.add(listener);
    return () => this.#all.delete(listener);
  }

  publish(event: MessageEvent): void {
    for (const listener of [...this.#all, ...(this.#byRoom.get(event.message.roomId) ?? [])]) {
      try {
        listener(event);
      } catch (error) {
        this.#log.error(`message listener failed on ${event.kind} ${event.message.id}`, error);
      }
    }
  }

  /** How many listeners a room has (subscriptions open on it), for tests and metrics. */
  listenerCount(roomId: string): number {
    return this.#byRoom.get(roomId)?.size ?? 0;
  }

  /**
   * Resolves once the room has at least `count` listeners. A graphql-ws client is not told when
   * its subscription is in place; tests wait on this instead of sleeping before they publish.
   */
  listening(roomId: string, count = 1): Promise<void> {
    if (this.listenerCount(roomId) >= count) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.add({ roomId, count, resolve }));
  }
}
