// Keeps the demo's processes running: a child that dies unasked is reported in one line and
// started again after a backoff, while the others keep serving. A child that keeps dying soon
// after each start (bad config, port taken) is given up on instead of restarted forever.
import type { Logger } from '../lib/log.ts';
import type { Child, ExitReason } from './childProcess.ts';

export interface BackoffOptions {
  /** Delay before the first restart after a healthy run. */
  readonly initialDelayMs: number;
  /** Longest delay, however often the child died. */
  readonly maxDelayMs: number;
  /** A run at least this long was healthy: the next death starts the backoff over. */
  readonly stableAfterMs: number;
  /** Restarts tried in a row, each of which died within `stableAfterMs`, before giving up. */
  readonly maxQuickRestarts: number;
}

export interface SupervisorOptions extends BackoffOptions {
  readonly log: Logger;
  /** In [0, 1): spreads the delays. @default Math.random */
  readonly random?: () => number;
  /** Milliseconds, for run lengths. @default Date.now */
  readonly now?: () => number;
}

/**
 * Delay before restart number `attempt` (1 = first restart after a healthy run): doubling from
 * `initialDelayMs`, capped, then spread by ±20% so that children that died together (a crash of
 * the machine's disk, say) do not all come back in the same instant.
 */
export function restartDelay(
  attempt: number,
  options: Pick<BackoffOptions, 'initialDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const base = Math.min(options.initialDelayMs * 2 ** Math.max(0, attempt - 1), options.maxDelayMs);
  return Math.round(Math.min(base * (0.8 + 0.4 * random()), options.maxDelayMs));
}

/** "exit code 1" or "killed by SIGKILL": how a child ended, for a log line. */
export function describeExit(reason: ExitReason): string {
  if (typeof reason === 'number') return `exit code ${reason}`;
  if (reason === null) return 'no exit status';
  return `killed by ${reason}`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export class Supervised {
  readonly name: string;
  /** The first run's match of the ready pattern; rejects if that run exits before it. */
  readonly ready: Promise<RegExpMatchArray>;
  readonly #spawn: () => Child;
  readonly #options: SupervisorOptions;
  readonly #now: () => number;
  #current: Child | undefined;
  #startedAt = 0;
  #everReady = false;
  #quickDeaths = 0;
  #stopped = false;
  #gaveUp = false;
  #timer: NodeJS.Timeout | undefined;

  constructor(name: string, spawn: () => Child, readyPattern: RegExp, options: SupervisorOptions) {
    this.name = name;
    this.#spawn = spawn;
    this.#options = options;
    this.#now = options.now ?? Date.now;
    const first = this.#run();
    this.ready = first.waitForLine(readyPattern).then((match) => {
      this.#everReady = true;
      return match;
    });
    // A first run that dies before it is ready is the caller's error to handle (it awaits
    // `ready`), not a crash to restart: the demo cannot start at all.
    this.ready.catch(() => {});
  }

  /** The running process, if any: none while waiting to restart or after giving up. */
  get current(): Child | undefined {
    return this.#current;
  }

  /** Whether it was given up on after dying too often right after starting. */
  get gaveUp(): boolean {
    return this.#gaveUp;
  }

  /** Stops the child for good, also when it is waiting to be restarted. */
  async stop(graceMs?: number): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#current?.stop(graceMs);
  }

  #run(): Child {
    const child = this.#spawn();
    this.#current = child;
    this.#startedAt = this.#now();
    this.#options.log.info(`${this.name} pid ${child.pid ?? '(none)'}`);
    void child.exited.then((reason) => this.#exited(child, reason));
    return child;
  }

  #exited(child: Child, reason: ExitReason): void {
    if (this.#current === child) this.#current = undefined;
    if (this.#stopped || !this.#everReady) return;
    const ranMs = this.#now() - this.#startedAt;
    if (ranMs >= this.#options.stableAfterMs) this.#quickDeaths = 0;
    this.#quickDeaths += 1;
    const how = `${this.name} (pid ${child.pid ?? '?'}) exited unexpectedly (${describeExit(reason)}) after ${seconds(ranMs)}`;
    if (this.#quickDeaths > this.#options.maxQuickRestarts) {
      this.#gaveUp = true;
      this.#options.log.error(
        `${how}; giving up on it: it died within ${seconds(this.#options.stableAfterMs)} of starting ` +
          `${this.#quickDeaths} times in a row. The other processes keep serving.`,
      );
      return;
    }
    const delayMs = restartDelay(this.#quickDeaths, this.#options, this.#options.random);
    this.#options.log.warn(`${how}; restarting it in ${seconds(delayMs)}`);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      if (!this.#stopped) this.#run();
    }, delayMs);
  }
}
