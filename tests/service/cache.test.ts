import { randomBytes } from "node:crypto";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { cacheKeys, createRedisCache } from "../../service/src/cache.ts";
import { loadConfig } from "../../service/src/config.ts";
import { createInvalidationChannel } from "../../service/src/invalidations.ts";
import { createLogger, type Logger } from "../../service/src/logger.ts";
import { createTestDatabase, PG_HOST, PG_PORT, type TestDatabase } from "../helpers/postgres.ts";
import { freePort } from "../helpers/process.ts";
import { TcpProxy } from "../helpers/proxy.ts";
import { monitorSharedRedis, RedisServer, SHARED_REDIS, sharedRedis, sharedRedisEnv } from "../helpers/redis.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

let db: TestDatabase;
let prefix: string;
const started: TestService[] = [];

const cacheEnv = (overrides: Record<string, string> = {}) => ({
  ...db.env,
  ...sharedRedisEnv(),
  CACHE_PREFIX: prefix,
  ...overrides,
});
/** A cache module of its own on the shared Redis, under this test's prefix. */
const cacheConfig = () => ({
  REDIS_HOST: SHARED_REDIS.host,
  REDIS_PORT: SHARED_REDIS.port,
  REDIS_PASSWORD: SHARED_REDIS.password,
  CACHE_TTL: 60,
  CACHE_PREFIX: prefix,
});
/** A cache module as a replica makes it, its invalidations carried through this file's database. */
const directCache = (config: ReturnType<typeof cacheConfig>, logger: Logger) =>
  createRedisCache(config, createInvalidationChannel(loadConfig(db.env), logger, db.sql), logger);
const start = async (env: Record<string, string>) => {
  const service = await startTestService(env);
  started.push(service);
  return service;
};

const decode = (json: Buffer) => JSON.parse(json.toString()) as unknown;

const cacheState = async (api: TestService) => ((await (await api.request("/ready")).json()) as { cache: string }).cache;

/** Once its reads go through the cache: Redis answers, and it listens for invalidations (a 404 no test reads). */
const throughCache = (api: TestService, what: string) =>
  expect.poll(async () => (await api.request("/tasks/2147483647")).headers.get("x-cache"), { message: what }).not.toBe("BYPASS");

/** A replica on the shared Redis, once its cache has connected. */
const startCached = async (overrides: Record<string, string> = {}) => {
  const api = await start(cacheEnv(overrides));
  await throughCache(api, "the cache to connect");
  return api;
};

const read = async (api: TestService, path: string) => {
  const res = await api.request(path);
  expect(res.status).toBe(200);
  return { outcome: res.headers.get("x-cache"), body: (await res.json()) as any };
};

beforeAll(async () => {
  db = await createTestDatabase();
  await (await startTestService(db.env)).stop(); // applies the migrations
});
beforeEach(async () => {
  prefix = `taskflow-test-${randomBytes(4).toString("hex")}`;
  await db.sql`TRUNCATE tasks RESTART IDENTITY`;
});
afterEach(async () => {
  await Promise.all(started.splice(0).map((s) => s.stop()));
  const redis = sharedRedis();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});
afterAll(async () => {
  await db?.drop();
});

