import { once } from "node:events";
import { Agent, createServer as createHttpServer, get } from "node:http";
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../../service/src/config.ts";
import { MIGRATION_LOCK } from "../../service/src/migrate.ts";
import { MAX_CONCURRENT_BURNS } from "../../service/src/routes/stress.ts";
import { createTestDatabase, PG_HOST, PG_PORT, type TestDatabase } from "../helpers/postgres.ts";
import { answers, type Child, freePort, killGroup, runMain } from "../helpers/process.ts";
import { TcpProxy } from "../helpers/proxy.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

let db: TestDatabase;
let proxy: TcpProxy | undefined;
let api: TestService | undefined;
let child: Child | undefined;

/** A GET through a keep-alive agent the test holds, unlike fetch's own pool: its status and Connection header. */
const getVia = (agent: Agent, url: string) =>
  new Promise<{ status: number; connection: string | undefined }>((resolve, reject) =>
    get(url, { agent }, (res) => {
      res.resume();
      res.on("end", () => resolve({ status: res.statusCode!, connection: res.headers.connection }));
    }).on("error", reject),
  );

beforeAll(async () => {
  db = await createTestDatabase();
});
afterEach(async () => {
  await api?.stop();
  await proxy?.cut();
  if (child) {
    killGroup(child, "SIGKILL");
    await child.exited;
  }
  api = proxy = child = undefined;
});
afterAll(async () => {
  await db?.drop();
});

