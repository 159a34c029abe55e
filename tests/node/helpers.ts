// Helpers for the node's tests: a node started against a real central, database inspection,
// forced failures, and a graphql-ws subscriber that records what it receives.
import type Database from 'better-sqlite3';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { NodeDb } from '../../subgraphs/node/db/open.ts';

export function countRows(db: NodeDb, table: 'messages' | 'change_log' | 'meta'): number {
  return (db.sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
}

/** Everything in the node's tables, to show that a refused request wrote nothing. */
export function snapshot(db: NodeDb): unknown {
  return {
    messages: db.sqlite.prepare('SELECT * FROM messages ORDER BY id').all(),
    changeLog: db.sqlite.prepare('SELECT * FROM change_log ORDER BY seq').all(),
    meta: db.sqlite.prepare('SELECT * FROM meta ORDER BY key').all(),
  };
}

/**
 * Makes every insert into `table` fail from now on, as a full disk or a crash between two
 * statements would; returns the function that undoes it.
 */
export function failInsertsInto(sqlite: Database.Database, table: string): () => void {
  sqlite.exec(
    `CREATE TRIGGER fail_${table} BEFORE INSERT ON ${table} BEGIN SELECT RAISE(ABORT, 'forced failure'); END`,
  );
  return () => sqlite.exec(`DROP TRIGGER fail_${table}`);
}

/**
 * A graphql-ws client of a node with the given connectionParams as they are: for refusals (a
 * client acting as the gateway uses TestGateway.wsClient).
 */
export function rawWsClient(url: string, connectionParams: Record<string, unknown>): Client {
  return createClient({
    url: url.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams,
  });
}

export interface Recorded<T> {
  readonly values: T[];
  readonly errors: unknown[];
  /** Resolves once at least `count` values arrived. */
  received(count: number): Promise<T[]>;
  /** Resolves with the first error (or when the server completes the subscription). */
  ended(): Promise<unknown>;
  stop(): void;
}

/** Subscribes and records every `data[field]` the server sends. */
export function record<T>(
  client: Client,
  query: string,
  variables: Record<string, unknown>,
  field: string,
): Recorded<T> {
  const values: T[] = [];
  const errors: unknown[] = [];
  const waiters: Array<{ count: number; resolve: (v: T[]) => void }> = [];
  let end: (value: unknown) => void = () => {};
  const endPromise = new Promise<unknown>((resolve) => (end = resolve));
  const check = () => {
    for (const w of [...waiters]) {
      if (values.length >= w.count) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve([...values]);
      }
    }
  };
  const stop = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next: (result) => {
        if (result.errors) {
          errors.push(...result.errors);
          end(result.errors[0]);
        }
        const value = result.data?.[field];
        if (value !== undefined) {
          values.push(value);
          check();
        }
      },
      // An `error` message (refused before execution) carries a list of GraphQL errors.
      error: (error) => {
        const first: unknown = Array.isArray(error) ? error[0] : error;
        errors.push(first);
        end(first);
      },
      complete: () => end(undefined),
    },
  );
  return {
    values,
    errors,
    received: (count) =>
      new Promise<T[]>((resolve) => {
        waiters.push({ count, resolve });
        check();
      }),
    ended: () => endPromise,
    stop,
  };
}
