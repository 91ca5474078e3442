// The init script the PostgreSQL pod runs on its first start, run here as the official image runs
// it (an executable with the container's environment, psql as the superuser) against a database
// of the machine's PostgreSQL: the role it creates can migrate and serve, and is no superuser.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../service/src/logger.ts";
import { migrateAndSeed } from "../../service/src/migrate.ts";
import { createTestDatabase, PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, type TestDatabase } from "../helpers/postgres.ts";

const script = fileURLToPath(new URL("../../stack/postgres/create-app-role.sh", import.meta.url));
const role = `taskflow_role_${randomBytes(4).toString("hex")}`;
// What an unquoted SQL literal or shell word would break on.
const password = `p'w "q" \\ $HOME ; -- ${randomBytes(4).toString("hex")}`;
let db: TestDatabase;
let app: postgres.Sql;

beforeAll(async () => {
  db = await createTestDatabase("taskflow_initdb");
  execFileSync(script, {
    env: {
      PATH: process.env.PATH,
      // The image's psql reaches its socket-only server; here the machine's, over TCP.
      PGHOST: PG_HOST,
      PGPORT: String(PG_PORT),
      ...(PG_PASSWORD && { PGPASSWORD: PG_PASSWORD }),
      POSTGRES_USER: PG_USER,
      POSTGRES_DB: db.name,
      APP_USER: role,
      APP_PASSWORD: password,
    },
    stdio: "pipe",
  });
  app = postgres({ host: PG_HOST, port: PG_PORT, database: db.name, username: role, password, max: 1, onnotice: () => {} });
});

afterAll(async () => {
  await app?.end();
  await db?.drop();
  const admin = postgres({ host: PG_HOST, port: PG_PORT, username: PG_USER, password: PG_PASSWORD, database: "postgres", max: 1 });
  await admin`DROP ROLE IF EXISTS ${admin(role)}`;
  await admin.end();
});

describe("create-app-role.sh", () => {
  it("creates a login role without superuser, which owns the application database, with the given password", async () => {
    const [row] = await db.sql`
      SELECT r.rolsuper, r.rolcanlogin, r.rolcreatedb, r.rolcreaterole, pg_get_userbyid(d.datdba) AS owner,
             r.rolpassword IS NOT NULL AS has_password
      FROM pg_roles r, pg_database d WHERE r.rolname = ${role} AND d.datname = ${db.name}`;
    expect(row).toEqual({ rolsuper: false, rolcanlogin: true, rolcreatedb: false, rolcreaterole: false, owner: role, has_password: true });
    const [authid] = await db.sql`SELECT rolpassword FROM pg_authid WHERE rolname = ${role}`;
    expect(authid!.rolpassword).toMatch(/^SCRAM-SHA-256\$/);
  });

  it("lets that role apply the migrations and seed", async () => {
    await migrateAndSeed(app, 25, createLogger("silent"));
    const [{ n }] = await app<[{ n: number }]>`SELECT count(*)::int AS n FROM tasks`;
    expect(n).toBe(25);
  });

  it("leaves it none of a superuser's reach onto the server's host", async () => {
    await expect(app`COPY (SELECT 1) TO PROGRAM 'true'`).rejects.toThrow(/permission denied|must be superuser|pg_execute_server_program/);
    await expect(app`SELECT pg_read_file('/etc/passwd')`).rejects.toThrow(/permission denied/);
  });
});
