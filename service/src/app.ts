// The HTTP application: middleware, routes and error mapping. Dependencies come in, nothing global.
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { routePath } from "hono/route";
import type { Cache } from "./cache.ts";
import { isDatabaseUnavailable } from "./db.ts";
import { type Logger, requestLogger } from "./logger.ts";
import type { Metrics, MetricsSources } from "./metrics.ts";
import { boardRoutes } from "./routes/board.ts";
import { healthRoutes } from "./routes/health.ts";
import { statsRoutes } from "./routes/stats.ts";
import { stressRoutes } from "./routes/stress.ts";
import { tasksRoutes } from "./routes/tasks.ts";
import type { TasksRepository } from "./tasks-repository.ts";

const metricsRoute = createRoute({
  method: "get",
  path: "/metrics",
  summary: "Prometheus metrics",
  responses: { 200: { description: "Prometheus text exposition format", content: { "text/plain": { schema: z.string() } } } },
});

const MAX_BODY_BYTES = 64 * 1024;

export interface AppDeps {
  tasks: TasksRepository;
  cache: Cache;
  metrics: Metrics;
  metricsSources: MetricsSources;
  logger: Logger;
  stressEndpoint: boolean;
  draining: () => boolean;
}

/** The metric sample and log line of one answer: the app's, and those refused before it (server.ts). */
export function requestRecorder(metrics: Metrics, logger: Logger) {
  const requestLog = requestLogger(logger);
  return (method: string, path: string, endpoint: string, status: number, seconds: number) => {
    metrics.observeRequest(method, endpoint, status, seconds);
    requestLog.info({ method, path, route: endpoint, status, duration_ms: +(seconds * 1000).toFixed(3) }, "request");
  };
}

export function createApp(deps: AppDeps) {
  const { tasks, cache, metrics, logger } = deps;
  const app = new OpenAPIHono();
  const recordRequest = requestRecorder(metrics, logger);

  app.use(async (c, next) => {
    const started = process.hrtime.bigint();
    await next();
    // Hono answers HEAD with the GET route's answer less its body (hono/dist/hono-base.js:262),
    // and the length @hono/node-server would have taken from that body goes with it. RFC 9110
    // §9.3.2: HEAD gets the header fields GET would, Content-Length included.
    if (c.req.method === "HEAD") c.header("Content-Length", String((await c.res.clone().arrayBuffer()).byteLength));
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Route templates, not raw paths, keep metric label sets bounded.
    const route = routePath(c);
    const endpoint = c.res.status === 404 && route === "/*" ? "unmatched" : route;
    recordRequest(c.req.method, c.req.path, endpoint, c.res.status, seconds);
  });
  // Only the methods that carry a body pay for checking it: bodyLimit reads c.req.raw.body, which
  // makes @hono/node-server build a whole Request (headers, AbortSignal) that a GET never needs.
  app.on(
    ["POST", "PATCH", "PUT"],
    "*",
    bodyLimit({
      maxSize: MAX_BODY_BYTES,
      onError: (c) => c.json({ error: `Request body larger than ${MAX_BODY_BYTES} bytes` }, 413),
    }),
  );
  app.route("/", healthRoutes(tasks, cache, deps.draining));
  app.route("/", tasksRoutes(tasks, cache));
  app.route("/", statsRoutes(tasks, cache));
  if (deps.stressEndpoint) app.route("/", stressRoutes());
  app.route("/", boardRoutes());

  app.openapi(metricsRoute, async (c) =>
    c.text(await metrics.render(deps.metricsSources), 200, { "Content-Type": metrics.registry.contentType }),
  );
  app.openAPIRegistry.registerPath({
    method: "get",
    path: "/openapi.json",
    summary: "This document",
    responses: { 200: { description: "OpenAPI 3.1", content: { "application/json": { schema: {} } } } },
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: { title: "TaskFlow API", version: "1.0.0", description: "Tasks on PostgreSQL with a Redis read cache" },
  });

  app.notFound((c) => c.json({ error: "Not found" }, 404));
  app.onError((error, c) => {
    if (error instanceof HTTPException) {
      // @hono/zod-openapi refuses a body that is not of the route's declared media type.
      const message = error.status === 415 ? "Content-Type must be application/json" : error.message || "Bad request";
      return c.json({ error: message }, error.status);
    }
    if (isDatabaseUnavailable(error)) {
      logger.warn({ err: { message: error.message, code: (error as { code?: string }).code } }, "database unavailable");
      return c.json({ error: "database unavailable" }, 503);
    }
    logger.error({ err: error }, "unhandled error");
    return c.json({ error: "Internal server error" }, 500);
  });

  return app;
}
