// The HTTP envelope at the connection level, on raw sockets: what a client sees that fetch hides.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { TcpProxy } from "../helpers/proxy.ts";
import { SHARED_REDIS, sharedRedis, sharedRedisEnv } from "../helpers/redis.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

let db: TestDatabase;
let api: TestService | undefined;
let proxy: TcpProxy | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await api?.stop();
  await proxy?.cut();
  api = proxy = undefined;
});
afterAll(async () => {
  await db?.drop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One client connection, written and read byte by byte. */
class RawConnection {
  private buffer = Buffer.alloc(0);
  private waiting: (() => void) | undefined;
  ended = false;
  error: Error | undefined;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.on("data", (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.waiting?.();
    });
    socket.on("end", () => {
      this.ended = true;
      this.waiting?.();
    });
    // A client still sending a body the server has stopped reading may see EPIPE: not a lost answer.
    socket.on("error", (error) => (this.error = error));
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
  }

  static async open(port: number): Promise<RawConnection> {
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => socket.once("connect", resolve).once("error", reject));
    return new RawConnection(socket);
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The next whole response (Content-Length, chunked, or up to the end of the connection). */
  async response(head = false, timeoutMs = 10_000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const parsed = this.parse(head);
      if (parsed) return parsed;
      if (this.ended) throw new Error(`connection ended before a whole response; received ${JSON.stringify(this.buffer.toString())}`);
      if (Date.now() > deadline)
        throw new Error(`no whole response within ${timeoutMs} ms; received ${JSON.stringify(this.buffer.toString())}`);
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 100);
      });
    }
  }

  private parse(head: boolean): RawResponse | undefined {
    const end = this.buffer.indexOf("\r\n\r\n");
    if (end === -1) return undefined;
    const [statusLine, ...lines] = this.buffer.subarray(0, end).toString("latin1").split("\r\n");
    const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(":")).toLowerCase(), l.slice(l.indexOf(":") + 1).trim()]));
    const status = Number(statusLine!.split(" ")[1]);
    const rest = this.buffer.subarray(end + 4);
    let length: number;
    let body: string;
    if (head) {
      length = 0;
      body = "";
    } else if (headers["content-length"] !== undefined) {
      length = Number(headers["content-length"]);
      if (rest.length < length) return undefined;
      body = rest.subarray(0, length).toString();
    } else if (headers["transfer-encoding"] === "chunked") {
      length = rest.indexOf("0\r\n\r\n") + 5;
      if (length === 4) return undefined;
      body = rest.subarray(0, length).toString();
    } else {
      if (!this.ended) return undefined;
      length = rest.length;
      body = rest.toString();
    }
    this.buffer = rest.subarray(length);
    return { status, headers, body };
  }
}

const SECURITY_HEADERS = {
  "cache-control": "no-store",
  "content-security-policy": "frame-ancestors 'none'",
  "strict-transport-security": "max-age=15552000; includeSubDomains",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

const metricSample = async (service: TestService, series: string) => {
  const text = await (await service.request("/metrics")).text();
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
};

describe("a request without a usable Host", () => {
  it.each([
    ["HTTP/1.0 without Host (a load balancer's health check)", "GET /health HTTP/1.0\r\n\r\n"],
    ["HTTP/1.1 without Host", "GET /health HTTP/1.1\r\n\r\n"],
    ["a Host with a space", "GET /health HTTP/1.1\r\nHost: a b\r\n\r\n"],
    ["a Host with a slash", "GET /health HTTP/1.1\r\nHost: a/b\r\n\r\n"],
  ])("%s: a JSON 400 with the security headers, a log line and a metric", async (_name, request) => {
    api = await startTestService(db.env);
    const series = 'http_requests_total{method="GET",endpoint="unmatched",status="400"}';
    const before = await metricSample(api, series);
    const logged = api.logs.length;
    const conn = await RawConnection.open(api.port);
    conn.write(request);
    const res = await conn.response();
    conn.destroy();
    expect(res.status).toBe(400);
    expect(res.headers["content-type"]).toMatch(/^application\/json/);
    expect(JSON.parse(res.body)).toEqual({ error: expect.any(String) });
    expect(res.headers).toMatchObject(SECURITY_HEADERS);
    const lines = api.logs.slice(logged).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.filter((l) => l.msg === "request")).toEqual([
      expect.objectContaining({ method: "GET", path: "/health", route: "unmatched", status: 400 }),
    ]);
    expect(await metricSample(api, series)).toBe(before + 1);
  });
});

