// Which central a gateway or node talks to, when `--central-url` names several (centrals that
// share one PostgreSQL are interchangeable). Sticky: every request and stream goes to the central
// that last answered. A connection failure, a timeout or a 5xx moves everyone to the next one in
// the list; a 4xx is central's own answer and moves nothing. A request that must not be repeated
// goes to the next central only when it provably never left (no connection was made). Streams
// that found every central failing wait between full rounds, with backoff and jitter, so a
// cluster-wide outage is not met by every client reconnecting in step.
import { ConfigError } from './config.ts';
import { neverConnected } from './connectionErrors.ts';
import type { Logger } from './log.ts';

/**
 * The URLs of a `--central-url` value: one or more http(s) base URLs, comma-separated. Throws
 * ConfigError naming the entry at fault.
 */
export function parseCentralUrls(
  raw: string | readonly string[],
  name = '--central-url',
): string[] {
  const entries = typeof raw === 'string' ? raw.split(',') : [...raw];
  const urls: string[] = [];
  for (const entry of entries.map((e) => e.trim())) {
    if (entry === '')
      throw new ConfigError(
        `${name} has an empty entry in "${String(raw)}": give one URL or several separated by commas`,
      );
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new ConfigError(`${name}: "${entry}" is not a URL`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError(`${name}: "${entry}" is not an http(s) URL`);
    // Paths are appended to the origin (`/graphql`, `/internal/...`): a base path would be lost.
    if (url.pathname.replace(/\/+$/, '') !== '' || url.search !== '' || url.hash !== '')
      throw new ConfigError(
        `${name}: "${entry}" must be a base URL (scheme, host and port), without a path or query`,
      );
    const base = url.origin;
    if (urls.includes(base)) throw new ConfigError(`${name} names ${base} twice`);
    urls.push(base);
  }
  if (urls.length === 0) throw new ConfigError(`${name} names no central`);
  return urls;
}

/** The `--central-url` option's parser: the URLs checked, kept as one comma-separated string. */
export const centralUrlOption = (raw: string, name: string): string =>
  parseCentralUrls(raw, name).join(',');

/**
 * How a failed attempt counts: `answered` (central's own answer, e.g. a 4xx: it lives, and
 * another central would say the same), `unreachable` (no connection was made: the request never
 * left), `failed` (a timeout, a reset, a 5xx: central may have acted on it).
 */
export type AttemptFailure = 'answered' | 'unreachable' | 'failed';

export interface CallOptions {
  /** Whether the request may be sent again after central may have received it. */
  readonly idempotent: boolean;
  /** Errors that are central's own answer (a 4xx): no failover. @default none */
  readonly answered?: (error: unknown) => boolean;
}

export interface CentralEndpointsOptions {
  /** Logs each move to another central. @default silent */
  readonly log?: Logger;
  /** Delay after the first full round in which every central failed. @default 250 */
  readonly minBackoffMs?: number;
  /** Longest delay between full rounds. @default 5000 */
  readonly maxBackoffMs?: number;
  /** @default Math.random */
  readonly random?: () => number;
  /** @default Date.now */
  readonly now?: () => number;
}

interface Endpoint {
  readonly url: string;
  lastAnswerAt: number | undefined;
  /** Why its last attempt failed, while it has not answered since. */
  failure: { readonly reason: string; readonly at: number } | undefined;
}

export interface EndpointView {
  readonly url: string;
  readonly current: boolean;
  /** ISO 8601; null when it never answered. */
  readonly lastAnswerAt: string | null;
  /** Why the last attempt failed, when it has not answered since; else null. */
  readonly failure: string | null;
}

export class CentralEndpoints {
  readonly urls: readonly string[];
  readonly #endpoints: Endpoint[];
  readonly #log: Logger | undefined;
  readonly #minBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #switchListeners = new Set<(url: string) => void>();
  #current = 0;
  #failedRounds = 0;
  /** Centrals that failed in the current round: since the last answer or the last full round. */
  readonly #failedThisRound = new Set<string>();

  constructor(urls: string | readonly string[], options: CentralEndpointsOptions = {}) {
    this.urls = parseCentralUrls(urls);
    this.#endpoints = this.urls.map((url) => ({
      url,
      lastAnswerAt: undefined,
      failure: undefined,
    }));
    this.#log = options.log;
    this.#minBackoffMs = options.minBackoffMs ?? 250;
    this.#maxBackoffMs = options.maxBackoffMs ?? 5000;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? Date.now;
  }

  /** The central requests and streams go to now. */
  get current(): string {
    return this.#endpoints[this.#current]?.url ?? (this.urls[0] as string);
  }

  /** When some central last answered anything (epoch ms); undefined before the first answer. */
  get lastAnswerAt(): number | undefined {
    let latest: number | undefined;
    for (const e of this.#endpoints)
      if (e.lastAnswerAt !== undefined && (latest === undefined || e.lastAnswerAt > latest))
        latest = e.lastAnswerAt;
    return latest;
  }

  /** `url` answered: it stays (or becomes, if nobody else answers) the one to use. */
  answered(url: string): void {
    const endpoint = this.#endpoints.find((e) => e.url === url);
    if (!endpoint) return;
    endpoint.lastAnswerAt = this.#now();
    endpoint.failure = undefined;
    this.#failedRounds = 0;
    this.#failedThisRound.clear();
    const current = this.#endpoints[this.#current];
    // Someone answered while the current one is failing: move to the one that answers.
    if (current && current !== endpoint && current.failure !== undefined)
      this.#moveTo(this.#endpoints.indexOf(endpoint), `${url} answers`);
  }

  /** `url` failed: if it is the current central, the next one becomes current. */
  failed(url: string, reason: string): void {
    const index = this.#endpoints.findIndex((e) => e.url === url);
    const endpoint = this.#endpoints[index];
    if (!endpoint) return;
    endpoint.failure = { reason, at: this.#now() };
    this.#failedThisRound.add(url);
    if (index !== this.#current || this.#endpoints.length === 1) return;
    // The next one not tried in this round, else simply the next in the list.
    let next = (index + 1) % this.#endpoints.length;
    for (let step = 1; step < this.#endpoints.length; step++) {
      const candidate = (index + step) % this.#endpoints.length;
      const url = this.#endpoints[candidate]?.url;
      if (url !== undefined && !this.#failedThisRound.has(url)) {
        next = candidate;
        break;
      }
    }
    this.#moveTo(next, `${url} failed: ${reason}`);
  }

  /** True when every central failed in this round (none answered since it began). */
  allFailing(): boolean {
    return this.#failedThisRound.size === this.#endpoints.length;
  }

  /**
   * How long a stream waits before its next attempt: none while some central has not failed
   * yet; after a full round of failures, a delay that doubles per round (to the maximum) with
   * jitter (half to all of it).
   */
  retryDelay(): number {
    if (!this.allFailing()) return 0;
    // The pause ends the round: after it, every central is worth a try again.
    this.#failedThisRound.clear();
    this.#failedRounds += 1;
    const base = Math.min(this.#minBackoffMs * 2 ** (this.#failedRounds - 1), this.#maxBackoffMs);
    return Math.round(base / 2 + (this.#random() * base) / 2);
  }

  /** Calls `listener` with the new current URL whenever it changes; returns the unsubscriber. */
  onSwitch(listener: (url: string) => void): () => void {
    this.#switchListeners.add(listener);
    return () => this.#switchListeners.delete(listener);
  }

  /** Each central, for /ready: which is current, when it last answered, why it failed. */
  view(): EndpointView[] {
    return this.#endpoints.map((e, i) => ({
      url: e.url,
      current: i === this.#current,
      lastAnswerAt: e.lastAnswerAt === undefined ? null : new Date(e.lastAnswerAt).toISOString(),
      failure: e.failure?.reason ?? null,
    }));
  }

  /** One line naming every central and why it failed, for logs and /ready. */
  describeFailures(): string {
    return this.#endpoints
      .map((e) => {
        if (e.failure) return `${e.url} (${e.failure.reason})`;
        if (e.lastAnswerAt === undefined) return `${e.url} (not tried yet)`;
        return `${e.url} (answered ${Math.round((this.#now() - e.lastAnswerAt) / 1000)} s ago)`;
      })
      .join(', ');
  }

  /**
   * Sends one request: to the current central, then to the others in turn while the failure
   * allows it (never after `answered`; after `failed` only when idempotent). Throws the last
   * failure once every central was tried.
   */
  async call<T>(attempt: (url: string) => Promise<T>, options: CallOptions): Promise<T> {
    const start = this.#current;
    let lastError: unknown;
    for (let step = 0; step < this.#endpoints.length; step++) {
      const url = this.#endpoints[(start + step) % this.#endpoints.length]?.url as string;
      try {
        const result = await attempt(url);
        this.answered(url);
        return result;
      } catch (error) {
        const kind = this.judge(error, options.answered);
        if (kind === 'answered') {
          this.answered(url);
          throw error;
        }
        this.failed(url, describe(error));
        lastError = error;
        if (kind === 'failed' && !options.idempotent) throw error;
      }
    }
    throw lastError;
  }

  /** How an attempt's error counts (see AttemptFailure). */
  judge(error: unknown, answered?: (error: unknown) => boolean): AttemptFailure {
    if (answered?.(error)) return 'answered';
    return neverConnected(error) ? 'unreachable' : 'failed';
  }

  #moveTo(index: number, why: string): void {
    if (index === this.#current) return;
    this.#current = index;
    const url = this.current;
    this.#log?.warn(`using central ${url} (${why})`);
    for (const listener of [...this.#switchListeners]) listener(url);
  }
}

/** Central endpoints from a URL, a list, or endpoints already shared with other parts. */
export function centralEndpoints(
  central: string | readonly string[] | CentralEndpoints,
  options?: CentralEndpointsOptions,
): CentralEndpoints {
  return central instanceof CentralEndpoints ? central : new CentralEndpoints(central, options);
}

/** A failure's reason in a few words: the socket error fetch hides in `cause`, or the message. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === 'TimeoutError') return 'no answer in time';
  const cause = error.cause;
  return cause instanceof Error && !error.message.includes(cause.message)
    ? `${error.message}: ${cause.message}`
    : error.message;
}