describe("reads through Redis", () => {
  it("miss, then hit, then miss again once the TTL has passed", async () => {
    const api = await startCached({ CACHE_TTL: "1" });
    await api.json("/tasks", { title: "cached" });
    for (const path of ["/tasks", "/tasks/1", "/stats"]) {
      expect((await read(api, path)).outcome).toBe("MISS");
      const hit = await read(api, path);
      expect(hit.outcome).toBe("HIT");
      if (path === "/tasks") expect(hit.body.from_cache).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 1200));
    const expired = await read(api, "/tasks");
    expect(expired.outcome).toBe("MISS");
    expect(expired.body.from_cache).toBe(false);
  });

  it("counts hits and misses in /metrics", async () => {
    const api = await startCached();
    const counter = async (name: string) => {
      const text = await (await api.request("/metrics")).text();
      return Number(
        text
          .split("\n")
          .find((l) => l.startsWith(`${name} `))!
          .split(" ")[1],
      );
    };
    const [hits, misses] = [await counter("cache_hits_total"), await counter("cache_misses_total")];
    await api.request("/stats");
    await api.request("/stats");
    await api.request("/stats");
    expect(await counter("cache_misses_total")).toBe(misses + 1);
    expect(await counter("cache_hits_total")).toBe(hits + 2);
  });

  it("keys each list query on its own, under the configured prefix", async () => {
    const api = await startCached();
    await read(api, "/tasks?priority=high");
    expect((await read(api, "/tasks?priority=low")).outcome).toBe("MISS");
    expect((await read(api, "/tasks?priority=high")).outcome).toBe("HIT");
    const redis = sharedRedis();
    const keys = await redis.keys(`${prefix}:*`);
    redis.disconnect();
    expect(keys.length).toBeGreaterThanOrEqual(3);
    expect(keys.every((k) => k.startsWith(`${prefix}:`))).toBe(true);
  });

  it("answers the same body from the cache as from PostgreSQL", async () => {
    const api = await startCached();
    await api.json("/tasks", { title: "same", description: "bytes" });
    const miss = await read(api, "/tasks/1");
    const hit = await read(api, "/tasks/1");
    expect(hit.outcome).toBe("HIT");
    expect(hit.body).toEqual(miss.body);
    // A hit's answer is built apart from c.json: it carries the same headers.
    const res = await api.request("/tasks/1");
    expect(res.headers.get("x-cache")).toBe("HIT");
    expect([res.headers.get("content-type"), res.headers.get("cache-control"), res.headers.get("x-content-type-options")]).toEqual([
      "application/json",
      "no-store",
      "nosniff",
    ]);
  });

  it("caches a 404 and forgets it when the task is created", async () => {
    const api = await startCached();
    expect((await api.request("/tasks/1")).status).toBe(404);
    expect((await api.request("/tasks/1")).headers.get("x-cache")).toBe("HIT");
    await api.json("/tasks", { title: "now it exists" });
    expect((await read(api, "/tasks/1")).body.title).toBe("now it exists");
  });
});

describe("invalidation", () => {
  const writes: [string, (api: TestService) => Promise<Response>][] = [
    ["create", (api) => api.json("/tasks", { title: "second", priority: "high", completed: true })],
    ["update", (api) => api.json("/tasks/1", { title: "renamed", priority: "high", completed: true }, "PATCH")],
    ["delete", (api) => api.request("/tasks/1", { method: "DELETE" })],
  ];

  it.each(writes)("after a %s, no cached read predates it", async (_name, write) => {
    const api = await startCached();
    await api.json("/tasks", { title: "first" });
    const paths = ["/tasks", "/tasks?priority=high", "/tasks/1", "/stats"];
    for (const path of paths) await api.request(path);
    for (const path of paths) expect((await api.request(path)).headers.get("x-cache")).toBe("HIT");
    expect((await write(api)).ok).toBe(true);
    const fresh = await startTestService({ ...db.env });
    try {
      for (const path of paths) {
        const cached = await api.request(path);
        const truth = await fresh.request(path);
        expect(cached.headers.get("x-cache"), path).toBe("MISS");
        expect(cached.status, path).toBe(truth.status);
        const [a, b] = [await cached.json(), await truth.json()];
        if (path.startsWith("/tasks?") || path === "/tasks") {
          expect({ ...(a as object), from_cache: null }).toEqual({ ...(b as object), from_cache: null });
        } else {
          expect(a).toEqual(b);
        }
      }
    } finally {
      await fresh.stop();
    }
  });
});

