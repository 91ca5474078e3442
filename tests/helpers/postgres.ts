// Each test file gets its own database on the machine's PostgreSQL, created and dropped here, so
// runs and files never see each other's rows.
import { randomBytes } from "node:crypto";
import postgres from "postgres";

// libpq's variables, so a contributor's own server and role work as they do for psql; by default the
// machine's server as CI runs it (trust authentication, role postgres).
export const PG_HOST = process.env.PGHOST || "127.0.0.1";
export const PG_PORT = Number(process.env.PGPORT || 5432);
export const PG_USER = process.env.PGUSER || "postgres";
export const PG_PASSWORD = process.env.PGPASSWORD || undefined;

const connect = (database: string, max: number) =>
  postgres({ host: PG_HOST, port: PG_PORT, username: PG_USER, password: PG_PASSWORD, database, max, onnotice: () => {} });
const admin = () => connect("postgres", 1);

/**
 * The role the service logs in as, as in the cluster: no superuser, owner of its database (so its
 * migrations run). Created on first use; every test database is given to it.
 */
export const APP_ROLE = "taskflow_test_app";

async function ensureAppRole(sql: postgres.Sql) {
  try {
    await sql`CREATE ROLE ${sql(APP_ROLE)} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE`;
  } catch (error) {
    // Already there, made by an earlier run or by a test file starting at the same moment.
    if (!["42710", "23505"].includes((error as { code?: string }).code ?? "")) throw error;
  }
}

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
    await ensureAppRole(sql);
    // Where the server asks for passwords, the service's role logs in with the tests' own. ALTER
    // ROLE takes no parameters: they reach it through settings of this (one-connection) session.
    if (PG_PASSWORD) {
      await sql`SELECT set_config('taskflow_test.role', ${APP_ROLE}, false), set_config('taskflow_test.password', ${PG_PASSWORD}, false)`;
      await sql`DO $$ BEGIN
        EXECUTE format('ALTER ROLE %I PASSWORD %L', current_setting('taskflow_test.role'), current_setting('taskflow_test.password'));
      END $$`;
    }
    await sql`CREATE DATABASE ${sql(name)} OWNER ${sql(APP_ROLE)}`;
  } catch (error) {
    throw new Error(
      `cannot create a test database on PostgreSQL at ${PG_HOST}:${PG_PORT} as ${PG_USER} (set PGHOST, PGPORT, PGUSER, PGPASSWORD): ${(error as Error).message}`,
    );
  } finally {
    await sql.end();
  }
  const client = connect(name, 2);
  return {
    name,
    env: {
      DATABASE_HOST: PG_HOST,
      DATABASE_PORT: String(PG_PORT),
      DATABASE_NAME: name,
      DATABASE_USER: APP_ROLE,
      // Under trust authentication the value is required by the config but not checked.
      DATABASE_PASSWORD: PG_PASSWORD ?? "test-password-not-a-secret-on-ci",
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
