import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Cache } from "../cache.ts";
import { DatabaseTimeout } from "../db.ts";
import { ErrorBody, ListQuery, Task, TaskCreate, TaskId, TaskList, TaskPatch } from "../schemas.ts";
import type { TasksRepository } from "../tasks-repository.ts";
import { jsonBody } from "./json-body.ts";
import { cachedJson, errorResponses, jsonContent, validationHook } from "./openapi.ts";

// A page is cached as a hit answers it, ending in "from_cache":true}, and sent as it comes from
// Redis. A page just read from PostgreSQL has its last field rewritten, never parsed again.
const FROM_CACHE_END = Buffer.from("true}");
const NOT_FROM_CACHE_END = Buffer.from("false}");
const NULL_JSON = Buffer.from("null");
const NOT_FOUND_JSON = Buffer.from(JSON.stringify({ error: "Task not found" }));

const notFound = { description: "No task with this id", ...jsonContent(ErrorBody) };

const listRoute = createRoute({
  method: "get",
  path: "/tasks",
  summary: "List tasks, newest first, with whole-table counts",
  request: { query: ListQuery },
  responses: { 200: { description: "A page of tasks", ...jsonContent(TaskList) }, ...errorResponses },
});

const getRoute = createRoute({
  method: "get",
  path: "/tasks/{id}",
  summary: "Read one task",
  request: { params: TaskId },
  responses: { 200: { description: "The task", ...jsonContent(Task) }, 404: notFound, ...errorResponses },
});

const createTaskRoute = createRoute({
  method: "post",
  path: "/tasks",
  summary: "Create a task",
  middleware: [jsonBody] as const,
  request: { body: { required: true, ...jsonContent(TaskCreate) } },
  responses: { 201: { description: "The created task; Location names it", ...jsonContent(Task) }, ...errorResponses },
});

const patchRoute = createRoute({
  method: "patch",
  path: "/tasks/{id}",
  summary: "Change some fields of a task",
  middleware: [jsonBody] as const,
  request: { params: TaskId, body: { required: true, ...jsonContent(TaskPatch) } },
  responses: { 200: { description: "The updated task", ...jsonContent(Task) }, 404: notFound, ...errorResponses },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/tasks/{id}",
  summary: "Delete a task",
  request: { params: TaskId },
  responses: { 204: { description: "Deleted" }, 404: notFound, ...errorResponses },
});

export function tasksRoutes(tasks: TasksRepository, cache: Cache) {
  const app = new OpenAPIHono({ defaultHook: validationHook });

  app.openapi(listRoute, async (c) => {
    const query = c.req.valid("query");
    const { json, outcome } = await cache.read(`tasks:${JSON.stringify(query)}`, async () => ({
      ...(await tasks.list(query)),
      from_cache: true,
    }));
    const page = outcome === "HIT" ? json : Buffer.concat([json.subarray(0, -FROM_CACHE_END.length), NOT_FROM_CACHE_END]);
    return cachedJson<TaskList>(page, outcome);
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { json, outcome } = await cache.read(`task:${id}`, async () => (await tasks.get(id)) ?? null);
    return json.equals(NULL_JSON) ? cachedJson<ErrorBody, 404>(NOT_FOUND_JSON, outcome, 404) : cachedJson<Task>(json, outcome);
  });

  // The generation is bumped after every write that changed a row or may have: a write whose
  // answer was lost (the connection dropped after COMMIT) may still have committed. One answered
  // 503 at its deadline while running may commit later still: bumped again once it has settled.
  async function write<T>(change: () => Promise<T>, changed: (result: T) => boolean): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (error) {
      await cache.invalidate();
      if (error instanceof DatabaseTimeout) void error.settled?.then(() => cache.invalidate());
      throw error;
    }
    if (changed(result)) await cache.invalidate();
    return result;
  }

  app.openapi(createTaskRoute, async (c) => {
    const task = await write(
      () => tasks.create(c.req.valid("json")),
      () => true,
    );
    c.header("Location", `/tasks/${task.id}`);
    return c.json(task, 201);
  });

  app.openapi(patchRoute, async (c) => {
    const task = await write(() => tasks.update(c.req.valid("param").id, c.req.valid("json")), Boolean);
    return task ? c.json(task, 200) : c.json({ error: "Task not found" }, 404);
  });

  app.openapi(deleteRoute, async (c) => {
    const removed = await write(() => tasks.remove(c.req.valid("param").id), Boolean);
    return removed ? c.body(null, 204) : c.json({ error: "Task not found" }, 404);
  });

  return app;
}
