import { readdirSync } from "node:fs";
import postgres from "postgres";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../service/src/config.ts";
import { createSql } from "../../service/src/db.ts";
import { createLogger } from "../../service/src/logger.ts";
import { migrateAndSeed, migrationsDir } from "../../service/src/migrate.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";

const silent = createLogger("silent");
let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

// Separate pools, as separate replicas would have, all starting at once.
async function raceInstances(count: number, seedTasks: number) {
  const pools = Array.from({ length: count }, () => createSql(loadConfig(db!.env), silent));
  try {
    await Promise.all(pools.map((sql) => migrateAndSeed(sql, seedTasks, silent)));
  } finally {
    await Promise.all(pools.map((sql) => sql.end()));
  }
}

describe("migrations", () => {
  it("apply each file exactly once when several instances start together", async () => {
    db = await createTestDatabase();
    await raceInstances(6, 0);
    const files = readdirSync(migrationsDir)
      .filter((f) => f.endsWith(".sql"))
      .sort();
    expect(files.length).toBeGreaterThan(0);
    expect((await db.sql`SELECT version FROM schema_migrations ORDER BY version`).map((r) => r.version)).toEqual(files);
    await raceInstances(3, 0);
    expect(await db.sql`SELECT count(*)::int AS n FROM schema_migrations`).toEqual([{ n: files.length }]);
  });

  it("let the database itself refuse an unknown priority and an empty title", async () => {
    db = await createTestDatabase();
    await raceInstances(1, 0);
    await expect(db.sql`INSERT INTO tasks (title, priority) VALUES ('t', 'urgent')`).rejects.toThrow(/tasks_priority_check/);
    await expect(db.sql`INSERT INTO tasks (title) VALUES ('')`).rejects.toThrow(/check/);
    const [row] = await db.sql`INSERT INTO tasks (title) VALUES ('t') RETURNING completed, priority`;
    expect(row).toEqual({ completed: false, priority: "medium" });
  });

  it("create indexes that serve the list queries", async () => {
    db = await createTestDatabase();
    await raceInstances(1, 0);
    const indexes = (await db.sql`SELECT indexdef FROM pg_indexes WHERE tablename = 'tasks'`).map((r) => r.indexdef as string);
    expect(indexes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/\(created_at DESC, id DESC\)/),
        expect.stringMatching(/\(priority, created_at DESC, id DESC\)/),
        expect.stringMatching(/\(completed, created_at DESC, id DESC\)/),
      ]),
    );
  });
});

