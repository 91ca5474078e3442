// The bench's own resources on the machine's PostgreSQL and Redis, never shared with a test run or
// a deployment: a fresh database per data size and key prefixes unique to this run.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import postgres from "postgres";

const PG = { host: "127.0.0.1", port: 5432, username: "postgres" };
const REDIS = { host: "127.0.0.1", port: 6379 };

/** Names every database and key prefix of this run, so the clean-up can find them all. */
export const runId = `taskflow_bench_${randomBytes(4).toString("hex")}`;

const connect = (database: string) => postgres({ ...PG, database, max: 1, onnotice: () => {} });

async function withSql<T>(database: string, work: (sql: postgres.Sql) => Promise<T>): Promise<T> {
  const sql = connect(database);
  try {
    return await work(sql);
  } finally {
    await sql.end();
  }
}

/** The service's environment for a database (trust authentication: the password is required but unchecked). */
export function databaseEnv(name: string): Record<string, string> {
  return {
    DATABASE_HOST: PG.host,
    DATABASE_PORT: String(PG.port),
    DATABASE_NAME: name,
    DATABASE_USER: PG.username,
    DATABASE_PASSWORD: "bench-not-a-secret",
  };
}

export const redisEnv = (prefix: string): Record<string, string> => ({
  REDIS_HOST: REDIS.host,
  REDIS_PORT: String(REDIS.port),
  CACHE_PREFIX: prefix,
});

export const createDatabase = (name: string) => withSql("postgres", (sql) => sql`CREATE DATABASE ${sql(name)}`);

// FORCE: a server the bench could not stop must not keep its database alive.
export const dropDatabase = (name: string) =>
  withSql("postgres", (sql) => sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`);

/** The seeded ids, so random reads hit existing rows only. */
export const idRange = (name: string) =>
  withSql(name, async (sql) => {
    const [row] = await sql<[{ min: number; max: number }]>`SELECT min(id) AS min, max(id) AS max FROM tasks`;
    return row!;
  });

/** Deletes every key under prefix and returns how many there were. */
export async function deleteKeys(prefix: string): Promise<number> {
  const redis = new Redis({ ...REDIS, lazyConnect: true, maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    await redis.connect();
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