describe("an answer sent before the request's body has all arrived", () => {
  const post = (method: string, path: string, contentType: string, length: number) =>
    `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: ${contentType}\r\nContent-Length: ${length}\r\n\r\n`;
  const body = '{"title":"slow body"}';

  // The rest of the body comes a second later: past @hono/node-server's 500 ms drain timeout.
  it.each([
    [
      "413, a 1 MB body sent at once",
      post("POST", "/tasks", "application/json", 1 << 20),
      Buffer.alloc(1 << 20, "a"),
      Buffer.alloc(0),
      413,
    ],
    ["404, a slow body", post("POST", "/nowhere", "application/json", body.length), body.slice(0, 5), body.slice(5), 404],
    ["415, a slow body", post("POST", "/tasks", "text/plain", body.length), body.slice(0, 5), body.slice(5), 415],
    ["400, a slow body", post("PATCH", "/tasks/abc", "application/json", body.length), body.slice(0, 5), body.slice(5), 400],
  ])(
    "%s: the client's next request on the connection is answered, or it is told Connection: close",
    async (_name, head, first, rest, status) => {
      api = await startTestService(db.env);
      const conn = await RawConnection.open(api.port);
      conn.write(Buffer.concat([Buffer.from(head), Buffer.from(first)]));
      await sleep(1000);
      conn.write(Buffer.from(rest));
      const answer = await conn.response();
      expect(answer.status).toBe(status);
      expect(JSON.parse(answer.body)).toMatchObject({ error: expect.any(String) });
      conn.write("GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n");
      if (answer.headers.connection === "close") {
        await conn.closed;
        expect(conn.ended).toBe(true);
      } else {
        expect((await conn.response()).status).toBe(200);
        conn.destroy();
      }
    },
  );
});

describe("shutdown", () => {
  it("closes a connection that never sent a request after the 1 s linger, not at the end of the grace period", {
    timeout: 30_000,
  }, async () => {
    api = await startTestService({ ...db.env, SHUTDOWN_GRACE_SECONDS: "120" });
    const conn = await RawConnection.open(api.port);
    await api.stop();
    await conn.closed;
    expect(api.logs.some((l) => l.includes("grace period over"))).toBe(false);
    expect(api.logs.at(-1)).toContain("shut down cleanly");
    api = undefined;
  });
});

describe("HEAD", () => {
  it.each(["/health", "/tasks", "/tasks/424242", "/nowhere"])("%s carries the Content-Length GET's answer has", async (path) => {
    api = await startTestService(db.env);
    const get = await api.request(path);
    const length = (await get.arrayBuffer()).byteLength;
    expect(get.headers.get("content-length")).toBe(String(length));
    const head = await api.request(path, { method: "HEAD" });
    expect(head.status).toBe(get.status);
    expect(head.headers.get("content-length")).toBe(String(length));
    expect(await head.text()).toBe("");
  });
});

describe("GET /ready", () => {
  it("reports the cache unavailable while Redis is reachable but does not answer", async () => {
    proxy = await new TcpProxy(SHARED_REDIS.port, SHARED_REDIS.host).open();
    const prefix = `taskflow-test-${randomBytes(4).toString("hex")}`;
    api = await startTestService({
      ...db.env,
      ...sharedRedisEnv(),
      REDIS_HOST: "127.0.0.1",
      REDIS_PORT: String(proxy.port),
      CACHE_PREFIX: prefix,
    });
    const service = api;
    const ready = async () => {
      const res = await service.request("/ready");
      return { code: res.status, body: (await res.json()) as Record<string, string> };
    };
    await expect.poll(async () => (await ready()).body.cache).toBe("connected");
    proxy.hold();
    expect(await ready()).toEqual({ code: 200, body: { status: "ready", database: "connected", cache: "unavailable" } });
    proxy.release();
    await expect.poll(async () => (await ready()).body.cache, { message: "the cache answers again" }).toBe("connected");
    const redis = sharedRedis();
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });
});
