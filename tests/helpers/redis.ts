// A private redis-server on a free port, so a test can stop and restart it.
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { Redis } from "ioredis";
import { freePort } from "./process.ts";

export class RedisServer {
  private proc: ChildProcess | undefined;
  port = 0;

  async start(): Promise<this> {
    this.port ||= await freePort();
    this.proc = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdio: "ignore",
    });
    const deadline = Date.now() + 10_000;
    for (;;) {
      const client = new Redis({ port: this.port, lazyConnect: true, retryStrategy: () => null });
      client.on("error", () => {});
      try {
        await client.connect();
        await client.ping();
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`redis-server did not start on port ${this.port}: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        client.disconnect();
      }
    }
    return this;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (!proc || proc.exitCode !== null) return;
    proc.kill("SIGKILL");
    await once(proc, "exit");
  }
}

/** A client on the machine's shared Redis, for assertions on keys a test created. */
export const sharedRedis = () => new Redis({ host: "127.0.0.1", port: 6379, lazyConnect: true });