describe("read-your-writes across replicas sharing one Redis", () => {
  it("a write answered by one replica is seen by the next read on the other", async () => {
    const [a, b] = [await startCached(), await startCached()];
    await a.json("/tasks", { title: "v1" });
    for (let round = 2; round <= 20; round++) {
      expect((await read(b, "/tasks/1")).body.title).toBe(`v${round - 1}`);
      expect((await read(b, "/tasks/1")).outcome).toBe("HIT");
      const writer = round % 2 ? a : b;
      const reader = round % 2 ? b : a;
      await writer.json("/tasks/1", { title: `v${round}` }, "PATCH");
      expect((await read(reader, "/tasks/1")).body.title).toBe(`v${round}`);
      expect((await read(reader, "/tasks")).body.tasks[0].title).toBe(`v${round}`);
    }
  });

  it("end to end: a replica whose database answer arrives after another replica's write never serves it later", async () => {
    const slowDb = await new TcpProxy(PG_PORT, PG_HOST).open();
    try {
      // One connection, whose statement for a task read is already prepared: the held read is then
      // sent in one go, and PostgreSQL runs it (taking its snapshot) before the write below.
      const a = await startCached({ DATABASE_PORT: String(slowDb.port), DATABASE_POOL_MAX: "1" });
      const b = await startCached();
      await b.json("/tasks", { title: "v1" });
      expect((await a.request("/tasks/999")).status).toBe(404);
      // The connection's last query is now the task read of /tasks/999: only one started after this
      // instant (PostgreSQL's clock, kept as text to keep its microseconds) is the held one.
      const [instant] = await db.sql`SELECT clock_timestamp()::text AS before`;
      const before = instant!.before as string;
      slowDb.hold();
      // A misses the cache, and PostgreSQL answers its query with v1; the answer is held back.
      const slow = a.request("/tasks/1");
      await expect
        .poll(
          async () => {
            const [row] = await db.sql`
              SELECT count(*)::int AS n FROM pg_stat_activity
              WHERE datname = ${db.name} AND application_name LIKE 'taskflow-api/%' AND query LIKE '%FROM tasks WHERE id%'
                AND query_start > ${before}::timestamptz AND state = 'idle'`;
            return row!.n;
          },
          { message: "PostgreSQL has answered the held query" },
        )
        .toBeGreaterThan(0);
      expect((await b.json("/tasks/1", { title: "v2" }, "PATCH")).status).toBe(200);
      slowDb.release();
      const late = await slow;
      // Its read began before the write was answered: v1 is a correct answer for it...
      expect(late.headers.get("x-cache")).toBe("MISS");
      expect(((await late.json()) as { title: string }).title).toBe("v1");
      await new Promise((r) => setTimeout(r, 100)); // ...and its cache store has landed by now
      // ...but no read after the write, on either replica, may see v1 again.
      for (const replica of [a, b, a, b]) expect((await read(replica, "/tasks/1")).body.title).toBe("v2");
    } finally {
      slowDb.release();
      await slowDb.cut();
    }
  });

  it("a slow read that loaded old rows cannot repopulate the cache after a write", async () => {
    const logger = createLogger("silent");
    const [replicaA, replicaB] = [directCache(cacheConfig(), logger), directCache(cacheConfig(), logger)];
    try {
      await expect.poll(() => [replicaA.state, replicaB.state]).toEqual(["connected", "connected"]);
      let database = "old";
      let releaseSlowRead!: () => void;
      let slowLoadStarted!: () => void;
      const started = new Promise<void>((r) => (slowLoadStarted = r));
      const slow = replicaA.read("task:1", async () => {
        const seen = database; // the slow read takes its snapshot before the write...
        slowLoadStarted();
        await new Promise<void>((r) => (releaseSlowRead = r)); // ...and stores after it
        return seen;
      });
      await started;
      database = "new";
      await replicaB.invalidate(); // the write is answered here
      releaseSlowRead();
      const late = await slow;
      expect({ value: decode(late.json), outcome: late.outcome }).toEqual({ value: "old", outcome: "MISS" });
      await new Promise((r) => setTimeout(r, 100)); // let the slow read's unawaited store land
      for (const replica of [replicaA, replicaB, replicaA]) {
        const { json } = await replica.read("task:1", async () => database);
        expect(decode(json)).toBe("new");
      }
      const last = await replicaA.read("task:1", async () => "unused");
      expect({ value: decode(last.json), outcome: last.outcome }).toEqual({ value: "new", outcome: "HIT" });
    } finally {
      await Promise.all([replicaA.close(), replicaB.close()]);
    }
  });

  it("a read that starts after a write never shares the answer of a read sent before it", async () => {
    // Replica A reaches Redis through a proxy that can hold its answers back.
    const slowRedis = await new TcpProxy(SHARED_REDIS.port, SHARED_REDIS.host).open();
    const logger = createLogger("silent");
    const replicaA = directCache({ ...cacheConfig(), REDIS_PORT: slowRedis.port }, logger);
    const replicaB = directCache(cacheConfig(), logger);
    try {
      await expect.poll(() => [replicaA.state, replicaB.state]).toEqual(["connected", "connected"]);
      // Both held lookups must be answered within the 40 ms command timeout. On a loaded machine one
      // may time out (the late read then answers BYPASS, proving nothing), which voids that try.
      const race = async (key: string) => {
        await replicaA.read(key, async () => "old");
        await expect.poll(async () => (await replicaA.read(key, async () => "unused")).outcome).toBe("HIT");
        slowRedis.hold();
        const early = replicaA.read(key, async () => "new");
        await new Promise((r) => setTimeout(r, 5)); // its lookup has left for Redis; the answer is held
        await replicaB.invalidate(); // a write, answered
        const late = replicaA.read(key, async () => "new");
        slowRedis.release();
        await early;
        return late;
      };
      let late = await race("task:1");
      for (let attempt = 2; attempt <= 5 && late.outcome === "BYPASS"; attempt++) late = await race(`task:${attempt}`);
      // Its own lookup, after the bump: a miss.
      expect({ value: decode(late.json), outcome: late.outcome }).toEqual({ value: "new", outcome: "MISS" });
    } finally {
      await slowRedis.cut();
      await Promise.all([replicaA.close(), replicaB.close()]);
    }
  });

  it("reads of one turn share one lookup, and each gets its own key's entry", async () => {
    const cache = directCache(cacheConfig(), createLogger("silent"));
    const keys = Array.from({ length: 20 }, (_, i) => `task:${i}`);
    let monitor: { close(): void } | undefined;
    try {
      await expect.poll(() => cache.state).toBe("connected");
      await Promise.all(keys.map((key) => cache.read(key, async () => key)));
      await expect.poll(async () => (await cache.read(keys.at(-1)!, async () => "unused")).outcome).toBe("HIT");
      // The script calls of this test's cache (its generation key is in their arguments), from now on.
      const lookups: string[][] = [];
      monitor = await monitorSharedRedis((args) => {
        if (/^evalsha$/i.test(args[0]!) && args.includes(cacheKeys(prefix).generation)) lookups.push(args);
      });
      const reads = await Promise.all([...keys, ...keys].map((key) => cache.read(key, async () => "loaded")));
      expect(reads.map(({ json, outcome }) => [decode(json), outcome])).toEqual([...keys, ...keys].map((key) => [key, "HIT"]));
      await expect.poll(() => lookups.length, { message: "the lookup seen by MONITOR" }).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 100)); // any other lookup would have been seen by now
      expect(lookups).toHaveLength(1);
      expect(lookups[0]!.slice(-keys.length)).toEqual(keys);
    } finally {
      monitor?.close();
      await cache.close();
    }
  });

  it("keeps the generation key earlier versions read, so writes during a rolling update invalidate theirs too", async () => {
    const api = await startCached();
    await read(api, "/stats");
    const redis = sharedRedis();
    try {
      const before = Number(await redis.get(`${prefix}:v1:gen`));
      await api.json("/tasks", { title: "during the rollout" });
      expect(Number(await redis.get(`${prefix}:v1:gen`))).toBe(before + 1);
    } finally {
      redis.disconnect();
    }
  });

  it("a generation lost to eviction never brings back entries from before", async () => {
    const api = await startCached();
    await api.json("/tasks", { title: "before" });
    await api.request("/tasks/1");
    const redis = sharedRedis();
    expect(await redis.del(cacheKeys(prefix).generation)).toBe(1);
    redis.disconnect();
    await api.json("/tasks/1", { title: "after" }, "PATCH");
    expect((await read(api, "/tasks/1")).body.title).toBe("after");
  });
});