describe("the task counts kept by triggers", () => {
  it("match a full count after inserts, updates, deletes, bulk writes and a truncate", async () => {
    db = await createTestDatabase();
    await raceInstances(1, 500);
    const kept = () => db!.sql`
      SELECT sum(total)::int AS total, sum(completed)::int AS completed,
             sum(high)::int AS high, sum(medium)::int AS medium, sum(low)::int AS low FROM task_counts`;
    const actual = () => db!.sql`
      SELECT count(*)::int AS total, count(*) FILTER (WHERE completed)::int AS completed,
             count(*) FILTER (WHERE priority = 'high')::int AS high,
             count(*) FILTER (WHERE priority = 'medium')::int AS medium,
             count(*) FILTER (WHERE priority = 'low')::int AS low FROM tasks`;
    expect(await kept()).toEqual(await actual());
    await db.sql`INSERT INTO tasks (title, priority, completed) VALUES ('a', 'high', true), ('b', 'low', false)`;
    await db.sql`UPDATE tasks SET completed = NOT completed, priority = 'medium' WHERE id % 3 = 0`;
    await db.sql`DELETE FROM tasks WHERE id % 7 = 0`;
    await Promise.all(Array.from({ length: 20 }, (_, i) => db!.sql`INSERT INTO tasks (title) VALUES (${`c${i}`})`));
    expect(await kept()).toEqual(await actual());
    await db.sql`TRUNCATE tasks`;
    expect(await kept()).toEqual([{ total: 0, completed: 0, high: 0, medium: 0, low: 0 }]);
    // A transaction's writes all go to one counter row, so two transactions never lock two rows
    // in opposite orders; a write that changed nothing touches none.
    await db.sql.begin(async (tx) => {
      for (const title of ["x", "y", "z"]) await tx`INSERT INTO tasks (title) VALUES (${title})`;
      await tx`DELETE FROM tasks WHERE id = -1`;
    });
    expect(await db.sql`SELECT total FROM task_counts WHERE total <> 0`).toEqual([{ total: "3" }]);
  });

  it("count the rows that were there before the migration", async () => {
    db = await createTestDatabase();
    // As the service's role, which owns what it created, as an earlier version of it would have.
    const app = postgres({
      host: db.env.DATABASE_HOST,
      port: Number(db.env.DATABASE_PORT),
      database: db.name,
      username: db.env.DATABASE_USER,
      password: db.env.DATABASE_PASSWORD,
      max: 1,
      onnotice: () => {},
    });
    try {
      await app.file("service/migrations/001_create_tasks.sql");
      await app`INSERT INTO tasks (title, completed) SELECT 'old ' || i, i % 2 = 0 FROM generate_series(1, 9) AS i`;
      await app`CREATE TABLE schema_migrations (version text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`;
      await app`INSERT INTO schema_migrations (version) VALUES ('001_create_tasks.sql')`;
    } finally {
      await app.end();
    }
    await raceInstances(2, 0);
    expect(await db.sql`SELECT sum(total)::int AS total, sum(completed)::int AS completed FROM task_counts`).toEqual([
      { total: 9, completed: 4 },
    ]);
  });
});

describe("seeding", () => {
  it("inserts exactly N demo tasks once, with the seed's titles and proportions", async () => {
    db = await createTestDatabase();
    await raceInstances(4, 1000);
    const [counts] = await db.sql`
      SELECT count(*)::int AS total,
             count(*) FILTER (WHERE completed)::int AS completed,
             count(*) FILTER (WHERE priority = 'low')::int AS low,
             count(*) FILTER (WHERE priority = 'medium')::int AS medium,
             count(*) FILTER (WHERE priority = 'high')::int AS high
      FROM tasks`;
    expect(counts!.total).toBe(1000);
    // "About" the seed's proportions: within one percentage point of each.
    expect(counts!.completed).toBeGreaterThanOrEqual(290);
    expect(counts!.completed).toBeLessThanOrEqual(310);
    expect(counts!.low).toBeGreaterThanOrEqual(190);
    expect(counts!.low).toBeLessThanOrEqual(210);
    expect(counts!.medium).toBeGreaterThanOrEqual(490);
    expect(counts!.medium).toBeLessThanOrEqual(510);
    expect(counts!.high).toBeGreaterThanOrEqual(290);
    expect(counts!.high).toBeLessThanOrEqual(310);
    const [first] = await db.sql`SELECT title, description FROM tasks ORDER BY id LIMIT 1`;
    expect(first).toEqual({ title: "Task 1", description: "Description for task 1" });
    // Completion does not follow priority: each priority has completed and pending tasks.
    const mixed = await db.sql`SELECT priority FROM tasks GROUP BY priority HAVING bool_or(completed) AND NOT bool_and(completed)`;
    expect(mixed).toHaveLength(3);
  });

  it("keeps the proportions for a small N", async () => {
    db = await createTestDatabase();
    await raceInstances(1, 10);
    const [counts] = await db.sql`
      SELECT count(*)::int AS total, count(*) FILTER (WHERE completed)::int AS completed,
             count(DISTINCT priority)::int AS priorities FROM tasks`;
    expect(counts).toEqual({ total: 10, completed: 3, priorities: 3 });
  });

  it("leaves a table that has tasks alone", async () => {
    db = await createTestDatabase();
    await raceInstances(1, 0);
    await db.sql`INSERT INTO tasks (title) VALUES ('mine')`;
    await raceInstances(2, 50);
    expect(await db.sql`SELECT title FROM tasks`).toEqual([{ title: "mine" }]);
  });
});