describe("when PostgreSQL becomes unreachable", () => {
  it("answers 503 quickly, stays up, and recovers by itself", async () => {
    proxy = await new TcpProxy(PG_PORT, PG_HOST).open();
    api = await startTestService({ ...db.env, DATABASE_PORT: String(proxy.port) });
    expect((await api.json("/tasks", { title: "before" })).status).toBe(201);

    await proxy.cut();
    const ready = await api.request("/ready");
    expect(ready.status).toBe(503);
    expect(await ready.json()).toEqual({ status: "not ready", database: "unavailable", cache: "disabled" });
    for (const [path, init] of [
      ["/tasks", undefined],
      ["/tasks/1", undefined],
      ["/stats", undefined],
      ["/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: '{"title":"lost?"}' }],
    ] as const) {
      const res = await api.request(path, init);
      expect(res.status, path).toBe(503);
      expect(await res.json()).toEqual({ error: "database unavailable" });
    }
    expect((await api.request("/health")).status).toBe(200);

    await proxy.open();
    const url = `${api.url}/ready`;
    await vi.waitFor(() => answers(url), { timeout: 30_000, interval: 200 });
    const list = (await (await api.request("/tasks")).json()) as { tasks: { title: string }[] };
    expect(list.tasks.map((t) => t.title)).toEqual(["before"]);
    expect(api.logs.some((l) => l.includes('"database unavailable"'))).toBe(true);
  });

  it("answers 503 when PostgreSQL goes silent mid-query without closing anything, then recovers", async () => {
    proxy = await new TcpProxy(PG_PORT, PG_HOST).open();
    api = await startTestService({ ...db.env, DATABASE_PORT: String(proxy.port) });
    await db.sql`TRUNCATE tasks RESTART IDENTITY`;
    expect((await api.json("/tasks", { title: "before" })).status).toBe(201);

    // As a partition or a vanished pod looks from here: queries reach the server, no answer and
    // no reset come back. Only the request's deadline can end the wait.
    proxy.hold();
    const asked = performance.now();
    const res = await api.request("/tasks/1");
    expect(res.status).toBe(503);
    // Its deadline (the default 5 s), with room for a loaded machine; before it, the 15 s silence limit.
    expect(performance.now() - asked).toBeLessThan(loadConfig(db.env).DATABASE_TIMEOUT_MS + 2000);
    expect(await res.json()).toEqual({ error: "database unavailable" });

    proxy.release();
    const after = await api.request("/tasks/1");
    expect(after.status).toBe(200);
    expect(((await after.json()) as { title: string }).title).toBe("before");
  });

  it("at start: the process waits and retries, logging why, instead of exiting", async () => {
    proxy = new TcpProxy(PG_PORT, PG_HOST);
    proxy.port = await freePort();
    const port = await freePort();
    child = runMain({ ...db.env, DATABASE_PORT: String(proxy.port), PORT: String(port) });
    await expect.poll(() => child!.stdout(), { message: "the process logs that it waits" }).toContain("waiting for PostgreSQL");
    expect(child.proc.exitCode).toBeNull();
    await proxy.open();
    await vi.waitFor(() => answers(`http://127.0.0.1:${port}/ready`), { timeout: 30_000, interval: 200 });
    const line = child
      .stdout()
      .split("\n")
      .find((l) => l.includes("waiting for PostgreSQL"))!;
    expect(JSON.parse(line)).toMatchObject({ level: "warn", reason: expect.stringMatching(/ECONNREFUSED|connect/i) });
  });

  it("SIGTERM while still waiting for PostgreSQL exits 0 at once", async () => {
    const port = await freePort();
    child = runMain({ ...db.env, DATABASE_PORT: String(await freePort()), PORT: String(port) });
    await expect.poll(() => child!.stdout(), { message: "the process logs that it waits" }).toContain("waiting for PostgreSQL");
    child.proc.kill("SIGTERM");
    expect((await child.exited).code).toBe(0);
  });
});

describe("at start, DATABASE_PORT at a server that is not a working PostgreSQL", () => {
  let server: Server | undefined;
  const sockets = new Set<Socket>();
  afterEach(async () => {
    for (const socket of sockets) socket.destroy();
    sockets.clear();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    server = undefined;
  });

  /** Listens on a free port; counts the connections the service opens. */
  async function listen(made: Server) {
    server = made;
    let connections = 0;
    made.on("connection", (socket: Socket) => {
      connections++;
      sockets.add(socket);
    });
    made.listen(0, "127.0.0.1");
    await once(made, "listening");
    return { port: (made.address() as AddressInfo).port, connections: () => connections };
  }

  /** Starts the production entry against `databasePort`, waits for `attempts` logged failures, then SIGTERMs it. */
  async function failingStart(databasePort: number, attempts: number) {
    child = runMain({ ...db.env, DATABASE_PORT: String(databasePort), PORT: String(await freePort()) });
    const waits = () =>
      child!
        .stdout()
        .split("\n")
        .filter((l) => l.includes("waiting for PostgreSQL"))
        .map((l) => JSON.parse(l) as { attempt: number; reason: string });
    await expect.poll(() => waits().length, { timeout: 20_000, message: "failed attempts logged" }).toBeGreaterThanOrEqual(attempts);
    const signalled = performance.now();
    child.proc.kill("SIGTERM");
    // Generous for a loaded machine: the old code ignored SIGTERM for minutes here.
    const exit = await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5000, "still running"))]);
    expect(exit).toEqual({ code: 0, signal: null });
    return { waits: waits(), stopMs: performance.now() - signalled };
  }

  it("an HTTP server: each attempt fails at once, logged with what answered, no reconnect storm, SIGTERM stops it", async () => {
    const http = await listen(createHttpServer((_req, res) => res.end("hello")));
    const { waits } = await failingStart(http.port, 3);
    expect(waits[0]).toMatchObject({ attempt: 1, reason: expect.stringMatching(/is not PostgreSQL: it answered "HTTP\/1\.1 400/) });
    // One connection per attempt (the old code opened thousands a second, on a zero-delay loop).
    expect(http.connections()).toBeLessThanOrEqual(waits.length + 1);
  });

  it("a server that accepts and closes at once: each attempt fails, logged, no reconnect storm", async () => {
    const closer = await listen(createNetServer((socket) => socket.end()));
    const { waits } = await failingStart(closer.port, 3);
    expect(waits[0]!.reason).toMatch(/closed the connection without answering/);
    expect(closer.connections()).toBeLessThanOrEqual(waits.length + 1);
  });

  it("a server that accepts and never answers: each attempt ends by its own time limit, and SIGTERM stops one in progress", {
    timeout: 40_000,
  }, async () => {
    const silent = await listen(createNetServer(() => {}));
    const { waits } = await failingStart(silent.port, 2);
    expect(waits.map((w) => w.attempt)).toEqual([1, 2]);
    expect(waits[0]!.reason).toMatch(/CONNECT_TIMEOUT/);
  });
});

describe("SIGTERM while start-up waits for another replica's migrations", () => {
  it("stops at once instead of waiting for the lock", async () => {
    const lockDb = await createTestDatabase();
    const holder = await lockDb.sql.reserve();
    try {
      await holder`SELECT pg_advisory_lock(${MIGRATION_LOCK})`;
      child = runMain({ ...lockDb.env, PORT: String(await freePort()) });
      await expect
        .poll(
          async () => (await lockDb.sql`SELECT 1 FROM pg_stat_activity WHERE datname = ${lockDb.name} AND wait_event_type = 'Lock'`).length,
          {
            timeout: 20_000,
            message: "the service waits for the migration lock",
          },
        )
        .toBeGreaterThan(0);
      child.proc.kill("SIGTERM");
      const exit = await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5000, "still running"))]);
      expect(exit).toEqual({ code: 0, signal: null });
      expect(child.stdout()).toContain("stopped before start-up finished");
    } finally {
      holder.release();
      if (child) {
        killGroup(child, "SIGKILL");
        await child.exited;
        child = undefined;
      }
      await lockDb.drop();
    }
  });
});

