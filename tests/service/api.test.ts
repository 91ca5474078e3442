import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

let db: TestDatabase;
let api: TestService;

beforeAll(async () => {
  db = await createTestDatabase();
  api = await startTestService(db.env);
});
afterAll(async () => {
  await api?.stop();
  await db?.drop();
});
beforeEach(async () => {
  await db.sql`TRUNCATE tasks RESTART IDENTITY`;
});

const create = async (body: Record<string, unknown>) => {
  const res = await api.json("/tasks", body);
  expect(res.status).toBe(201);
  return (await res.json()) as Record<string, any>;
};

const isoTimestamp = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

describe("health and readiness", () => {
  it("GET /health answers without touching a dependency", async () => {
    const res = await api.request("/health");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "healthy", service: "taskflow-api" });
  });

  it("GET /ready reports the database connected and the cache off", async () => {
    const res = await api.request("/ready");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ status: "ready", database: "connected", cache: "disabled" });
  });
});

describe("POST /tasks", () => {
  it("creates with defaults, answers 201 with Location", async () => {
    const res = await api.json("/tasks", { title: "Write tests" });
    expect(res.status).toBe(201);
    const task = (await res.json()) as Record<string, unknown>;
    expect(res.headers.get("location")).toBe(`/tasks/${task.id}`);
    expect(task).toMatchObject({ title: "Write tests", description: null, completed: false, priority: "medium" });
    expect(Object.keys(task).sort()).toEqual(["completed", "created_at", "description", "id", "priority", "title", "updated_at"].sort());
    expect(task.created_at).toMatch(isoTimestamp);
    expect(task.updated_at).toMatch(isoTimestamp);
    const [row] = await db.sql`SELECT title, priority FROM tasks WHERE id = ${task.id as number}`;
    expect(row).toEqual({ title: "Write tests", priority: "medium" });
  });

  it("stores every field it is given", async () => {
    const task = await create({ title: "t", description: "d", priority: "high", completed: true });
    expect(task).toMatchObject({ title: "t", description: "d", priority: "high", completed: true });
  });

  it.each([
    ["missing title", {}, "title"],
    ["empty title", { title: "" }, "title"],
    ["title of 256 characters", { title: "x".repeat(256) }, "title"],
    ["blank title", { title: " \t\n " }, "title"],
    ["title not a string", { title: 42 }, "title"],
    ["unknown priority", { title: "t", priority: "urgent" }, "priority"],
    ["completed as a string", { title: "t", completed: "true" }, "completed"],
    ["description a number", { title: "t", description: 5 }, "description"],
    ["unknown field", { title: "t", owner: "me" }, "owner"],
  ])("refuses %s with 400 naming the field", async (_name, body, field) => {
    const res = await api.json("/tasks", body);
    expect(res.status).toBe(400);
    const error = (await res.json()) as { error: string; details: { field: string; message: string }[] };
    expect(error.error).toBe("Validation failed");
    expect(error.details.map((d) => d.field)).toContain(field);
    expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 0 }]);
  });

  it("accepts a title of exactly 255 characters, counting code points", async () => {
    const title = "😀".repeat(255);
    const task = await create({ title });
    expect(task.title).toBe(title);
  });

  it.each([
    ["an array", "[]"],
    ["a string", '"title"'],
    ["null", "null"],
    ["a number", "7"],
  ])("refuses a body that is %s with 400", async (_name, body) => {
    const res = await api.request("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "Validation failed" });
  });

  it("refuses malformed JSON with a JSON 400", async () => {
    const res = await api.request("/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: '{"title":' });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/application\/json/);
    expect(await res.json()).toEqual({ error: "Malformed JSON in request body" });
  });

  it("refuses a body that is not declared as JSON with 415", async () => {
    const res = await api.request("/tasks", { method: "POST", headers: { "content-type": "text/plain" }, body: '{"title":"t"}' });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ error: "Content-Type must be application/json" });
  });

  it("refuses a body over 64 KiB with 413 and stores nothing", async () => {
    const res = await api.json("/tasks", { title: "big", description: "x".repeat(70 * 1024) });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({ error: expect.stringContaining("larger") });
    expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 0 }]);
  });

  it("gives 50 concurrent creates 50 distinct tasks", async () => {
    const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => api.json("/tasks", { title: `c${i}` })));
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(201));
    const ids = await Promise.all(responses.map(async (r) => ((await r.json()) as { id: number }).id));
    expect(new Set(ids).size).toBe(50);
    expect(await db.sql`SELECT count(DISTINCT title)::int AS n FROM tasks`).toEqual([{ n: 50 }]);
  });
});

