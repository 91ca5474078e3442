import { randomBytes } from "node:crypto";
import { readdirSync, rmSync } from "node:fs";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { migrationsDir } from "../../service/src/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { answers, type Child, freePort, killGroup, run, runDev, runMain, takenPort } from "../helpers/process.ts";
import { sharedRedis, sharedRedisEnv } from "../helpers/redis.ts";
import { startTestService } from "../helpers/service.ts";

let child: Child | undefined;
let db: TestDatabase | undefined;
afterEach(async () => {
  if (child) {
    killGroup(child, "SIGKILL");
    await child.exited;
  }
  await db?.drop();
  child = db = undefined;
});

describe("configuration errors", () => {
  it.each([
    [{}, "invalid configuration: DATABASE_HOST is required but not set"],
    [{ DATABASE_HOST: "127.0.0.1", DATABASE_PASSWORD: "x", PORT: "five" }, "invalid configuration: PORT must be an integer"],
    [{ DATABASE_HOST: "127.0.0.1", DATABASE_PASSWORD: "x", CACHE_TTL: "0" }, "invalid configuration: CACHE_TTL must be at least 1"],
  ])("stop the process before it listens: exit 1 with one line (%o)", async (env, message) => {
    child = runMain(env);
    const { code } = await child.exited;
    expect(code).toBe(1);
    expect(child.stderr()).toBe(`${message}\n`);
    expect(child.stdout()).toBe("");
  });
});

describe("a PORT already in use", () => {
  it("stops the production entry before it touches the database: exit 1 and one line naming PORT", async () => {
    db = await createTestDatabase();
    const taken = await takenPort();
    try {
      child = runMain({ ...db.env, PORT: String(taken.port) });
      const { code } = await child.exited;
      expect(child.stderr()).toBe(`cannot listen: PORT ${taken.port} is already in use\n`);
      expect(code).toBe(1);
      expect(child.stdout()).toBe("");
      expect(await db.sql`SELECT to_regclass('schema_migrations') AS migrations`).toEqual([{ migrations: null }]);
    } finally {
      await taken.release();
    }
  });
});

describe("the development entry's start-up errors", () => {
  it("a bad variable: exit 1 and the one line npm start prints, no stack", async () => {
    child = runDev({ PORT: "abc" });
    const { code } = await child.exited;
    expect(child.stderr()).toBe("invalid configuration: PORT must be an integer\n");
    expect(code).toBe(1);
  });

  it("a PORT already in use: exit 1 and one line naming PORT", async () => {
    const taken = await takenPort();
    try {
      child = runDev({ PORT: String(taken.port) });
      const { code } = await child.exited;
      expect(child.stderr()).toBe(`cannot listen: PORT ${taken.port} is already in use\n`);
      expect(code).toBe(1);
    } finally {
      await taken.release();
    }
    // PGlite starts first; on a loaded machine that alone takes tens of seconds.
  }, 120_000);
});

describe("npm start (the bundle)", () => {
  // npm start builds the bundle itself: no bundle, or one older than the sources, is never run.
  // (Only this file runs the bundle, one test at a time.)
  beforeAll(() => rmSync(new URL("../../service/dist", import.meta.url), { recursive: true, force: true }));

  it("a failed start-up logs a stack mapped to the sources, never a position in the minified bundle", async () => {
    db = await createTestDatabase();
    // The first migration then fails: relation "tasks" already exists.
    await db.sql`CREATE TABLE tasks (id int)`;
    child = run("npm", ["start"], { ...db.env, PORT: "0" });
    const { code } = await child.exited;
    expect(code).toBe(1);
    const fatal = child
      .stdout()
      .split("\n")
      .find((line) => line.includes('"start-up failed"'));
    expect(fatal, child.stdout()).toBeDefined();
    const { err } = JSON.parse(fatal!) as { err: { message: string; stack: string } };
    expect(err.message).toBe('relation "tasks" already exists');
    const frames = err.stack.split("\n").filter((line) => line.trimStart().startsWith("at "));
    expect(frames.filter((frame) => frame.includes("main.mjs"))).toEqual([]);
    expect(
      frames.some((frame) => /\/node_modules\/postgres\/src\/\w+\.js:\d+:\d+/.test(frame)),
      err.stack,
    ).toBe(true);
  });

  it("a PORT already in use: exit 1 and one line naming PORT", async () => {
    const taken = await takenPort();
    try {
      child = run("npm", ["start"], { DATABASE_HOST: "127.0.0.1", DATABASE_PASSWORD: "unused", PORT: String(taken.port) });
      const { code } = await child.exited;
      expect(child.stderr()).toBe(`cannot listen: PORT ${taken.port} is already in use\n`);
      expect(code).toBe(1);
    } finally {
      await taken.release();
    }
  });
});

describe("the production entry", () => {
  it("starts, and on SIGTERM finishes the request in flight, then exits 0", async () => {
    db = await createTestDatabase();
    const port = await freePort();
    child = runMain({ ...db.env, PORT: String(port), STRESS_ENDPOINT: "true", SEED_TASKS: "3" });
    await vi.waitFor(() => answers(`http://127.0.0.1:${port}/ready`), { timeout: 30_000, interval: 200 });
    const inFlight = fetch(`http://127.0.0.1:${port}/stress?duration=2`);
    await new Promise((r) => setTimeout(r, 300));
    child.proc.kill("SIGTERM");
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "completed", duration: 2 });
    const { code } = await child.exited;
    expect(code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    const logs = child
      .stdout()
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { msg: string });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["listening", "signal received", "shut down cleanly"]));
    expect(child.stdout()).not.toContain(db.env.DATABASE_PASSWORD);
    child = undefined;
  });
});