describe("graceful shutdown", () => {
  it("under a steady load, drops no request that was accepted", async () => {
    api = await startTestService({ ...db.env, STRESS_ENDPOINT: "true" });
    const service = api;
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const status = async (path: string) => (await getVia(agent, `${service.url}${path}`)).status;
    let stopping = false;
    const outcomes = { ok: 0, refused: 0, other: [] as string[] };
    const worker = async () => {
      while (!stopping || outcomes.refused === 0) {
        try {
          const answered = await status("/tasks?limit=5");
          if (answered === 200) outcomes.ok++;
          else outcomes.other.push(`HTTP ${answered}`);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
          if (code === "ECONNREFUSED") {
            outcomes.refused++;
            return;
          }
          outcomes.other.push(code);
        }
      }
    };
    const slow = status("/stress?duration=2");
    const workers = Array.from({ length: 8 }, worker);
    // Stop once the load is flowing, however long the first answers take on a loaded machine.
    await expect.poll(() => outcomes.ok, { timeout: 30_000, message: "a first read answered under load" }).toBeGreaterThan(0);
    stopping = true;
    await service.stop();
    await Promise.all(workers);
    agent.destroy();
    expect(await slow).toBe(200);
    // Every request the server logged as answered reached its client, and nothing failed but
    // connections refused after the listener closed.
    const answered = service.logs.filter((l) => l.includes('"route":"/tasks"')).length;
    expect(outcomes.other).toEqual([]);
    expect(outcomes.ok).toBe(answered);
    expect(service.logs.at(-1)).toContain("shut down cleanly");
    api = undefined;
  });
});

describe("a request in flight when shutdown begins", () => {
  it("is answered, and told to close its keep-alive connection", async () => {
    api = await startTestService({ ...db.env, STRESS_ENDPOINT: "true" });
    const agent = new Agent({ keepAlive: true });
    const answer = getVia(agent, `${api.url}/stress?duration=1`);
    await new Promise((r) => setTimeout(r, 200));
    const stopped = api.stop();
    expect(await answer).toEqual({ status: 200, connection: "close" });
    await stopped;
    agent.destroy();
    api = undefined;
  });
});

