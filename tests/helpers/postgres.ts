// Each test file gets its own database on the machine's PostgreSQL, created and dropped here, so
// runs and files never see each other's rows.
import { randomBytes } from "node:crypto";
import postgres from "postgres";

export const PG_HOST = "127.0.0.1";
export const PG_PORT = 5432;

const admin = () => postgres({ host: PG_HOST, port: PG_PORT, username: "postgres", database: "postgres", max: 1, onnotice: () => {} });

export interface TestDatabase {
  name: string;
  /** Environment for the service pointing at this database. */
  env: Record<string, string>;
  /** A client on this database for assertions. */
  sql: postgres.Sql;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = "taskflow_test"): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString("hex")}`;
  const sql = admin();
  try {
    await sql`CREATE DATABASE ${sql(name)}`;
  } catch (error) {
    throw new Error(`cannot create a test database on PostgreSQL at ${PG_HOST}:${PG_PORT}: ${(error as Error).message}`);
  } finally {
    await sql.end();
  }
  const client = postgres({ host: PG_HOST, port: PG_PORT, username: "postgres", database: name, max: 2, onnotice: () => {} });
  return {
    name,
    env: {
      DATABASE_HOST: PG_HOST,
      DATABASE_PORT: String(PG_PORT),
      DATABASE_NAME: name,
      DATABASE_USER: "postgres",
      // Trust authentication here: the value is required by the config but not checked.
      DATABASE_PASSWORD: "test-password-not-a-secret-on-ci",
    },
    sql: client,
    async drop() {
      await client.end();
      const sql = admin();
      try {
        await sql`DROP DATABASE IF EXISTS ${sql(name)} WITH (FORCE)`;
      } finally {
        await sql.end();
      }
    },
  };
}
