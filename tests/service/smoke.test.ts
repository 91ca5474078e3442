import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { sharedRedis, sharedRedisEnv } from "../helpers/redis.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { runSmoke } from "../smoke/smoke.ts";

let db: TestDatabase;
const prefix = `taskflow-smoke-${randomBytes(4).toString("hex")}`;
const services: TestService[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(services.map((s) => s.stop()));
  const redis = sharedRedis();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await db?.drop();
});

describe("the smoke suite against the in-process service", () => {
  it.each([
    ["with the cache on", { ...sharedRedisEnv(), CACHE_PREFIX: prefix }],
    ["with the cache off", {} as Record<string, string>],
  ])("passes every step %s and leaves nothing behind", async (_name, env) => {
    const api = await startTestService({ ...db.env, ...env });
    services.push(api);
    // The smoke suite asks for a HIT when /ready says the cache is connected: let it connect first.
    if (env.REDIS_HOST) {
      const cache = async () => ((await (await fetch(`${api.url}/ready`)).json()) as { cache: string }).cache;
      await expect.poll(cache, { timeout: 5_000 }).toBe("connected");
    }
    const lines: string[] = [];
    const result = await runSmoke(api.url, (line) => lines.push(line));
    expect(result.steps.filter((s) => !s.ok)).toEqual([]);
    expect(result.ok).toBe(true);
    expect(lines.length).toBe(result.steps.length);
    expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 0 }]);
  });

  it("fails, naming the step, against a server that is not TaskFlow", async () => {
    const result = await runSmoke("http://127.0.0.1:9/");
    expect(result.ok).toBe(false);
    expect(result.steps[0]).toMatchObject({ step: "health", ok: false });
  });
});
