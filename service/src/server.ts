// Start-up and shutdown: wait for PostgreSQL, migrate and seed, listen; on stop, drain and close.
import { serve, type Http2Bindings, type HttpBindings } from "@hono/node-server";
import { Server as NetServer, type AddressInfo } from "node:net";
import type { Server } from "node:http";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { createApp } from "./app.ts";
import { createRedisCache, disabledCache, type Cache } from "./cache.ts";
import type { Config } from "./config.ts";
import { activeConnections, createSql } from "./db.ts";
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

async function waitForDatabase(ping: () => Promise<void>, logger: Logger, signal?: AbortSignal): Promise<void> {
  for (let attempt = 1, delay = 500; ; attempt++, delay = Math.min(delay * 2, 5000)) {
    try {
      await ping();
      return;
    } catch (error) {
      logger.warn({ attempt, retry_in_ms: delay, reason: (error as Error).message }, "waiting for PostgreSQL");
      await sleep(delay, undefined, { signal });
    }
  }
}

export async function startService(
  config: Config,
  logger: Logger,
  options: { hostname?: string; signal?: AbortSignal } = {},
): Promise<RunningService> {
  const startUp = createSql(config, logger, { startUp: true });
  try {
    await waitForDatabase(createTasksRepository(startUp).ping, logger, options.signal);
    await migrateAndSeed(startUp, config.SEED_TASKS, logger);
  } finally {
    await startUp.end({ timeout: 1 });
  }
  const sql = createSql(config, logger);
  const tasks = createTasksRepository(sql);

  const metrics = createMetrics();
  const cache: Cache = config.REDIS_HOST ? createRedisCache(config, logger, metrics.observeCache) : disabledCache;
  let draining = false;
  const app = createApp({
    tasks,
    cache,
    metrics,
    metricsSources: { taskCounts: tasks.counts, activeConnections: () => activeConnections(sql) },
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
    for (const [name, value] of SECURITY_HEADERS) env.outgoing.setHeader(name, value);
    try {
      return await app.fetch(request, env);
    } finally {
      // Decided when the answer goes out, not when the request came in: a request already in
      // flight when draining began must also close its keep-alive connection.
      if (draining) env.outgoing.setHeader("Connection", "close");
      if (--handlers === 0) handlersIdle?.();
    }
  };

  const server = serve({ fetch, port: config.PORT, hostname: options.hostname }) as Server;
  try {
    await once(server, "listening");
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
      const handlersDone = () => new Promise<void>((resolve) => (handlers === 0 ? resolve() : (handlersIdle = resolve)));
      const drained = (async () => {
        // Clients on an open keep-alive connection get a moment to send what they were about to
        // (answered, with Connection: close); a connection idle past it is closed, as its
        // keep-alive timeout would have, rather than holding the shutdown for that long.
        await sleep(Math.min(KEEP_ALIVE_LINGER_MS, config.SHUTDOWN_GRACE_SECONDS * 1000));
        server.closeIdleConnections();
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