describe("GET /stress", () => {
  it("burns CPU off the event loop: /health answers while it runs", async () => {
    api = await startTestService({ ...db.env, STRESS_ENDPOINT: "true" });
    const order: string[] = [];
    const stress = api.request("/stress?duration=2").then(async (r) => {
      order.push("stress");
      return r;
    });
    await new Promise((r) => setTimeout(r, 200));
    for (let i = 0; i < 3; i++) {
      expect((await api.request("/health")).status).toBe(200);
      order.push("health");
    }
    const res = await stress;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "completed", duration: 2, iterations: expect.any(Number) });
    expect(order).toEqual(["health", "health", "health", "stress"]);
  });

  it(`runs at most ${MAX_CONCURRENT_BURNS} burns at once and refuses the rest with 429 and Retry-After`, async () => {
    api = await startTestService({ ...db.env, STRESS_ENDPOINT: "true" });
    const service = api;
    // All sent together: whichever arrive first take the slots, every other one is refused at
    // once, long before the 3 s burns end (so a slow machine cannot free a slot in between).
    const answers = await Promise.all(
      Array.from({ length: MAX_CONCURRENT_BURNS + 3 }, async () => {
        const res = await service.request("/stress?duration=3");
        return { status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() };
      }),
    );
    const refused = answers.filter((a) => a.status === 429);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(MAX_CONCURRENT_BURNS);
    expect(refused).toHaveLength(3);
    for (const answer of refused) {
      expect(answer.body).toEqual({ error: `${MAX_CONCURRENT_BURNS} stress burns already running, retry later` });
      expect(Number(answer.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(answer.retryAfter)).toBeLessThanOrEqual(3);
    }
    // Finished burns give their slots back.
    const again = await Promise.all(Array.from({ length: MAX_CONCURRENT_BURNS }, () => service.request("/stress?duration=1")));
    expect(again.map((r) => r.status)).toEqual(Array(MAX_CONCURRENT_BURNS).fill(200));
  });

  it("documents the 429 and its Retry-After in /openapi.json", async () => {
    api = await startTestService({ ...db.env, STRESS_ENDPOINT: "true" });
    const doc = (await (await api.request("/openapi.json")).json()) as Record<string, any>;
    const responses = doc.paths["/stress"].get.responses;
    expect(Object.keys(responses).sort()).toEqual(["200", "400", "429"]);
    expect(responses["429"].headers["Retry-After"].schema).toEqual({ type: "integer", minimum: 1 });
    expect(responses["429"].content["application/json"].schema).toEqual({ $ref: "#/components/schemas/Error" });
  });

  it.each(["duration=0", "duration=11", "duration=abc", "", "duration=1&=x"])("refuses %j with 400", async (query) => {
    api = await startTestService({ ...db.env, STRESS_ENDPOINT: "true" });
    expect((await api.request(`/stress?${query}`)).status).toBe(400);
  });

  it("is a 404 unless STRESS_ENDPOINT=true", async () => {
    api = await startTestService({ ...db.env });
    const res = await api.request("/stress?duration=1");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
  });
});

describe("GET /metrics", () => {
  const sample = (text: string, series: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it("moves as requests are made, under the seed's names", async () => {
    api = await startTestService({ ...db.env });
    await db.sql`TRUNCATE tasks RESTART IDENTITY`;
    const first = await (await api.request("/metrics")).text();
    await api.json("/tasks", { title: "counted", completed: true });
    await api.json("/tasks", { title: "pending" });
    await api.request("/tasks/1");
    await api.request("/tasks/99");
    await api.request("/tasks/1");
    const res = await api.request("/metrics");
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(sample(first, 'http_requests_total{method="GET",endpoint="/tasks/:id",status="200"}')).toBeUndefined();
    expect(sample(text, 'http_requests_total{method="GET",endpoint="/tasks/:id",status="200"}')).toBe(2);
    expect(sample(text, 'http_requests_total{method="GET",endpoint="/tasks/:id",status="404"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="POST",endpoint="/tasks",status="201"}')).toBe(2);
    expect(sample(text, 'http_request_duration_seconds_count{method="GET",endpoint="/tasks/:id"}')).toBe(3);
    expect(sample(text, "tasks_total")).toBe(2);
    expect(sample(text, "tasks_completed")).toBe(1);
    expect(sample(text, "tasks_pending")).toBe(1);
    const [open] = await db.sql`
      SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = ${db.name} AND application_name LIKE 'taskflow-api/%'`;
    expect(sample(text, "database_connections_active")).toBe(open!.n);
    for (const name of ["cache_hits_total", "cache_misses_total", "process_cpu_seconds_total", "nodejs_eventloop_lag_seconds"]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
  });
});
