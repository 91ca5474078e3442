// The request deadline (service/src/db.ts createDeadline) and what a write does when it fires.
import { describe, expect, it } from "vitest";
import { createApp } from "../../service/src/app.ts";
import { type Cache, disabledCache } from "../../service/src/cache.ts";
import { createDeadline, DatabaseTimeout } from "../../service/src/db.ts";
import { createLogger } from "../../service/src/logger.ts";
import { createMetrics } from "../../service/src/metrics.ts";
import type { TasksRepository } from "../../service/src/tasks-repository.ts";

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((r) => setTimeout(r, 20));

describe("createDeadline", () => {
  it("queues work beyond its slots; queued work past its deadline is dropped and never runs", async () => {
    const deadline = createDeadline(1, 100);
    const first = deferred<string>();
    const running = deadline(() => first.promise).catch((e: unknown) => e);
    let secondRan = false;
    const queued = deadline(async () => {
      secondRan = true;
    });
    const error = await queued.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DatabaseTimeout);
    expect(error).toMatchObject({ code: "DATABASE_TIMEOUT", settled: undefined });
    first.resolve("done");
    expect(await running).toBeInstanceOf(DatabaseTimeout);
    await tick();
    expect(secondRan).toBe(false);
  });

  it("answers running work at its deadline, keeps its slot until it settles, and says when it has", async () => {
    const deadline = createDeadline(1, 50);
    const stuck = deferred();
    const error = (await deadline(() => stuck.promise).catch((e: unknown) => e)) as DatabaseTimeout;
    expect(error).toBeInstanceOf(DatabaseTimeout);
    expect(error.settled).toBeInstanceOf(Promise);
    let next = false;
    const waiting = deadline(async () => (next = true));
    await tick();
    expect(next).toBe(false);
    stuck.resolve();
    await error.settled;
    await waiting;
    expect(next).toBe(true);
  });

  it("passes results and errors through within the deadline", async () => {
    const deadline = createDeadline(2, 1000);
    expect(await deadline(async () => 42)).toBe(42);
    await expect(deadline(() => Promise.reject(Object.assign(new Error("x"), { code: "23505" })))).rejects.toMatchObject({ code: "23505" });
  });

  it("after a connect timeout, lets one piece of work at a time try until one succeeds", async () => {
    const deadline = createDeadline(4, 1000);
    await deadline(() => Promise.reject(Object.assign(new Error("timeout"), { code: "CONNECT_TIMEOUT" }))).catch(() => {});
    let concurrent = 0;
    let most = 0;
    const probe = deferred();
    const work = () => {
      most = Math.max(most, ++concurrent);
      return probe.promise.finally(() => concurrent--);
    };
    const all = [deadline(work), deadline(work), deadline(work)];
    await tick();
    expect(most).toBe(1);
    probe.resolve();
    await Promise.all(all);
    most = 0;
    const open = deferred();
    const again = [1, 2, 3].map(() =>
      deadline(() => {
        most = Math.max(most, ++concurrent);
        return open.promise.finally(() => concurrent--);
      }),
    );
    await tick();
    expect(most).toBe(3);
    open.resolve();
    await Promise.all(again);
  });
});

describe("a write whose deadline fires while it runs", () => {
  it("is answered 503, invalidates the cache at once and again once it has settled", async () => {
    const insert = deferred<never>();
    const deadline = createDeadline(1, 50);
    const tasks = { create: () => deadline(() => insert.promise) } as unknown as TasksRepository;
    let invalidations = 0;
    const cache: Cache = { ...disabledCache, invalidate: async () => void invalidations++ };
    const metrics = createMetrics();
    const app = createApp({
      tasks,
      cache,
      metrics,
      metricsSources: {
        taskCounts: async () => ({ total: 0, completed: 0 }),
        activeConnections: async () => 0,
        cacheState: async () => "disabled",
      },
      logger: createLogger("silent"),
      stressEndpoint: false,
      draining: () => false,
    });
    const res = await app.request("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: '{"title":"late"}' });
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "database unavailable" });
    expect(invalidations).toBe(1);
    // It committed after all, after its answer.
    insert.resolve(undefined as never);
    await tick();
    expect(invalidations).toBe(2);
  });
});
