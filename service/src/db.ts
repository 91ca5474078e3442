import { hostname } from "node:os";
import postgres from "postgres";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";

export type Sql = postgres.Sql;

// Unique per process, so this replica can count its own connections in pg_stat_activity.
const applicationName = `taskflow-api/${hostname()}/${process.pid}`.slice(0, 63);

export function createSql(config: Config, logger: Logger): Sql {
  return postgres({
    host: config.DATABASE_HOST,
    port: config.DATABASE_PORT,
    database: config.DATABASE_NAME,
    username: config.DATABASE_USER,
    password: config.DATABASE_PASSWORD,
    max: config.DATABASE_POOL_MAX,
    // Fail fast when PostgreSQL is unreachable so requests answer 503 instead of hanging.
    connect_timeout: 3,
    idle_timeout: 60,
    max_lifetime: 60 * 30,
    // A query that runs this long is stuck (the longest, a list page, takes milliseconds): free the
    // connection and answer rather than queue everything behind it.
    connection: { application_name: applicationName, statement_timeout: 10_000 },
    onnotice: (notice) => logger.debug({ notice: notice.message }, "postgres notice"),
  });
}

// Error codes postgres.js and Node raise when no usable connection can be had: the database is
// unavailable, as opposed to a query that failed.
const unavailableCodes = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_ENDED",
  "CONNECTION_DESTROYED",
  "ECONNREFUSED",
  "ECONNRESET",
  "EHOSTUNREACH",
  "EHOSTDOWN",
  "ENETUNREACH",
  "ENETDOWN",
  "ECONNABORTED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "EPIPE",
  // PostgreSQL itself: database does not exist, shutting down, cannot connect now, too many clients,
  // and the login refused (a password out of step with the server's) — none is the request's fault.
  "3D000",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "28P01",
  "28000",
  // Cancelled by statement_timeout (a stuck server), and read-only after a failover.
  "57014",
  "25006",
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // Class 08: connection exceptions.
  return typeof code === "string" && (unavailableCodes.has(code) || code.startsWith("08"));
}

export async function activeConnections(sql: Sql): Promise<number> {
  const [row] = await sql<[{ n: number }]>`
    SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = ${applicationName}`;
  return row!.n;
}
