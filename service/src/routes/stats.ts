import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Cache } from "../cache.ts";
import { Stats } from "../schemas.ts";
import type { TasksRepository } from "../tasks-repository.ts";
import { cachedJson, errorResponses, jsonContent } from "./openapi.ts";

const statsRoute = createRoute({
  method: "get",
  path: "/stats",
  summary: "Counts of all tasks, by completion and priority",
  responses: { 200: { description: "Counts", ...jsonContent(Stats) }, ...errorResponses },
});

export function statsRoutes(tasks: TasksRepository, cache: Cache) {
  const app = new OpenAPIHono();
  app.openapi(statsRoute, async () => {
    const { json, outcome } = await cache.read("stats", () => tasks.stats());
    return cachedJson<Stats>(json, outcome);
  });
  return app;
}
