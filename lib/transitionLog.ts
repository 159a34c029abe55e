// Log lines for things that fail over and over while something is down (a feed reopened every
// few hundred ms, one per room): a line when a key starts failing and one when it recovers,
// not one per attempt. Repeats in between are counted, and the count is logged at most once per
// `repeatEveryMs`, so a long outage still shows in the log without flooding it.
import type { Logger } from './log.ts';

interface Failing {
  since: number;
  lastLogged: number;
  repeats: number;
}

export class TransitionLog {
  readonly #log: Logger;
  readonly #repeatEveryMs: number;
  readonly #failing = new Map<string, Failing>();

  constructor(log: Logger, repeatEveryMs = 60_000) {
    this.#log = log;
    this.#repeatEveryMs = repeatEveryMs;
  }

  /** `key` failed (again): logged as a warning when it was not failing yet, else counted. */
  failing(key: string, line: string): void {
    const now = Date.now();
    const state = this.#failing.get(key);
    if (!state) {
      this.#failing.set(key, { since: now, lastLogged: now, repeats: 0 });
      this.#log.warn(line);
      return;
    }
    state.repeats += 1;
    if (now - state.lastLogged < this.#repeatEveryMs) return;
    const seconds = Math.round((now - state.since) / 1000);
    this.#log.warn(
      `${line} (failing for ${seconds} s; ${state.repeats} times since the last line)`,
    );
    state.lastLogged = now;
    state.repeats = 0;
  }

  /** `key` works: logged when it was failing, else nothing. */
  recovered(key: string, line: string): void {
    const state = this.#failing.get(key);
    if (!state) return;
    this.#failing.delete(key);
    const seconds = ((Date.now() - state.since) / 1000).toFixed(1);
    this.#log.info(`${line} (after ${seconds} s)`);
  }
}
