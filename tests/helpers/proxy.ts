// A TCP proxy the tests can cut and restore, to make PostgreSQL or Redis vanish for one client
// without touching the machine's shared servers.
import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";

export class TcpProxy {
  private server: Server | undefined;
  private sockets = new Set<Socket>();
  private upstreams = new Set<Socket>();
  private clients = new WeakMap<Socket, Socket>();
  private holding = false;
  port = 0;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = "127.0.0.1",
  ) {}

  /** Listens (again) on the same port; the first call picks a free one. */
  async open(): Promise<this> {
    const server = createServer((client) => {
      const upstream = createConnection(this.targetPort, this.targetHost);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on("close", () => this.sockets.delete(s));
        s.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      this.upstreams.add(upstream);
      upstream.on("close", () => this.upstreams.delete(upstream));
      if (!this.holding) upstream.pipe(client);
      this.clients.set(upstream, client);
    });
    server.listen(this.port, "127.0.0.1");
    await once(server, "listening");
    this.port = (server.address() as { port: number }).port;
    this.server = server;
    return this;
  }

  /** Holds back the server's answers, as a slow server would; requests still reach it. */
  hold(): void {
    this.holding = true;
    for (const upstream of this.upstreams) {
      upstream.unpipe();
      upstream.pause();
    }
  }

  /** Delivers what was held back, and everything after it. */
  release(): void {
    this.holding = false;
    for (const upstream of this.upstreams) upstream.pipe(this.clients.get(upstream)!);
  }

  /** Drops every connection and refuses new ones, as a crashed or unreachable server would. */
  async cut(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.holding = false;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise((resolve) => server.close(resolve));
  }
}