describe("a second signal during the drain", () => {
  it("is logged and changes nothing: the write in flight commits, invalidates the cache for every replica, and the process exits 0", async () => {
    db = await createTestDatabase();
    const prefix = `taskflow-test-${randomBytes(4).toString("hex")}`;
    const cacheEnv = { ...sharedRedisEnv(), CACHE_PREFIX: prefix };
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    child = runMain({ ...db.env, ...cacheEnv, PORT: String(port) });
    await expect
      .poll(async () => (await answers(`${url}/ready`)).json(), { timeout: 30_000, message: "the service ready with its cache connected" })
      .toMatchObject({ cache: "connected" });
    const created = await fetch(`${url}/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: '{"title":"before"}',
    });
    const { id } = (await created.json()) as { id: number };
    await expect.poll(async () => (await fetch(`${url}/tasks/${id}`)).headers.get("x-cache")).toBe("HIT");
    const other = await startTestService({ ...db.env, ...cacheEnv });
    const redis = sharedRedis();
    // The PATCH waits on a row lock the test holds, so it is still in flight when both signals come.
    let locked!: () => void;
    let release!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const released = new Promise<void>((resolve) => (release = resolve));
    const lock = db.sql.begin(async (tx) => {
      await tx`SELECT id FROM tasks WHERE id = ${id} FOR UPDATE`;
      locked();
      await released;
    });
    try {
      await isLocked;
      const patch = fetch(`${url}/tasks/${id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: '{"title":"after"}',
      }).then(
        (res) => res.status,
        (error: Error) => error.message,
      );
      await expect
        .poll(async () => (await db!.sql`SELECT 1 FROM pg_stat_activity WHERE datname = ${db!.name} AND wait_event_type = 'Lock'`).length, {
          message: "the PATCH waits on the lock",
        })
        .toBeGreaterThan(0);
      child.proc.kill("SIGTERM");
      await expect.poll(() => child!.stdout(), { message: "the drain begins" }).toContain("shutting down");
      child.proc.kill("SIGTERM");
      child.proc.kill("SIGINT");
      // Time for a process that the repeated signals would kill to die of them.
      await new Promise((r) => setTimeout(r, 500));
      release();
      await lock;
      expect(await patch).toBe(200);
      expect(await child.exited).toEqual({ code: 0, signal: null });
      expect(child.stdout()).toContain("signal received again");
      // Another replica on the same Redis reads the committed row, not the entry from before it.
      const read = await other.request(`/tasks/${id}`);
      expect(((await read.json()) as { title: string }).title).toBe("after");
      child = undefined;
    } finally {
      release();
      await lock;
      await other.stop();
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  });
});

describe("replicas starting together", () => {
  it("three processes on one fresh database apply each migration once and seed once", async () => {
    db = await createTestDatabase();
    const ports = [await freePort(), await freePort(), await freePort()];
    const replicas = ports.map((port) => runMain({ ...db!.env, PORT: String(port), SEED_TASKS: "100" }));
    try {
      await Promise.all(
        ports.map((port) => vi.waitFor(() => answers(`http://127.0.0.1:${port}/ready`), { timeout: 30_000, interval: 200 })),
      );
      const files = readdirSync(migrationsDir)
        .filter((f) => f.endsWith(".sql"))
        .sort();
      expect((await db.sql`SELECT version FROM schema_migrations ORDER BY version`).map((r) => r.version)).toEqual(files);
      expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 100 }]);
      const applied = replicas.flatMap((r) =>
        r
          .stdout()
          .split("\n")
          .filter((l) => l.includes('"migration applied"')),
      );
      expect(applied).toHaveLength(files.length);
    } finally {
      for (const replica of replicas) killGroup(replica, "SIGKILL");
      await Promise.all(replicas.map((r) => r.exited));
    }
  });
});

describe("SIGTERM during start-up", () => {
  it("while seeding: the process stops at once and exits 0; the migrations and the seed are rolled back", async () => {
    db = await createTestDatabase();
    const port = await freePort();
    child = runMain({ ...db.env, PORT: String(port), SEED_TASKS: "300000" });
    await expect.poll(() => child!.stdout(), { timeout: 20_000 }).toContain("migration applied");
    child.proc.kill("SIGTERM");
    // Generous for a loaded machine: seeding 300 000 rows takes seconds, which it no longer waits for.
    const exit = await Promise.race([child.exited, new Promise((r) => setTimeout(r, 5000, "still running"))]);
    expect(exit).toEqual({ code: 0, signal: null });
    const messages = child
      .stdout()
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toContain("signal received");
    expect(messages.at(-1)).toBe("stopped before start-up finished");
    expect(messages).not.toContain("demo tasks seeded");
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    // PostgreSQL rolls the transaction back once it sees the connection gone.
    await expect
      .poll(async () => (await db!.sql`SELECT to_regclass('schema_migrations') IS NULL AS gone`)[0]!.gone, {
        timeout: 20_000,
        message: "the migrations rolled back",
      })
      .toBe(true);
    child = undefined;
  });
});

describe("npm run dev", () => {
  it("starts with no database server installed and answers /ready", async () => {
    const port = await freePort();
    child = run("npm", ["run", "dev"], { PORT: String(port) });
    const res = await vi.waitFor(() => answers(`http://127.0.0.1:${port}/ready`), { timeout: 45_000, interval: 200 });
    expect(await res.json()).toEqual({ status: "ready", database: "connected", cache: "disabled" });
    const list = (await (await fetch(`http://127.0.0.1:${port}/tasks?limit=1`)).json()) as { stats: { total: number } };
    expect(list.stats.total).toBe(20);
    const created = await fetch(`http://127.0.0.1:${port}/tasks`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ title: "from dev" }),
    });
    expect(created.status).toBe(201);
  }, 60_000);
});
