import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type postgres from "postgres";
import type { Sql } from "./db.ts";
import type { Logger } from "./logger.ts";

// Resolved from this module so it holds both for src/ (tsx, tests) and for the bundle in dist/.
export const migrationsDir = fileURLToPath(new URL("../migrations", import.meta.url));

// Any constant works as long as every replica uses the same one: it names the lock, not a row.
export const MIGRATION_LOCK = 7_201_345_118;

/**
 * Applies the pending migrations, then seeds demo tasks, in one transaction holding an advisory
 * lock, so replicas starting together apply each migration exactly once and seed at most once.
 */
export async function migrateAndSeed(sql: Sql, seedTasks: number, logger: Logger): Promise<void> {
  const files = (await readdir(migrationsDir)).filter((f) => f.endsWith(".sql")).sort();
  await sql.begin(async (tx) => {
    // The pool's statement_timeout is for requests: waiting for another replica's migrations, or
    // seeding a large demo table, may rightly take longer.
    await tx`SET LOCAL statement_timeout = 0`;
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx`CREATE TABLE IF NOT EXISTS schema_migrations (
      version text PRIMARY KEY,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`;
    const applied = new Set((await tx<{ version: string }[]>`SELECT version FROM schema_migrations`).map((r) => r.version));
    for (const file of files.filter((f) => !applied.has(f))) {
      await tx.file(path.join(migrationsDir, file));
      await tx`INSERT INTO schema_migrations (version) VALUES (${file})`;
      logger.info({ migration: file }, "migration applied");
    }
    if (seedTasks > 0) {
      const [{ empty }] = await tx<[{ empty: boolean }]>`SELECT NOT EXISTS (SELECT 1 FROM tasks) AS empty`;
      if (empty) {
        await seed(tx, seedTasks);
        logger.info({ tasks: seedTasks }, "demo tasks seeded");
      }
    }
  });
}

// The seed's init script: "Task N", about 30% completed, priorities about 20% low / 50% medium /
// 30% high. The fractional parts of i times two unrelated irrationals spread evenly over [0, 1) for
// any N, even a small one, and independently of each other, so completion does not follow priority.
function seed(tx: postgres.TransactionSql, count: number) {
  return tx`
    INSERT INTO tasks (title, description, completed, priority)
    SELECT 'Task ' || i,
           'Description for task ' || i,
           (i * 0.6180339887) % 1 < 0.3,
           CASE WHEN (i * 0.7548776662) % 1 < 0.2 THEN 'low'
                WHEN (i * 0.7548776662) % 1 < 0.7 THEN 'medium'
                ELSE 'high' END
    FROM generate_series(1, ${count}::int) AS i`;
}
