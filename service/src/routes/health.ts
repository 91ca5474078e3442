import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Cache } from "../cache.ts";
import type { TasksRepository } from "../tasks-repository.ts";
import { jsonContent } from "./openapi.ts";

const Health = z.object({ status: z.literal("healthy"), service: z.literal("taskflow-api") }).openapi("Health");
const Readiness = z
  .object({
    status: z.enum(["ready", "not ready"]),
    database: z.enum(["connected", "unavailable"]),
    cache: z.enum(["connected", "disabled", "connecting", "unavailable"]),
  })
  .openapi("Readiness");

const healthRoute = createRoute({
  method: "get",
  path: "/health",
  summary: "Liveness: the process answers; touches no dependency",
  responses: { 200: { description: "Alive", ...jsonContent(Health) } },
});

const readyRoute = createRoute({
  method: "get",
  path: "/ready",
  summary: "Readiness: PostgreSQL answers (the cache is optional and only reported)",
  responses: {
    200: { description: "Ready", ...jsonContent(Readiness) },
    503: { description: "Not ready", ...jsonContent(Readiness) },
  },
});

/** `draining` turns true on SIGTERM so Kubernetes stops routing here while requests finish. */
export function healthRoutes(tasks: TasksRepository, cache: Cache, draining: () => boolean) {
  const app = new OpenAPIHono();
  app.openapi(healthRoute, (c) => c.json({ status: "healthy" as const, service: "taskflow-api" as const }, 200));
  app.openapi(readyRoute, async (c) => {
    const [reachable, cacheState] = await Promise.all([
      tasks.ping().then(
        () => true,
        () => false,
      ),
      cache.check(),
    ]);
    const body = { database: reachable ? "connected" : "unavailable", cache: cacheState } as const;
    return reachable && !draining()
      ? c.json({ status: "ready" as const, ...body }, 200)
      : c.json({ status: "not ready" as const, ...body }, 503);
  });
  return app;
}