describe("when Redis is unreachable", () => {
  it("before Redis has answered: the start-up line says the cache is connecting, not unavailable", async () => {
    const proxy = await new TcpProxy(SHARED_REDIS.port, SHARED_REDIS.host).open();
    proxy.hold();
    try {
      const api = await start(cacheEnv({ REDIS_PORT: String(proxy.port) }));
      const listening = api.logs.map((line) => JSON.parse(line) as { msg: string }).find((line) => line.msg === "listening");
      expect(listening).toMatchObject({ cache: "connecting" });
      proxy.release();
      await expect.poll(() => cacheState(api)).toBe("connected");
    } finally {
      await proxy.cut();
    }
  });

  it("at start: every endpoint answers from PostgreSQL, /ready stays 200 and says so", async () => {
    const api = await start(cacheEnv({ REDIS_PORT: String(await freePort()) }));
    await expect.poll(() => cacheState(api)).toBe("unavailable");
    expect(await api.request("/ready").then((r) => r.json())).toEqual({ status: "ready", database: "connected", cache: "unavailable" });
    // A Redis never reached has lost no connection, and leaves no invalidation owed.
    expect(api.logs.join("\n")).toContain("cache unavailable");
    expect(api.logs.join("\n")).not.toContain("connection to Redis lost");
    const created = await api.json("/tasks", { title: "no cache" });
    expect(created.status).toBe(201);
    for (const path of ["/tasks", "/tasks/1", "/stats"]) {
      const { outcome } = await read(api, path);
      expect(outcome).toBe("BYPASS");
    }
    expect((await api.json("/tasks/1", { completed: true }, "PATCH")).status).toBe(200);
    expect((await read(api, "/tasks/1")).body.completed).toBe(true);
    expect((await api.request("/tasks/1", { method: "DELETE" })).status).toBe(204);
  });

  it("mid-run: bypasses, then resumes caching by itself when Redis returns", async () => {
    const redis = await new RedisServer().start();
    try {
      const api = await start(cacheEnv({ REDIS_PORT: String(redis.port) }));
      await throughCache(api, "the cache to connect");
      await api.json("/tasks", { title: "t" });
      await api.request("/tasks");
      expect((await read(api, "/tasks")).outcome).toBe("HIT");

      await redis.stop();
      await expect.poll(() => cacheState(api)).toBe("unavailable");
      expect((await api.request("/ready")).status).toBe(200);
      expect((await read(api, "/tasks")).outcome).toBe("BYPASS");
      expect((await api.json("/tasks", { title: "during the outage" })).status).toBe(201);
      expect((await read(api, "/tasks")).body.count).toBe(2);

      await redis.start();
      await throughCache(api, "the cache to reconnect");
      await api.request("/tasks");
      const back = await read(api, "/tasks");
      expect(back.outcome).toBe("HIT");
      expect(back.body.count).toBe(2);
    } finally {
      await redis.stop();
    }
  });

  it("for one replica only: its writes are not served stale by the other, before or after it reconnects", async () => {
    const proxy = await new TcpProxy(SHARED_REDIS.port, SHARED_REDIS.host).open();
    try {
      const cut = await start(cacheEnv({ REDIS_PORT: String(proxy.port) }));
      const other = await startCached();
      await throughCache(cut, "the proxied cache to connect");
      await other.json("/tasks", { title: "v1" });
      await other.request("/tasks/1");
      expect((await read(other, "/tasks/1")).outcome).toBe("HIT");

      await proxy.cut();
      await expect.poll(() => cacheState(cut)).toBe("unavailable");
      expect((await cut.json("/tasks/1", { title: "v2" }, "PATCH")).status).toBe(200);
      expect((await read(cut, "/tasks/1")).body.title).toBe("v2");
      // As soon as PostgreSQL's notification reaches it, about when the write is answered; waited
      // for, since on a loaded machine the test's next read can get there first (docs/cache.md).
      // Before, v1 stayed until the writer reached Redis again.
      await expect
        .poll(async () => (await read(other, "/tasks/1")).body.title, { timeout: 1000, message: "the other replica to see v2" })
        .toBe("v2");

      await proxy.open();
      await throughCache(cut, "the proxied cache to reconnect");
      for (const api of [other, cut]) expect((await read(api, "/tasks/1")).body.title).toBe("v2");
    } finally {
      await proxy.cut();
    }
  });

  it("restarted: a write answered by a replica not yet back is not served stale by one already back", async () => {
    const redis = await new RedisServer().start();
    // Replicas reconnect at different moments after a restart (ioredis' retry delays); B reaches
    // Redis through a proxy, so that it is the one still away.
    const toB = await new TcpProxy(redis.port).open();
    try {
      const a = await start(cacheEnv({ REDIS_PORT: String(redis.port) }));
      const b = await start(cacheEnv({ REDIS_PORT: String(toB.port) }));
      for (const api of [a, b]) await throughCache(api, "both caches to connect");
      await a.json("/tasks", { title: "v1" });

      await Promise.all([redis.stop(), toB.cut()]);
      await redis.start();
      await throughCache(a, "A to reconnect");
      expect(await cacheState(b)).toBe("unavailable");
      await a.request("/tasks/1");
      expect((await read(a, "/tasks/1")).outcome).toBe("HIT");

      expect((await b.json("/tasks/1", { title: "v2" }, "PATCH")).status).toBe(200);
      // Within the notification's travel (see the test above); before, until B was back.
      await expect.poll(async () => (await read(a, "/tasks/1")).body.title, { timeout: 1000, message: "A to see v2" }).toBe("v2");
      expect((await read(a, "/tasks")).body.tasks[0].title).toBe("v2");

      await toB.open();
      await throughCache(b, "B to reconnect");
      for (const api of [a, b, a]) expect((await read(api, "/tasks/1")).body.title).toBe("v2");
    } finally {
      await toB.cut();
      await redis.stop();
    }
  });

  it("and PostgreSQL away from the reader too: it reads around the cache until it listens again, then bumps", async () => {
    const pgForA = await new TcpProxy(PG_PORT, PG_HOST).open();
    const redisForB = await new TcpProxy(SHARED_REDIS.port, SHARED_REDIS.host).open();
    try {
      const a = await startCached({ DATABASE_PORT: String(pgForA.port) });
      const b = await startCached({ REDIS_PORT: String(redisForB.port) });
      await a.json("/tasks", { title: "v1" });
      await a.request("/tasks/1");
      expect((await read(a, "/tasks/1")).outcome).toBe("HIT");

      await Promise.all([pgForA.cut(), redisForB.cut()]);
      await expect.poll(async () => (await a.request("/ready")).status, { message: "A to lose PostgreSQL" }).toBe(503);
      await expect.poll(() => cacheState(b)).toBe("unavailable");
      // Published through PostgreSQL, where A is not listening: it must not answer v1 from Redis.
      expect((await b.json("/tasks/1", { title: "v2" }, "PATCH")).status).toBe(200);
      expect((await a.request("/tasks/1")).status).toBe(503);

      await pgForA.open();
      await throughCache(a, "A to listen again");
      expect((await read(a, "/tasks/1")).body.title).toBe("v2");
      // Listening again is listening: B, still away from Redis, reaches A through PostgreSQL. Waited
      // for: the notification passes through this process's proxy, which the test's next read can
      // overtake; without a LISTEN, v2 would stay cached for CACHE_TTL.
      expect((await read(a, "/tasks/1")).outcome).toBe("HIT");
      expect((await b.json("/tasks/1", { title: "v3" }, "PATCH")).status).toBe(200);
      await expect.poll(async () => (await read(a, "/tasks/1")).body.title, { timeout: 2000, message: "A to see v3" }).toBe("v3");
    } finally {
      await Promise.all([pgForA.cut(), redisForB.cut()]);
    }
  });
});

