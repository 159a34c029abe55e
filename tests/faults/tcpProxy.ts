// A small TCP proxy on loopback for fault tests: it forwards to a target port that can change
// (a restarted process binds a new port) and can cut, delay or stall the connections it carries.
import net from 'node:net';

export type ProxyMode = 'open' | 'cut' | 'stall';

export class TcpProxy {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();
  #stalled: Array<() => void> = [];
  #targetPort: number | undefined;
  #mode: ProxyMode = 'open';
  /** Added before each forwarded chunk, in both directions. */
  delayMs = 0;
  port = 0;

  private constructor(server: net.Server) {
    this.#server = server;
  }

  static async start(targetPort?: number): Promise<TcpProxy> {
    const proxy: TcpProxy = new TcpProxy(net.createServer((client) => proxy.#accept(client)));
    proxy.#targetPort = targetPort;
    await new Promise<void>((resolve) => proxy.#server.listen(0, '127.0.0.1', resolve));
    proxy.port = (proxy.#server.address() as net.AddressInfo).port;
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get mode(): ProxyMode {
    return this.#mode;
  }

  retarget(port: number): void {
    this.#targetPort = port;
  }

  /** Destroys every carried connection and refuses new ones (they are accepted, then reset). */
  cut(): void {
    this.#mode = 'cut';
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** Keeps connections open but forwards nothing until healed: a black hole, not a refusal. */
  stall(): void {
    this.#mode = 'stall';
  }

  heal(): void {
    this.#mode = 'open';
    this.delayMs = 0;
    const waiting = this.#stalled;
    this.#stalled = [];
    for (const resume of waiting) resume();
  }

  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #accept(client: net.Socket): void {
    if (this.#mode === 'cut' || this.#targetPort === undefined) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.#targetPort, '127.0.0.1');
    this.#sockets.add(client);
    this.#sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      this.#sockets.delete(client);
      this.#sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    this.#pipe(client, upstream);
    this.#pipe(upstream, client);
  }

  /** Forwards chunk by chunk, in order, each one waiting for the current delay and stall. */
  #pipe(from: net.Socket, to: net.Socket): void {
    let chain = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      chain = chain.then(async () => {
        if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
        while (this.#mode === 'stall') await new Promise<void>((r) => this.#stalled.push(r));
        if (!to.destroyed) to.write(chunk);
      });
    });
    from.on('end', () => {
      chain = chain.then(() => {
        if (!to.destroyed) to.end();
      });
    });
  }
}