describe("GET /tasks/:id", () => {
  it("reads a task", async () => {
    const task = await create({ title: "read me" });
    const res = await api.request(`/tasks/${task.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual(task);
  });

  it("answers 404 for an absent task", async () => {
    const res = await api.request("/tasks/424242");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Task not found" });
  });

  it.each(["0", "-1", "abc", "1.5", "2147483648", "99999999999999999999", "1e3", "%20"])(
    "answers 400, never 500, for id %s",
    async (id) => {
      const res = await api.request(`/tasks/${id}`);
      expect(res.status).toBe(400);
      expect(await res.json()).toMatchObject({ error: "Validation failed", details: [{ field: "id" }] });
    },
  );
});

describe("GET /tasks", () => {
  beforeEach(async () => {
    // Oldest first, so the newest is "p5".
    for (const [i, priority, completed] of [
      [1, "low", false],
      [2, "high", true],
      [3, "medium", false],
      [4, "high", false],
      [5, "low", true],
    ] as const) {
      await create({ title: `p${i}`, priority, completed });
    }
  });

  it("lists newest first with whole-table stats", async () => {
    const res = await api.request("/tasks");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body.tasks.map((t: { title: string }) => t.title)).toEqual(["p5", "p4", "p3", "p2", "p1"]);
    expect(body.stats).toEqual({ total: 5, completed: 2, pending: 3 });
    expect(body.count).toBe(5);
    expect(body.from_cache).toBe(false);
    expect(res.headers.get("x-cache")).toBe("BYPASS");
  });

  it("orders by id when created_at ties", async () => {
    await db.sql`UPDATE tasks SET created_at = '2026-01-01T00:00:00Z'`;
    const body = (await (await api.request("/tasks")).json()) as { tasks: { title: string }[] };
    expect(body.tasks.map((t) => t.title)).toEqual(["p5", "p4", "p3", "p2", "p1"]);
  });

  it("filters by priority and completed; stats still count the whole table", async () => {
    const body = (await (await api.request("/tasks?priority=high&completed=false")).json()) as Record<string, any>;
    expect(body.tasks.map((t: { title: string }) => t.title)).toEqual(["p4"]);
    expect(body.count).toBe(1);
    expect(body.stats).toEqual({ total: 5, completed: 2, pending: 3 });
    const done = (await (await api.request("/tasks?completed=true")).json()) as Record<string, any>;
    expect(done.tasks.map((t: { title: string }) => t.title)).toEqual(["p5", "p2"]);
  });

  it("pages with limit and offset", async () => {
    const body = (await (await api.request("/tasks?limit=2&offset=1")).json()) as Record<string, any>;
    expect(body.tasks.map((t: { title: string }) => t.title)).toEqual(["p4", "p3"]);
    expect(body.count).toBe(2);
  });

  it("caps limit at 1000 and defaults it to 100", async () => {
    await db.sql`INSERT INTO tasks (title) SELECT 'bulk ' || i FROM generate_series(1, 1100) AS i`;
    const capped = (await (await api.request("/tasks?limit=5000")).json()) as { count: number };
    expect(capped.count).toBe(1000);
    const huge = (await (await api.request(`/tasks?limit=${"9".repeat(400)}`)).json()) as { count: number };
    expect(huge.count).toBe(1000);
    const byDefault = (await (await api.request("/tasks")).json()) as { count: number };
    expect(byDefault.count).toBe(100);
  });

  it.each([
    "priority=urgent",
    "completed=yes",
    "completed=1",
    "limit=0",
    "limit=-1",
    "limit=abc",
    "limit=1.5",
    "offset=-1",
    "offset=x",
    "priority=low&priority=high",
    "sort=title",
    "=1",
    "limit=5&=x",
  ])("answers 400 for %s", async (query) => {
    const res = await api.request(`/tasks?${query}`);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; details: unknown[] };
    expect(body.error).toBe("Validation failed");
    expect(body.details.length).toBeGreaterThan(0);
  });
});

describe("PATCH /tasks/:id", () => {
  it("changes only the fields given and moves updated_at", async () => {
    const task = await create({ title: "before", description: "keep" });
    const res = await api.json(`/tasks/${task.id}`, { title: "after", completed: true }, "PATCH");
    expect(res.status).toBe(200);
    const updated = (await res.json()) as Record<string, any>;
    expect(updated).toMatchObject({ id: task.id, title: "after", description: "keep", completed: true, priority: "medium" });
    expect(updated.created_at).toBe(task.created_at);
    expect(Date.parse(updated.updated_at)).toBeGreaterThan(Date.parse(task.updated_at));
  });

  it("clears the description with null", async () => {
    const task = await create({ title: "t", description: "gone soon" });
    const res = await api.json(`/tasks/${task.id}`, { description: null }, "PATCH");
    expect(await res.json()).toMatchObject({ description: null });
  });

  it.each([
    ["an empty object", {}],
    ["a null title", { title: null }],
    ["an unknown priority", { priority: "asap" }],
    ["an unknown field", { id: 5 }],
    ["completed as a number", { completed: 1 }],
  ])("refuses %s with 400 and changes nothing", async (_name, body) => {
    const task = await create({ title: "unchanged" });
    const res = await api.json(`/tasks/${task.id}`, body, "PATCH");
    expect(res.status).toBe(400);
    expect(await (await api.request(`/tasks/${task.id}`)).json()).toEqual(task);
  });

  it("answers 404 for an absent task", async () => {
    const res = await api.json("/tasks/31337", { title: "x" }, "PATCH");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Task not found" });
  });

  it("answers 400 for a bad id", async () => {
    expect((await api.json("/tasks/abc", { title: "x" }, "PATCH")).status).toBe(400);
  });
});

describe("DELETE /tasks/:id", () => {
  it("deletes, then 404s", async () => {
    const task = await create({ title: "doomed" });
    const res = await api.request(`/tasks/${task.id}`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(await res.text()).toBe("");
    expect((await api.request(`/tasks/${task.id}`)).status).toBe(404);
    expect((await api.request(`/tasks/${task.id}`, { method: "DELETE" })).status).toBe(404);
  });

  it("answers 400 for a bad id", async () => {
    expect((await api.request("/tasks/-3", { method: "DELETE" })).status).toBe(400);
  });
});

describe("GET /stats", () => {
  it("counts by completion and priority", async () => {
    await create({ title: "a", priority: "high", completed: true });
    await create({ title: "b", priority: "high" });
    await create({ title: "c", priority: "low" });
    const res = await api.request("/stats");
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      total_tasks: 3,
      completed_tasks: 1,
      pending_tasks: 2,
      by_priority: { high: 2, medium: 0, low: 1 },
    });
  });
});

describe("the HTTP envelope", () => {
  it("answers an unknown route with a JSON 404", async () => {
    const res = await api.request("/nope");
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
  });

  it.each([
    ["POST", "/nope"],
    ["PUT", "/tasks/1"],
    ["PATCH", "/tasks"],
  ])("answers %s %s, a route that does not exist, with a JSON 404 whatever the body", async (method, path) => {
    const res = await api.request(path, { method, headers: { "content-type": "text/plain" }, body: "x" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
  });

  it("accepts application/json with parameters and spacing", async () => {
    for (const type of ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]) {
      const res = await api.request("/tasks", { method: "POST", headers: { "content-type": type }, body: '{"title":"typed"}' });
      expect(res.status, type).toBe(201);
    }
  });

  it.each([
    "application/json ; charset=utf-8",
    "application/json\t;\tcharset=UTF-8",
    'application/json; charset="utf-8"',
    "application/json;",
  ])("accepts %j, white space before the semicolon and a quoted charset as RFC 9110 allows", async (type) => {
    const res = await api.request("/tasks", { method: "POST", headers: { "content-type": type }, body: '{"title":"spaced"}' });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ title: "spaced" });
  });

  it.each([
    "application/json; charset=iso-8859-1",
    'application/json; charset="latin1"',
    "application/json; charset=utf-16",
    // Two readings: a lenient parser keeping the first would take it for UTF-8.
    "application/json; charset=utf-8; charset=latin1",
  ])("refuses %j with 415 rather than decode it as UTF-8, and stores nothing", async (type) => {
    const body = Buffer.from('{"title":"caf\xe9"}', "latin1");
    const res = await api.request("/tasks", { method: "POST", headers: { "content-type": type }, body });
    expect(res.status).toBe(415);
    expect(await res.json()).toEqual({ error: "Content-Type charset must be utf-8" });
    expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 0 }]);
  });

  it.each([
    ["a byte that is never UTF-8", [0xff]],
    ["a truncated sequence", [0xc3]],
    ["an encoded surrogate", [0xed, 0xa0, 0x80]],
    ["an overlong encoding", [0xc0, 0xaf]],
  ])("refuses a body with %s with 400 rather than store U+FFFD, on POST and PATCH", async (_name, bytes) => {
    const task = await create({ title: "unchanged" });
    const body = Buffer.concat([Buffer.from('{"title":"bad '), Buffer.from(bytes), Buffer.from('"}')]);
    for (const [method, path] of [
      ["POST", "/tasks"],
      ["PATCH", `/tasks/${task.id}`],
    ]) {
      const res = await api.request(path!, { method, headers: { "content-type": "application/json" }, body });
      expect(res.status, method).toBe(400);
      expect(await res.json()).toEqual({ error: "Request body is not valid UTF-8" });
    }
    expect(await db.sql`SELECT title FROM tasks`).toEqual([{ title: "unchanged" }]);
  });

  it("sends the API security headers on every kind of answer", async () => {
    const answers = [
      await api.request("/health"),
      await api.json("/tasks", { title: "headers" }),
      await api.request("/tasks/1"),
      await api.request("/tasks?limit=0"),
      await api.request("/nowhere"),
      await api.request("/metrics"),
    ];
    expect(answers.map((res) => res.status)).toEqual([200, 201, 200, 400, 404, 200]);
    expect(answers.map((res) => res.headers.get("content-type")?.split(";")[0])).toEqual([
      ...Array(5).fill("application/json"),
      "text/plain",
    ]);
    for (const res of answers) {
      expect(
        Object.fromEntries(
          [...res.headers].filter(([name]) =>
            /^(cache-control|content-security-policy|strict-transport-security|x-content-type-options|x-frame-options)$/.test(name),
          ),
        ),
      ).toEqual({
        "cache-control": "no-store",
        "content-security-policy": "frame-ancestors 'none'",
        "strict-transport-security": "max-age=15552000; includeSubDomains",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
      });
    }
  });

  it("keeps SQL text and stack traces out of error responses", async () => {
    await db.sql`ALTER TABLE tasks RENAME COLUMN title TO name`;
    try {
      const res = await api.json("/tasks", { title: "boom" });
      expect(res.status).toBe(500);
      const text = await res.text();
      expect(JSON.parse(text)).toEqual({ error: "Internal server error" });
      expect(text).not.toMatch(/INSERT|column|at .*\.ts/i);
    } finally {
      await db.sql`ALTER TABLE tasks RENAME COLUMN name TO title`;
    }
  });

  it("logs one JSON line per request with method, path, status and duration, and no secret", async () => {
    const before = api.logs.length;
    await api.request("/tasks/777");
    const lines = api.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>);
    const requests = lines.filter((l) => l.msg === "request");
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ method: "GET", path: "/tasks/777", route: "/tasks/:id", status: 404, level: "info" });
    expect(typeof requests[0]!.duration_ms).toBe("number");
    expect(api.logs.join("\n")).not.toContain(db.env.DATABASE_PASSWORD);
  });
});

describe("GET /openapi.json", () => {
  it("documents every route from the validating schemas", async () => {
    const doc = (await (await api.request("/openapi.json")).json()) as Record<string, any>;
    expect(doc.openapi).toMatch(/^3\./);
    expect(Object.keys(doc.paths).sort()).toEqual(
      ["/health", "/metrics", "/openapi.json", "/ready", "/stats", "/tasks", "/tasks/{id}"].sort(),
    );
    expect(Object.keys(doc.paths["/tasks"]).sort()).toEqual(["get", "post"]);
    expect(Object.keys(doc.paths["/tasks/{id}"]).sort()).toEqual(["delete", "get", "patch"]);
    const create = doc.components.schemas.TaskCreate;
    expect(create.required).toEqual(["title"]);
    expect(create.additionalProperties).toBe(false);
    expect(create.properties.priority.enum).toEqual(["low", "medium", "high"]);
    const params = doc.paths["/tasks"].get.parameters.map((p: { name: string }) => p.name).sort();
    expect(params).toEqual(["completed", "limit", "offset", "priority"]);
  });
});

describe("hostile strings", () => {
  const hostile = [
    "'; DROP TABLE tasks; --",
    'Robert"); DELETE FROM tasks WHERE ("1"="1',
    "100% _wild_ \\ backslash \\' quote $1 $$ dollar",
    "UNION SELECT password FROM pg_shadow /* */",
    "日本語のタスク — émojis 🚀👩🏽‍💻 and RTL مرحبا",
    "zero\u200Bwidth\uFEFF and combining e\u0301",
    "<script>alert(1)</script>",
    "line\nbreak\ttab\r\n",
  ];

  it.each(hostile)("stores %j verbatim and finds it again", async (text) => {
    const task = await create({ title: text, description: text });
    expect(task).toMatchObject({ title: text, description: text });
    expect(await (await api.request(`/tasks/${task.id}`)).json()).toMatchObject({ title: text, description: text });
    const [row] = await db.sql`SELECT title, description FROM tasks WHERE id = ${task.id}`;
    expect(row).toEqual({ title: text, description: text });
    const patched = await api.json(`/tasks/${task.id}`, { title: `${text}!` }, "PATCH");
    expect(await patched.json()).toMatchObject({ title: `${text}!` });
    expect(await db.sql`SELECT count(*)::int AS n FROM tasks`).toEqual([{ n: 1 }]);
  });

  it.each([
    ["a NUL character", "nul\u0000byte"],
    ["an unpaired surrogate", "half \uD800 pair"],
  ])("refuses %s with 400 rather than storing something else", async (_name, text) => {
    const res = await api.json("/tasks", { title: text });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ details: [{ field: "title" }] });
  });
});
