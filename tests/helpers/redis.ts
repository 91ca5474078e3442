// A private redis-server on a free port, so a test can stop and restart it.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import { Redis } from "ioredis";
import { freePort } from "./process.ts";

export class RedisServer {
  private proc: ChildProcess | undefined;
  port = 0;

  /** `args`: more redis-server arguments, e.g. `["--include", file]` or `["--requirepass", pw]`. */
  constructor(private readonly args: string[] = []) {}

  /** A client that can talk to this server before any AUTH: RESP2 and no ready check. */
  client(): Redis {
    const client = new Redis({ port: this.port, protocol: 2, lazyConnect: true, enableReadyCheck: false, retryStrategy: () => null });
    client.on("error", () => {});
    return client;
  }

  async start(): Promise<this> {
    this.port ||= await freePort();
    const proc = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...this.args],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    this.proc = proc;
    let output = "";
    proc.stdout.on("data", (d: Buffer) => (output += d));
    proc.stderr.on("data", (d: Buffer) => (output += d));
    const deadline = Date.now() + 10_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with code ${proc.exitCode} before it answered:\n${output}`);
      const client = this.client();
      try {
        await client.connect();
        // A server with requirepass refuses PING until AUTH: that refusal shows it is up too.
        await client.ping().catch((error: Error) => {
          if (!error.message.startsWith("NOAUTH")) throw error;
        });
        break;
      } catch (error) {
        if (Date.now() > deadline) {
          await this.stop();
          throw new Error(`redis-server did not start on port ${this.port}: ${(error as Error).message}\n${output}`);
        }
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

const sharedUrl = new URL(process.env.REDIS_URL || "redis://127.0.0.1:6379");

/**
 * The machine's Redis, shared by every test file (each under a key prefix of its own): REDIS_URL's
 * host, port and password, by default redis://127.0.0.1:6379.
 */
export const SHARED_REDIS = {
  host: sharedUrl.hostname.replace(/^\[(.*)\]$/, "$1"),
  port: Number(sharedUrl.port || 6379),
  password: decodeURIComponent(sharedUrl.password) || undefined,
};

/** The service's settings for the shared Redis. */
export const sharedRedisEnv = (): Record<string, string> => ({
  REDIS_HOST: SHARED_REDIS.host,
  REDIS_PORT: String(SHARED_REDIS.port),
  ...(SHARED_REDIS.password && { REDIS_PASSWORD: SHARED_REDIS.password }),
});

/** A client on the machine's shared Redis, for assertions on keys a test created. */
export const sharedRedis = () => new Redis({ ...SHARED_REDIS, lazyConnect: true });

const REPR_ESCAPES: Record<string, string> = { n: "\n", r: "\r", t: "\t", a: "\x07", b: "\b" };
// Redis quotes MONITOR's arguments byte by byte (sdscatrepr): \n \r \t \a \b, \xHH, and a backslash before " and \.
const unescapeRepr = (_: string, sequence: string) =>
  sequence.length === 3 ? String.fromCharCode(parseInt(sequence.slice(1), 16)) : (REPR_ESCAPES[sequence] ?? sequence);

/**
 * Redis MONITOR on a plain socket, calling `onCommand` with each command's arguments; resolves once
 * MONITOR has answered OK. Not ioredis' monitor(): it enters monitoring mode a microtask after that OK,
 * so on a busy server (the test files share it and run in parallel) a command line arriving in the
 * same chunk meets an empty command queue and fails the test with "Command queue state error"
 * (redis/ioredis#1981, taskforcesh/bullmq#2505).
 */
export async function monitorSharedRedis(onCommand: (args: string[]) => void): Promise<{ close(): void }> {
  const socket = connect(SHARED_REDIS.port, SHARED_REDIS.host);
  socket.setEncoding("utf8");
  let pending = "";
  // AUTH's OK, when a password is set, comes before MONITOR's.
  let oks = SHARED_REDIS.password ? 2 : 1;
  let ok: (() => void) | undefined;
  const started = new Promise<void>((resolve, reject) => {
    ok = resolve;
    socket.once("error", reject);
  });
  socket.on("data", (chunk: string) => {
    const lines = (pending + chunk).split("\r\n");
    pending = lines.pop()!;
    for (const line of lines) {
      if (line === "+OK" && ok) {
        if (--oks > 0) continue;
        ok();
        ok = undefined;
      } else if (line.startsWith("-")) {
        socket.destroy(new Error(`MONITOR: ${line.slice(1)}`));
      } else {
        // `+<time> [<db> <client>] "arg" "arg" ...`, each argument quoted and escaped by Redis.
        const quoted = line.slice(line.indexOf("] ") + 2).match(/"(?:[^"\\]|\\.)*"/g) ?? [];
        const bytes = quoted.map((arg) => arg.slice(1, -1).replace(/\\(x[0-9a-f]{2}|.)/g, unescapeRepr));
        onCommand(bytes.map((arg) => Buffer.from(arg, "latin1").toString("utf8")));
      }
    }
  });
  // RESP arrays: a password goes through as its bytes, whatever it holds.
  const command = (...args: string[]) => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`;
  socket.write((SHARED_REDIS.password ? command("AUTH", SHARED_REDIS.password) : "") + command("MONITOR"));
  await started;
  return { close: () => socket.destroy() };
}
