import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { migrationsDir } from "../../service/src/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { freePort, killGroup, run, runMain, until, waitFor, type Child } from "../helpers/process.ts";

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

describe("the production entry", () => {
  it("starts, and on SIGTERM finishes the request in flight, then exits 0", async () => {
    db = await createTestDatabase();
    const port = await freePort();
    child = runMain({ ...db.env, PORT: String(port), STRESS_ENDPOINT: "true", SEED_TASKS: "3" });
    await waitFor(`http://127.0.0.1:${port}/ready`);
    const inFlight = fetch(`http://127.0.0.1:${port}/stress?duration=2`);
    await new Promise((r) => setTimeout(r, 300));
    child.proc.kill("SIGTERM");
    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "completed", duration: 2 });
    const { code } = await child.exited;
    expect(code).toBe(0);
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    const logs = child.stdout().trim().split("\n").map((l) => JSON.parse(l) as { msg: string });
    expect(logs.map((l) => l.msg)).toEqual(expect.arrayContaining(["listening", "signal received", "shut down cleanly"]));
    expect(child.stdout()).not.toContain(db.env.DATABASE_PASSWORD);
    child = undefined;
  });
});

describe("replicas starting together", () => {
  it("three processes on one fresh database apply each migration once and seed once", async () => {
    db = await createTestDatabase();
    const ports = [await freePort(), await freePort(), await freePort()];
    const replicas = ports.map((port) => runMain({ ...db!.env, PORT: String(port), SEED_TASKS: "100" }));
    try {
      await Promise.all(ports.map((port) => waitFor(`http://127.0.0.1:${port}/ready`)));
      const files = readdirSync(migrationsDir).filter((f) => f.endsWith(".sql")).sort();
      expect((await db.sql`SELECT version FROM schema_migrations ORDER BY version`).map((r) => r.version)).toEqual(files);
      expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 100 }]);
      const applied = replicas.flatMap((r) => r.stdout().split("\n").filter((l) => l.includes('"migration applied"')));
      expect(applied).toHaveLength(files.length);
    } finally {
      for (const replica of replicas) killGroup(replica, "SIGKILL");
      await Promise.all(replicas.map((r) => r.exited));
    }
  });
});

describe("SIGTERM during start-up", () => {
  it("while seeding: the process finishes what it started, then stops at once and exits 0", async () => {
    db = await createTestDatabase();
    const port = await freePort();
    child = runMain({ ...db.env, PORT: String(port), SEED_TASKS: "300000" });
    await until(() => child!.stdout().includes("migration applied"), "a migration to be applied", 5_000);
    child.proc.kill("SIGTERM");
    const { code } = await child.exited;
    expect(code).toBe(0);
    const messages = child.stdout().trim().split("\n").map((l) => (JSON.parse(l) as { msg: string }).msg);
    expect(messages).toContain("signal received");
    expect(messages.at(-1)).toBe("shut down cleanly");
    await expect(fetch(`http://127.0.0.1:${port}/health`)).rejects.toThrow();
    child = undefined;
  });
});

describe("npm run dev", () => {
  it("starts with no database server installed and answers /ready", async () => {
    const port = await freePort();
    child = run("npm", ["run", "dev"], { PORT: String(port) });
    const res = await waitFor(`http://127.0.0.1:${port}/ready`, 200, 45_000);
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
