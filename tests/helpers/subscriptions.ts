// A graphql-ws client for tests that collects events and lets a test await "the next N events"
// or an error, instead of sleeping.
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Leftovers } from './leftovers.ts';
import { TEST_GATEWAY_SECRET } from './graphql.ts';

export interface Collected<T> {
  readonly events: T[];
  readonly errors: unknown[];
  /** Resolves once `count` events have arrived (rejects on a subscription error). */
  waitFor(count: number): Promise<T[]>;
  /** Resolves with the first event matching `predicate` (already received or future). */
  waitUntil(predicate: (event: T) => boolean): Promise<T>;
  /** Resolves with the subscription's first error. */
  failure(): Promise<unknown>;
  /** Unsubscribes. */
  stop(): void;
}

export function wsClient(leftovers: Leftovers, httpUrl: string, token?: string): Client {
  const client = createClient({
    url: httpUrl.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    // The gateway ignores the secret; central called directly requires it (nodes take only a
    // gateway assertion: tests/helpers/gatewayAssertions.ts).
    connectionParams: {
      gatewaySecret: TEST_GATEWAY_SECRET,
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    retryAttempts: 0,
    lazy: true,
  });
  leftovers.defer(() => client.dispose());
  return client;
}

export function collect<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown> = {},
): Collected<T> {
  const events: T[] = [];
  const errors: unknown[] = [];
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const l of listeners) l();
  };
  const stop = client.subscribe<T>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors?.length) errors.push(result.errors);
        else if (result.data) events.push(result.data as T);
        notify();
      },
      error: (error) => {
        errors.push(error);
        notify();
      },
      complete: notify,
    },
  );
  const until = <R>(check: () => R | undefined): Promise<R> =>
    new Promise((resolve, reject) => {
      const test = () => {
        try {
          const value = check();
          if (value !== undefined) {
            listeners.delete(test);
            resolve(value);
          }
        } catch (error) {
          listeners.delete(test);
          reject(error instanceof Error ? error : new Error(JSON.stringify(error)));
        }
      };
      listeners.add(test);
      test();
    });
  return {
    events,
    errors,
    waitFor: (count) =>
      until(() => {
        if (errors.length > 0) throw new Error(`subscription failed: ${describe(errors[0])}`);
        return events.length >= count ? events.slice(0, count) : undefined;
      }),
    waitUntil: (predicate) =>
      until(() => {
        if (errors.length > 0) throw new Error(`subscription failed: ${describe(errors[0])}`);
        return events.find(predicate);
      }),
    failure: () => until(() => errors[0]),
    stop,
  };
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return JSON.stringify(error);
  if (error instanceof Error) return error.message;
  const e = error as { code?: number; reason?: string; message?: string; type?: string };
  return `${e.type ?? 'event'} code=${e.code ?? ''} reason=${e.reason ?? ''} ${e.message ?? ''}`;
}
