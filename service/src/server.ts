// Start-up and shutdown: hold the port, wait for PostgreSQL, migrate and seed, listen; on stop, drain
// and close.

import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import { type AddressInfo, Server as NetServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { getRequestListener, type Http2Bindings, type HttpBindings, RequestError } from "@hono/node-server";
import { createApp, requestRecorder } from "./app.ts";
import { type Cache, createRedisCache, disabledCache } from "./cache.ts";
import { type Config, ConfigError } from "./config.ts";
import { activeConnections, CONNECT_TIMEOUT_MS, createDeadline, createSql, type Sql } from "./db.ts";
import { createInvalidationChannel } from "./invalidations.ts";
import type { Logger } from "./logger.ts";
import { createMetrics } from "./metrics.ts";
import { migrateAndSeed } from "./migrate.ts";
import { createTasksRepository } from "./tasks-repository.ts";

const KEEP_ALIVE_LINGER_MS = 1000;

// On every answer: the headers OWASP's REST Security Cheat Sheet names for all API responses
// (https://cheatsheetseries.owasp.org/cheatsheets/REST_Security_Cheat_Sheet.html#security-headers),
// Content-Type being each route's own. no-store also keeps browsers and proxies from answering
// with a copy older than the last write. Set with setHeader on the Node response, not through
// Hono's secureHeaders, which rebuilds WHATWG Headers on each answer (a third of a cached read).
const SECURITY_HEADERS = new Map([
  ["Cache-Control", "no-store"],
  ["Content-Security-Policy", "frame-ancestors 'none'"],
  ["Strict-Transport-Security", "max-age=15552000; includeSubDomains"],
  ["X-Content-Type-Options", "nosniff"],
  ["X-Frame-Options", "DENY"],
]);

export interface RunningService {
  readonly port: number;
  readonly url: string;
  /** Stops accepting, lets in-flight requests finish within the grace period, closes the pool and cache. */
  stop(): Promise<void>;
}

/** Settles as work does, or rejects with the signal's AbortError as soon as it aborts. */
function unlessAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T> {
  if (!signal) return work;
  return new Promise<T>((resolve, reject) => {
    const abort = () => reject(signal.reason);
    if (signal.aborted) return abort();
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

/**
 * The start-up connection, once PostgreSQL answers on it. Each attempt has a client of its own and
 * its own time limit (time to connect plus a request's deadline); a failed one is destroyed, so
 * nothing of it retries on its own schedule, and its reason logged.
 */
async function waitForDatabase(config: Config, logger: Logger, signal?: AbortSignal): Promise<Sql> {
  const attemptMs = CONNECT_TIMEOUT_MS + config.DATABASE_TIMEOUT_MS;
  for (let attempt = 1, delay = 500; ; attempt++, delay = Math.min(delay * 2, 5000)) {
    const sql = createSql(config, logger, { startUp: true });
    try {
      await unlessAborted(createTasksRepository(sql, createDeadline(1, attemptMs)).ping(), signal);
      return sql;
    } catch (error) {
      await sql.end({ timeout: 0 });
      signal?.throwIfAborted();
      logger.warn({ attempt, retry_in_ms: delay, reason: (error as Error).message }, "waiting for PostgreSQL");
      await sleep(delay, undefined, { signal });
    }
  }
}

/**
 * Binds the port before start-up touches the database, so a port already in use stops the process
 * before it migrates: one line naming PORT, as for a bad variable. Until the service is ready the
 * placeholder resets every connection (nothing is answered before start-up is done, /health
 * included), then hands the same bound socket to the HTTP server, so no other process can take the
 * port in between. Handing over a listening server is documented:
 * https://nodejs.org/api/net.html#serverlistenhandle-backlog-callback
 */
async function holdPort(port: number, hostname: string | undefined): Promise<NetServer> {
  const placeholder = new NetServer((socket) => socket.resetAndDestroy());
  try {
    await once(placeholder.listen(port, hostname), "listening");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") throw new ConfigError(`cannot listen: PORT ${port} is already in use`);
    if (code === "EACCES") throw new ConfigError(`cannot listen: PORT ${port} needs privileges this process does not have`);
    throw error;
  }
  return placeholder;
}

export async function startService(
  config: Config,
  logger: Logger,
  options: { hostname?: string; signal?: AbortSignal } = {},
): Promise<RunningService> {
  const held = await holdPort(config.PORT, options.hostname);
  try {
    const startUp = await waitForDatabase(config, logger, options.signal);
    try {
      await unlessAborted(migrateAndSeed(startUp, config.SEED_TASKS, logger), options.signal);
    } finally {
      // On a signal, at once: the connection closes under the transaction, which PostgreSQL rolls back.
      await startUp.end({ timeout: options.signal?.aborted ? 0 : 1 });
    }
  } catch (error) {
    held.close();
    throw error;
  }
  const sql = createSql(config, logger);
  const deadline = createDeadline(config.DATABASE_POOL_MAX, config.DATABASE_TIMEOUT_MS);
  const tasks = createTasksRepository(sql, deadline);

  const metrics = createMetrics();
  const cache: Cache = config.REDIS_HOST
    ? createRedisCache(config, createInvalidationChannel(config, logger, sql), logger, metrics.observeCache)
    : disabledCache;
  let draining = false;
  const app = createApp({
    tasks,
    cache,
    metrics,
    metricsSources: {
      taskCounts: tasks.counts,
      activeConnections: () => deadline(() => activeConnections(sql)),
      cacheState: () => cache.check(),
    },
    logger,
    stressEndpoint: config.STRESS_ENDPOINT,
    draining: () => draining,
  });

  // Handlers counted apart from connections: a client that hangs up mid-request closes its
  // connection, but its handler still writes and invalidates, and must finish before the pool and
  // Redis are closed under it.
  let handlers = 0;
  let handlersIdle: (() => void) | undefined;
  const fetch = async (request: Request, env: HttpBindings | Http2Bindings) => {
    handlers++;
    try {
      return await app.fetch(request, env);
    } finally {
      // Decided when the answer goes out, not when the request came in: a request already in
      // flight when draining began must also close its keep-alive connection. So must an answer
      // sent before its request's body has all arrived (413, or 404/415/400 before a slow body
      // ends): kept alive, @hono/node-server would give the rest of the body 500 ms to arrive and
      // then destroy the connection (DRAIN_TIMEOUT_MS in @hono/node-server/dist/index.mjs:839-866),
      // under the client's next request. With Connection: close Node ends the connection after
      // the answer (resOnFinish in lib/_http_server.js), and the client sends its next one elsewhere.
      if (draining || !env.incoming.complete) env.outgoing.setHeader("Connection", "close");
      if (--handlers === 0) handlersIdle?.();
    }
  };

  // A request @hono/node-server cannot turn into a Request (no Host: it has no default hostname
  // here; a Host or target that is not a valid URL) never reaches fetch: without errorHandler it
  // is answered with a bare 400 (@hono/node-server/dist/index.mjs:604-637, 1083-1090). It calls
  // errorHandler synchronously inside the listener call below, which is how it knows `arriving`.
  const recordRequest = requestRecorder(metrics, logger);
  let arriving: IncomingMessage | undefined;
  const refuse = (error: unknown) => {
    if (!(error instanceof RequestError) || !arriving) {
      logger.error({ err: error }, "unhandled error");
      return Response.json({ error: "Internal server error" }, { status: 500 });
    }
    // Refused before any work was done: there is nothing to time.
    recordRequest(arriving.method ?? "", (arriving.url ?? "").split("?")[0]!, "unmatched", 400, 0);
    // The library's messages are fixed texts ("Missing host header", "Invalid host header", ...).
    return Response.json({ error: error.message }, { status: 400, headers: { Connection: "close" } });
  };
  const listener = getRequestListener(fetch, { errorHandler: refuse });
  const server = createServer(
    // Node answers an HTTP/1.1 request without Host with a bare 400 of its own before any listener
    // sees it (parserOnIncoming in Node's lib/_http_server.js; requireHostHeader,
    // https://nodejs.org/api/http.html#httpcreateserveroptions-requestlistener), and not through
    // 'clientError': off, so that refuse() answers it, and an HTTP/1.0 one, like every other error.
    { requireHostHeader: false },
    (incoming, outgoing) => {
      // On every answer, also those @hono/node-server writes itself.
      for (const [name, value] of SECURITY_HEADERS) outgoing.setHeader(name, value);
      arriving = incoming;
      void listener(incoming, outgoing);
      arriving = undefined;
    },
  );
  // http.Server#closeIdleConnections closes only connections whose parser is between messages
  // (ConnectionsList::Idle in Node's src/node_http_parser.cc: last_message_start_ == 0), which a
  // connection that has not sent a request yet is not: its clock runs from the connection, for
  // headersTimeout. Tracked here so that shutdown closes those too, if they have sent no byte at
  // all, instead of waiting the grace period for them.
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  try {
    await once(server.listen(held), "listening");
  } catch (error) {
    await Promise.all([sql.end({ timeout: 1 }), cache.close()]);
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  logger.info({ port, cache: cache.state, seed_tasks: config.SEED_TASKS }, "listening");

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      draining = true;
      logger.info({ grace_seconds: config.SHUTDOWN_GRACE_SECONDS }, "shutting down: draining in-flight requests");
      // http.Server#close also closes idle keep-alive connections (Node >= 19), racing clients
      // that are sending their next request on one: they would see a reset. net.Server#close only
      // stops accepting; each open connection then ends after its next answer (Connection: close,
      // set in fetch above), and the callback runs when the last one has ended.
      // https://nodejs.org/api/http.html#serverclosecallback
      const closed = new Promise<void>((resolve) => NetServer.prototype.close.call(server, () => resolve()));
      const handlersDone = () =>
        new Promise<void>((resolve) => {
          if (handlers === 0) resolve();
          else handlersIdle = resolve;
        });
      const drained = (async () => {
        // Clients on an open keep-alive connection get a moment to send what they were about to
        // (answered, with Connection: close); a connection idle past it is closed, as its
        // keep-alive timeout would have, rather than holding the shutdown for that long.
        await sleep(Math.min(KEEP_ALIVE_LINGER_MS, config.SHUTDOWN_GRACE_SECONDS * 1000));
        server.closeIdleConnections();
        for (const socket of sockets) if (socket.bytesRead === 0) socket.destroy();
        await closed;
        // http.Server's own close also stops its connections-checking timer, which the net.Server
        // close above leaves running; the server has already stopped, hence the ignored error.
        server.close(() => {});
        await handlersDone();
      })();
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          logger.warn({ handlers }, "grace period over: closing the remaining connections");
          server.closeAllConnections();
          resolve();
        }, config.SHUTDOWN_GRACE_SECONDS * 1000);
      });
      await Promise.race([drained, graceOver]);
      clearTimeout(timer);
      await Promise.all([sql.end({ timeout: 2 }), cache.close()]);
      logger.info("shut down cleanly");
    })());

  return { port, url: `http://${options.hostname ?? "127.0.0.1"}:${port}`, stop };
}
