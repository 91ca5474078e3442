import { connect, type Socket } from "node:net";
import { hostname } from "node:os";
import postgres from "postgres";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";

export type Sql = postgres.Sql;

// Unique per process, so this replica can count its own connections in pg_stat_activity.
const applicationName = `taskflow-api/${hostname()}/${process.pid}`.slice(0, 63);

// How the pool behaves while PostgreSQL is away: docs/faults.md. Read against postgres.js 3.4.9
// (node_modules/postgres/src), whose line numbers are cited.

export const CONNECT_TIMEOUT_MS = 3000;
// postgres.js waits this long before reusing a connection slot whose last attempt failed
// (connection.js:454-456, 361-363). Its default, (0.5–1) × min(3^retries / 100, 20) s with one
// retry counter for the whole pool (index.js:511-513), grows past 7 s after six failures, and a
// request handed to such a slot (index.js:336-337) waited it out before failing: while PostgreSQL
// refused connections most requests hung 10–28 s, and after it came back for up to 15 s more.
// A constant 0.1 s keeps every failure immediate and recovery at once.
const RECONNECT_DELAY_S = 0.1;
// Idle pooled connections are ended before they could reach the silence limit.
const IDLE_TIMEOUT_SECONDS = 10;

/**
 * How long a serving connection may stay silent, neither sending nor receiving a byte, before it
 * is destroyed. A live server answers every statement within statement_timeout (the deadline),
 * with rows or the timeout's error; a server gone silent mid-query (its pod gone, a partition
 * dropping packets, a frozen process) would hold the connection until the kernel stops
 * retransmitting, about 15 minutes on Linux. Requests do not wait for this: their deadline has
 * answered them 503 already; it frees the connection.
 */
export const silenceLimitMs = (config: Pick<Config, "DATABASE_TIMEOUT_MS">) => config.DATABASE_TIMEOUT_MS + 5_000;

const failure = (code: string, message: string) => Object.assign(new Error(message), { code });

// The first byte of any answer PostgreSQL gives a startup message sent without SSL:
// Authentication ('R'), ErrorResponse ('E': starting up, too many clients...) or
// NegotiateProtocolVersion ('v').
const POSTGRES_FIRST_BYTES = new Set([0x52, 0x45, 0x76]);

/**
 * The socket postgres.js uses (https://github.com/porsager/postgres#custom-socket; it writes to it
 * at once, which Node holds until connected, and connect_timeout still runs until PostgreSQL is
 * ready for queries: connection.js:343-346, 552). Two checks make a connection to something that
 * is not PostgreSQL fail as an error. Without them postgres.js reconnects at once, forever, when
 * a server closes the connection during start-up without an error (connection.js:450-451, where
 * the first delay is 0; porsager/postgres#1193): pointed at an HTTP server the service logged
 * nothing, spun, left thousands of sockets in TIME_WAIT and ignored SIGTERM for minutes. A socket
 * error instead rejects the query that opened the connection (connection.js:381-394) and leads to
 * the normal delay. Garbage from a text protocol reads as an over-long message, which postgres.js
 * only buffers (connection.js:315-321), so the error below is the one its query sees.
 */
