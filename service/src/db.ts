import { connect } from "node:net";
import { hostname } from "node:os";
import postgres from "postgres";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";

export type Sql = postgres.Sql;

// Unique per process, so this replica can count its own connections in pg_stat_activity.
const applicationName = `taskflow-api/${hostname()}/${process.pid}`.slice(0, 63);

// A query that runs this long is stuck (the longest, a list page, takes milliseconds): PostgreSQL
// cancels it, freeing the connection, rather than queue everything behind it.
const STATEMENT_TIMEOUT_MS = 10_000;
// A live server answers every query within statement_timeout, with rows or with the timeout's
// error. A server gone silent mid-query (its pod gone, a partition dropping packets, so no reset)
// would leave the query waiting until the kernel stops retransmitting, about 15 minutes on Linux:
// postgres.js has no client-side query timeout. So a connection that has neither sent nor received
// a byte for this long is destroyed, and its query fails as unavailable (503).
export const MAX_SILENCE_MS = STATEMENT_TIMEOUT_MS + 5_000;
// Idle pooled connections are ended before they could be that silent.
const IDLE_TIMEOUT_SECONDS = 10;

const silentConnection = () => Object.assign(new Error(`PostgreSQL sent nothing for ${MAX_SILENCE_MS / 1000} s`), { code: "ETIMEDOUT" });

/**
 * The serving pool. `startUp` is the connection for start-up work instead (one, with no silence
 * limit): waiting for another replica's migrations under their lock, or seeding a million rows, is
 * silent for as long as it takes. `listenerClosed` makes it the instance whose `sql.listen`
 * connection carries cache invalidations (invalidations.ts): no silence limit either (it is silent
 * between notifications), and every close of its socket reported, since a notification sent before
 * it listens again never reaches it.
 */
export function createSql(
  config: Config,
  logger: Logger,
  { startUp = false, listenerClosed }: { startUp?: boolean; listenerClosed?: () => void } = {},
): Sql {
  return postgres({
    host: config.DATABASE_HOST,
    port: config.DATABASE_PORT,
    database: config.DATABASE_NAME,
    username: config.DATABASE_USER,
    password: config.DATABASE_PASSWORD,
    max: startUp ? 1 : config.DATABASE_POOL_MAX,
    // Fail fast when PostgreSQL is unreachable so requests answer 503 instead of hanging.
    connect_timeout: 3,
    idle_timeout: IDLE_TIMEOUT_SECONDS,
    max_lifetime: 60 * 30,
    connection: { application_name: applicationName, statement_timeout: STATEMENT_TIMEOUT_MS },
    onnotice: (notice) => logger.debug({ notice: notice.message }, "postgres notice"),
    // A socket of our own, to time its silence. postgres.js writes to it at once, which Node holds
    // until it has connected; connect_timeout still runs until PostgreSQL is ready for queries.
    // https://github.com/porsager/postgres#custom-socket
    ...(!startUp && !listenerClosed && {
      socket: ({ host, port }: { host: string[]; port: number[] }) => {
        const socket = connect(port[0]!, host[0]);
        socket.setTimeout(MAX_SILENCE_MS, () => socket.destroy(silentConnection()));
        return socket;
      },
    }),
    ...(listenerClosed && {
      socket: ({ host, port }: { host: string[]; port: number[] }) => connect(port[0]!, host[0]).once("close", listenerClosed),
    }),
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
