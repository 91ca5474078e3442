import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Cache } from "../cache.ts";
import type { TasksRepository } from "../tasks-repository.ts";
import { ErrorBody, ListQuery, Task, TaskCreate, TaskId, TaskList, TaskPatch } from "../schemas.ts";
import { jsonContent, jsonText, errorResponses, validationHook } from "./openapi.ts";

// A page is a JSON object: from_cache goes in before its closing brace, so a hit is never parsed.
const FROM_CACHE = Buffer.from(',"from_cache":true}');
const NOT_FROM_CACHE = Buffer.from(',"from_cache":false}');
const NULL_JSON = Buffer.from("null");

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
  request: { body: { required: true, ...jsonContent(TaskCreate) } },
  responses: { 201: { description: "The created task; Location names it", ...jsonContent(Task) }, ...errorResponses },
});

const patchRoute = createRoute({
  method: "patch",
  path: "/tasks/{id}",
  summary: "Change some fields of a task",
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
    const { json, outcome } = await cache.read(`tasks:${JSON.stringify(query)}`, () => tasks.list(query));
    c.header("X-Cache", outcome);
    return jsonText<TaskList>(c, Buffer.concat([json.subarray(0, -1), outcome === "HIT" ? FROM_CACHE : NOT_FROM_CACHE]));
  });

  app.openapi(getRoute, async (c) => {
    const { id } = c.req.valid("param");
    const { json, outcome } = await cache.read(`task:${id}`, async () => (await tasks.get(id)) ?? null);
    c.header("X-Cache", outcome);
    return json.equals(NULL_JSON) ? c.json({ error: "Task not found" }, 404) : jsonText<Task>(c, json);
  });

  // The generation is bumped after every write that changed a row or may have: a write whose
  // answer was lost (the connection dropped after COMMIT) may still have committed.
  async function write<T>(change: () => Promise<T>, changed: (result: T) => boolean): Promise<T> {
    let result: T;
    try {
      result = await change();
    } catch (error) {
      await cache.invalidate();
      throw error;
    }
    if (changed(result)) await cache.invalidate();
    return result;
  }

  app.openapi(createTaskRoute, async (c) => {
    const task = await write(() => tasks.create(c.req.valid("json")), () => true);
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