function openSocket(host: string, port: number, silenceMs?: number): Socket {
  const socket = connect(port, host);
  if (silenceMs) socket.setTimeout(silenceMs, () => socket.destroy(failure("ETIMEDOUT", `PostgreSQL sent nothing for ${silenceMs} ms`)));
  let answered = false;
  socket.once("data", (chunk: Buffer) => {
    answered = true;
    if (POSTGRES_FIRST_BYTES.has(chunk[0]!)) return;
    const start = chunk
      .subarray(0, 40)
      .toString("latin1")
      .replace(/[^\x20-\x7e]/g, ".");
    socket.destroy(failure("EPROTO", `the server at ${host}:${port} is not PostgreSQL: it answered "${start}"`));
  });
  // A close the server began (we had not ended our side) before it answered anything.
  socket.once("end", () => {
    if (!answered && !socket.writableEnded) {
      socket.destroy(failure("ECONNRESET", `the server at ${host}:${port} closed the connection without answering`));
    }
  });
  return socket;
}

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
  const silenceMs = startUp || listenerClosed ? undefined : silenceLimitMs(config);
  return postgres({
    host: config.DATABASE_HOST,
    port: config.DATABASE_PORT,
    database: config.DATABASE_NAME,
    username: config.DATABASE_USER,
    password: config.DATABASE_PASSWORD,
    max: startUp ? 1 : config.DATABASE_POOL_MAX,
    connect_timeout: CONNECT_TIMEOUT_MS / 1000,
    backoff: () => RECONNECT_DELAY_S,
    idle_timeout: IDLE_TIMEOUT_SECONDS,
    max_lifetime: 60 * 30,
    // A statement that outlives its request's deadline is work nobody waits for: PostgreSQL
    // cancels it, freeing the connection, rather than queue everything behind it.
    connection: { application_name: applicationName, statement_timeout: config.DATABASE_TIMEOUT_MS },
    onnotice: (notice) => logger.debug({ notice: notice.message }, "postgres notice"),
    // Documented, but missing from postgres.js' types, hence the spread.
    ...{
      socket: ({ host, port }: { host: string[]; port: number[] }) => {
        const socket = openSocket(host[0]!, port[0]!, silenceMs);
        if (listenerClosed) socket.once("close", listenerClosed);
        return socket;
      },
    },
  });
}

/** The answer of database work whose deadline has passed: the request gets 503. */
export class DatabaseTimeout extends Error {
  readonly code = "DATABASE_TIMEOUT";
  /**
   * Settles when the abandoned work does, if it had begun: a write may still commit until then.
   * Undefined when it had not: it never will.
   */
  constructor(
    ms: number,
    readonly settled?: Promise<void>,
  ) {
    super(`PostgreSQL did not answer within ${ms} ms`);
  }
}

/** Runs database work within its deadline. */
export type Deadline = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * At most `slots` pieces of work at a time (the pool's size), each answered within `ms` of its
 * call. postgres.js has no query timeout and queues without limit while its connections are
 * connecting or stuck: with PostgreSQL gone silent, at more than ~3 requests a second, every
 * request hung for the whole outage, and the queued queries, writes included, would all have run
 * once it came back. Here work waits for a slot in a queue of ours: past its deadline it leaves
 * that queue and never reaches PostgreSQL. Work that has begun is abandoned at the deadline, not
 * cancelled: query.cancel() on a query handed to a connection still connecting marks it cancelled
 * (index.js:350-363), and once that connection is up postgres.js skips the query and never
 * returns the connection to the pool (connection.js:567-570), for up to max_lifetime. Abandoned
 * work keeps its slot until it settles, which statement_timeout, connect_timeout and the silence
 * limit bound.
 */
export function createDeadline(slots: number, ms: number): Deadline {
  let running = 0;
  // Set by work that failed for want of any answer (connect timeout, silence limit): PostgreSQL
  // may be frozen or cut off, and each connection attempt made meanwhile waits in its listen
  // backlog, which it works through before anything else once it is back (after a freeze, 20 such
  // attempts held a new connection back 0.6 s here). Until work succeeds again, one piece of work
  // at a time tries; the rest wait for it, or their deadline.
  let probing = false;
  const waiting = new Set<() => void>();
  const admit = () => {
    while (running < (probing ? 1 : slots)) {
      const [start] = waiting;
      if (!start) return;
      waiting.delete(start);
      running++;
      start();
    }
  };
  return <T>(work: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => {
      let settled: Promise<void> | undefined;
      const start = () => {
        const result = work();
        settled = result
          .then(
            () => {
              probing = false;
            },
            (error: unknown) => {
              if (silentCodes.has((error as { code?: string }).code!)) probing = true;
            },
          )
          .then(() => {
            running--;
            admit();
          });
        result.then(
          (value) => {
            clearTimeout(timer);
            resolve(value);
          },
          (error: unknown) => {
            clearTimeout(timer);
            reject(error);
          },
        );
      };
      const timer = setTimeout(() => {
        waiting.delete(start);
        reject(new DatabaseTimeout(ms, settled));
      }, ms);
      waiting.add(start);
      admit();
    });
}

const silentCodes = new Set(["CONNECT_TIMEOUT", "ETIMEDOUT"]);

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
  "EPROTO",
  "DATABASE_TIMEOUT",
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
