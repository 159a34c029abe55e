// A steady post load through several gateways, by clients that retry as docs/api.md tells them
// to: a post that got no answer, or an error saying nothing was (or may have been) applied, is
// sent again with the same clientMessageId and content, on the next gateway. Every post the
// service acknowledged is kept, with the id it was given, so that a test can check afterwards
// that each one is on every storage node of its room, once.
import { v7 as uuidv7 } from 'uuid';

export interface AckedPost {
  readonly id: string;
  readonly roomId: string;
  readonly content: string;
  readonly clientMessageId: string;
  /** Attempts it took (1 = the first was answered). */
  readonly attempts: number;
}

export interface PostLoadOptions {
  /** Gateway base URLs; client i starts on gateway i % n and moves on to the next on failure. */
  readonly gateways: () => readonly string[];
  readonly rooms: readonly string[];
  /** Users' tokens; client i posts as token i % n. */
  readonly tokens: readonly string[];
  readonly clients: number;
  /** Marks the content of this load's posts. */
  readonly tag: string;
  /** How long one post is retried before it is given up. @default 90000 */
  readonly giveUpMs?: number;
}

const POST =
  'mutation($r: ID!, $c: String!, $k: ID) { postMessage(roomId: $r, content: $c, clientMessageId: $k) { id } }';

/** Codes saying the write was refused for good: retrying it would not change the answer. */
const FINAL = new Set(['BAD_USER_INPUT', 'CONFLICT', 'FORBIDDEN', 'NOT_FOUND']);

export class PostLoad {
  readonly acked: AckedPost[] = [];
  /** Posts refused for good (with their error): a correct service refuses none of this load's. */
  readonly refused: Array<{ content: string; error: string }> = [];
  /** Posts given up after `giveUpMs` of retries: they may be stored, at most once. */
  readonly abandoned: Array<{ content: string; roomId: string }> = [];
  /** Attempts that failed and were retried, by what they got (code, or the network error). */
  readonly retried = new Map<string, number>();
  readonly #options: PostLoadOptions;
  readonly #waiters = new Set<() => void>();
  #running = false;
  #clients: Promise<void>[] = [];
  #sequence = 0;

  constructor(options: PostLoadOptions) {
    this.#options = options;
  }

  start(): this {
    this.#running = true;
    this.#clients = Array.from({ length: this.#options.clients }, (_, i) => this.#client(i));
    return this;
  }

  /** Stops sending new posts and waits for those in flight to be answered or given up. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#clients);
  }

  /** Resolves once `more` posts beyond those acknowledged now have been acknowledged. */
  waitForMore(more: number, timeoutMs = 60_000): Promise<void> {
    const target = this.acked.length + more;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(
          new Error(
            `only ${this.acked.length} of ${target} posts acknowledged within ${timeoutMs} ms; retried: ${JSON.stringify([...this.retried])}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (this.acked.length < target) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      this.#waiters.add(check);
      check();
    });
  }

  async #client(index: number): Promise<void> {
    const { rooms, tokens, tag } = this.#options;
    const token = tokens[index % tokens.length] as string;
    while (this.#running) {
      const n = this.#sequence++;
      const roomId = rooms[n % rooms.length] as string;
      const content = `${tag} ${n} by client ${index}`;
      await this.#post(index, token, roomId, content, uuidv7());
    }
  }

  async #post(
    client: number,
    token: string,
    roomId: string,
    content: string,
    clientMessageId: string,
  ): Promise<void> {
    const giveUpAt = Date.now() + (this.#options.giveUpMs ?? 90_000);
    for (let attempt = 1; ; attempt++) {
      const gateways = this.#options.gateways();
      const gateway = gateways[(client + attempt - 1) % gateways.length] as string;
      const outcome = await this.#send(gateway, token, roomId, content, clientMessageId);
      if ('id' in outcome) {
        this.acked.push({ id: outcome.id, roomId, content, clientMessageId, attempts: attempt });
        for (const waiter of [...this.#waiters]) waiter();
        return;
      }
      if (FINAL.has(outcome.code)) {
        this.refused.push({ content, error: outcome.error });
        return;
      }
      this.retried.set(outcome.code, (this.retried.get(outcome.code) ?? 0) + 1);
      if (Date.now() > giveUpAt) {
        this.abandoned.push({ content, roomId });
        return;
      }
      // A client's pause before its retry, not a test waiting for a state.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async #send(
    gateway: string,
    token: string,
    roomId: string,
    content: string,
    clientMessageId: string,
  ): Promise<{ id: string } | { code: string; error: string }> {
    try {
      const response = await fetch(`${gateway}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: POST,
          variables: { r: roomId, c: content, k: clientMessageId },
        }),
        signal: AbortSignal.timeout(30_000),
      });
      const text = await response.text();
      let body: {
        data?: { postMessage?: { id: string } | null } | null;
        errors?: Array<{ message: string; extensions?: { code?: string } }>;
      };
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        return { code: `HTTP ${response.status}`, error: text.slice(0, 200) };
      }
      const id = body.data?.postMessage?.id;
      if (id !== undefined && !body.errors?.length) return { id };
      const first = body.errors?.[0];
      return {
        code: String(first?.extensions?.code ?? `HTTP ${response.status}`),
        error: first?.message ?? text.slice(0, 200),
      };
    } catch (error) {
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
      const code =
        (cause as { code?: string }).code ?? (error instanceof Error ? error.name : 'network');
      return { code, error: String(cause) };
    }
  }
}