describe("closing the cache", () => {
  it("stops every retry: no interval of it outlives close", async () => {
    const set = vi.spyOn(globalThis, "setInterval");
    const clear = vi.spyOn(globalThis, "clearInterval");
    try {
      const logger = createLogger("silent");
      const cache = directCache({ ...cacheConfig(), REDIS_PORT: await freePort() }, logger);
      await cache.invalidate(); // Redis is not there: a retry is scheduled
      expect(set).toHaveBeenCalled();
      await cache.close();
      await cache.invalidate(); // after close: nothing may be scheduled again
      await new Promise((r) => setTimeout(r, 300));
      const started = set.mock.results.map((r) => r.value as unknown);
      const stopped = new Set(clear.mock.calls.map(([handle]) => handle as unknown));
      expect(started.filter((handle) => !stopped.has(handle))).toEqual([]);
    } finally {
      set.mockRestore();
      clear.mockRestore();
    }
  });
});

describe("REDIS_PASSWORD", () => {
  it("is sent when set: a password-protected Redis caches, a wrong password bypasses", async () => {
    const redis = await new RedisServer(["--requirepass", "s3cret"]).start();
    try {
      const good = await start(cacheEnv({ REDIS_PORT: String(redis.port), REDIS_PASSWORD: "s3cret" }));
      await throughCache(good, "the cache to authenticate");
      await good.request("/stats");
      expect((await read(good, "/stats")).outcome).toBe("HIT");
      const bad = await start(cacheEnv({ REDIS_PORT: String(redis.port), REDIS_PASSWORD: "wrong" }));
      expect((await read(bad, "/stats")).outcome).toBe("BYPASS");
      expect(await cacheState(bad)).toBe("unavailable");
      expect(bad.logs.join("\n")).not.toContain("wrong");
    } finally {
      await redis.stop();
    }
  });
});
