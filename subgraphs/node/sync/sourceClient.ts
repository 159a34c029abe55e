// This node's HTTP client of a source node's feed (SYNC_CHANGES_PATH, SYNC_DIGESTS_PATH), shared
// by the sessions (pullSession.ts) and the live streams (liveReplicator.ts): it shows a pull token,
// renews it through central before it runs out (PullTokens), and turns the source's answers into
// errors a caller can act on (cursor ahead, token refused, busy).
import { connectCode } from '../../../lib/connectionErrors.ts';
import { Backoff } from '../../../lib/backoff.ts';
import { requestText } from '../../../lib/httpClient.ts';
import { PULL_TOKEN_HEADER, PULL_TOKEN_RENEW_MS } from '../../../lib/pullToken.ts';
import { SYNC_CHANGES_PATH, type PullTokenResponse } from '../../../lib/syncProtocol.ts';
import type { CentralClient } from '../centralClient.ts';
import { describe, errorMessage } from './errorText.ts';

/** A request to the source failed; the message says how, naming the source. */
export class SourceError extends Error {
  override readonly name = 'SourceError';
}

/** The source refused the cursor as ahead of its log (409): its log was reset. */
export class CursorAheadAtSource extends SourceError {}

/** The source answered 503: busy for a moment (e.g. central's keys out of reach); try again. */
export class SourceBusy extends SourceError {}

/**
 * The connection dropped under the request (reset, closed mid-answer): typically a keep-alive
 * socket the source closed as it was reused. A read is safe to send again; a source that is down
 * refuses the next connection, which is not retried.
 */
export class SourceDropped extends SourceError {}

/** Socket errors that end a request whose connection stood: see SourceDropped. */
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

/** The source refused the pull token (401): one fresh token is worth a try (central rotated keys). */
export class TokenRefused extends SourceError {}

/** The caller's signal ended the request: this node is closing the session or stream. */
export class SourceRequestAborted extends Error {
  override readonly name = 'SourceRequestAborted';
}

export interface PullTokensOptions {
  readonly central: Pick<CentralClient, 'pullToken'>;
  readonly sourceNodeId: string;
  readonly roomIds: readonly string[];
  /** The token the job or the peers event came with. */
  readonly initial: PullTokenResponse;
  /** How errors name the source ("node-b (id)"). */
  readonly sourceLabel: string;
  /** Told when central could not renew but the token held still serves. */
  readonly onStaleUse?: (error: unknown) => void;
}

/**
 * The pull token to show a source: the one held, unless it has less than PULL_TOKEN_RENEW_MS
 * left (or the source refused it), then a fresh one from central; concurrent requests share one
 * renewal. Without central a token not yet expired still serves. Timed by the real clock: the
 * node's `now` may be skewed (fault injection), central's `exp` is not.
 */
export class PullTokens {
  readonly #options: PullTokensOptions;
  #held: PullTokenResponse;
  #renewal: Promise<PullTokenResponse> | undefined;

  constructor(options: PullTokensOptions) {
    this.#options = options;
    this.#held = options.initial;
  }

  /** A token central sent unasked (the peers event again): kept if it lasts longer. */
  offer(token: PullTokenResponse): void {
    if (token.expiresAt > this.#held.expiresAt) this.#held = token;
  }

  async token(force: boolean): Promise<string> {
    if (!force && this.#held.expiresAt - Date.now() >= PULL_TOKEN_RENEW_MS) return this.#held.token;
    const { central, sourceNodeId, roomIds } = this.#options;
    this.#renewal ??= central.pullToken(sourceNodeId, roomIds).finally(() => {
      this.#renewal = undefined;
    });
    try {
      this.#held = await this.#renewal;
    } catch (error) {
      if (!force && this.#held.expiresAt > Date.now()) {
        this.#options.onStaleUse?.(error);
        return this.#held.token;
      }
      throw new SourceError(
        `central gave no pull token for ${this.#options.sourceLabel}'s feed: ${describe(error)}`,
      );
    }
    return this.#held.token;
  }
}

export interface SourceClientOptions {
  readonly sourceUrl: string;
  /** How errors name the source ("node-b (id)"). */
  readonly sourceLabel: string;
  readonly tokens: PullTokens;
  /** Ends every request when aborted (the session or stream closing). */
  readonly signal: AbortSignal;
  /** Timeout of each request. */
  readonly timeoutMs: number;
}

export class SourceClient {
  readonly #options: SourceClientOptions;

  constructor(options: SourceClientOptions) {
    this.#options = options;
  }

  /**
   * GET with retries: while the source answers 503 or the connection drops under the request (up
   * to `attempts` tries, with backoff), and once with a fresh token after the source refused the
   * one held. Reads are safe to repeat.
   */
  async get(pathAndQuery: string, attempts: number): Promise<unknown> {
    let renewedAfterRefusal = false;
    const backoff = new Backoff({ initialMs: 250, maxMs: 5000 });
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.getOnce(pathAndQuery);
      } catch (error) {
        if (error instanceof TokenRefused && !renewedAfterRefusal) {
          renewedAfterRefusal = true;
          await this.#options.tokens.token(true);
          continue;
        }
        const transient = error instanceof SourceBusy || error instanceof SourceDropped;
        if (!transient || attempt >= attempts) throw error;
        await new Promise((resolve) => setTimeout(resolve, backoff.next()));
        if (this.#options.signal.aborted) throw new SourceRequestAborted('closing');
      }
    }
  }

  /** One GET with the token held; `timeoutMs` overrides the client's (a long poll's wait). */
  async getOnce(pathAndQuery: string, timeoutMs = this.#options.timeoutMs): Promise<unknown> {
    const { sourceUrl, signal: closing } = this.#options;
    const url = new URL(pathAndQuery, sourceUrl);
    const source = `source node ${this.#options.sourceLabel} at ${sourceUrl}`;
    if (closing.aborted) throw new SourceRequestAborted('closing');
    const token = await this.#options.tokens.token(false);
    try {
      const response = await requestText(
        url,
        { headers: { [PULL_TOKEN_HEADER]: token, accept: 'application/json' } },
        timeoutMs,
        closing,
      );
      const text = response.body;
      if (response.status === 409 && url.pathname === SYNC_CHANGES_PATH) {
        throw new CursorAheadAtSource(`${source}: ${errorMessage(text)}`);
      }
      if (response.status === 401) {
        throw new TokenRefused(`${source} refused the pull token: ${errorMessage(text)}`);
      }
      if (response.status < 200 || response.status > 299) {
        const Failure = response.status === 503 ? SourceBusy : SourceError;
        throw new Failure(
          `${source} answered ${url.pathname} with HTTP ${response.status}: ${errorMessage(text)}`,
        );
      }
      try {
        return JSON.parse(text) as unknown;
      } catch {
        throw new SourceError(`${source} answered ${url.pathname} with a body that is not JSON`);
      }
    } catch (error) {
      if (error instanceof SourceError) throw error;
      if (closing.aborted) throw new SourceRequestAborted('closing');
      if (error instanceof Error && error.name === 'TimeoutError') {
        throw new SourceError(`${source} did not answer within ${timeoutMs} ms`);
      }
      const code = connectCode(error);
      const Failure = code !== undefined && DROPPED.has(code) ? SourceDropped : SourceError;
      throw new Failure(`${source} is unreachable: ${describe(error)}`);
    }
  }
}
