// The API contract end to end against any running TaskFlow: a local server, the image under test,
// or `$(pulumi stack output url)`. Only public HTTP is used, so it cannot lean on internals, and it
// takes a base URL and a log sink so the CLI and vitest tests can share it.
import { randomBytes } from "node:crypto";

export interface StepResult {
  step: string;
  ok: boolean;
  /** What was checked (on success) or what went wrong (on failure). */
  detail: string;
  ms: number;
}

export interface SmokeResult {
  ok: boolean;
  steps: StepResult[];
}

type Json = Record<string, unknown>;

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  body: unknown;
}

class CheckFailed extends Error {}

function check(condition: unknown, message: string): asserts condition {
  if (!condition) throw new CheckFailed(message);
}

const isObject = (value: unknown): value is Json => typeof value === "object" && value !== null && !Array.isArray(value);
const isCount = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= 0;
const isIsoTime = (value: unknown) =>
  typeof value === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(value) && !Number.isNaN(Date.parse(value));
// fetch reports "fetch failed" and hides the reason (ECONNREFUSED, a timeout...) in its cause.
function describe(error: unknown): string {
  const { name, message, cause } = error as Error & { cause?: { code?: string; message?: string } };
  const reason = cause?.code ?? cause?.message;
  return `${name}: ${message}${reason ? ` (${reason})` : ""}`;
}
const show = (value: unknown) => JSON.stringify(value)?.slice(0, 300);

/** Throws with a one-line reason when url is not an absolute http(s) URL; returns it without trailing slashes. */
export function parseBaseUrl(url: string | undefined): string {
  if (!url) throw new Error("a base URL is required, e.g. http://127.0.0.1:5000");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") throw new Error(`not an http(s) URL: ${url}`);
  if (parsed.search || parsed.hash) throw new Error(`the base URL must not have a query or fragment: ${url}`);
  return parsed.href.replace(/\/+$/, "");
}

const cacheStates = ["connected", "disabled", "connecting", "unavailable"] as const;
type CacheState = (typeof cacheStates)[number];

function checkTask(task: unknown, expected: Json, where: string): asserts task is Json {
  check(isObject(task), `${where}: expected a task object, got ${show(task)}`);
  check(Number.isInteger(task.id) && (task.id as number) > 0, `${where}: id is not a positive integer: ${show(task.id)}`);
  for (const [field, value] of Object.entries(expected)) {
    check(task[field] === value, `${where}: ${field} is ${show(task[field])}, expected ${show(value)}`);
  }
  check(isIsoTime(task.created_at), `${where}: created_at is not an ISO 8601 time: ${show(task.created_at)}`);
  check(isIsoTime(task.updated_at), `${where}: updated_at is not an ISO 8601 time: ${show(task.updated_at)}`);
}

export async function runSmoke(baseUrl: string, log: (line: string) => void = () => {}): Promise<SmokeResult> {
  const base = parseBaseUrl(baseUrl);
  const steps: StepResult[] = [];
  // Tags this run's rows so a shared deployment's data, and concurrent smoke runs, are told apart.
  const marker = `smoke-${randomBytes(4).toString("hex")}`;
  const created = new Set<number>();

  async function call(method: string, path: string, body?: unknown): Promise<Reply> {
    const response = await fetch(`${base}${path}`, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
      redirect: "manual",
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === "" ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    return { status: response.status, headers: response.headers, text, body: parsed };
  }

  function expectStatus(reply: Reply, status: number, what: string) {
    check(reply.status === status, `${what}: HTTP ${reply.status}, expected ${status}; body ${reply.text.slice(0, 300)}`);
  }

  async function step(name: string, run: () => Promise<string>): Promise<void> {
    const started = performance.now();
    let ok = true;
    let detail: string;
    try {
      detail = await run();
    } catch (error) {
      ok = false;
      detail = error instanceof CheckFailed ? error.message : describe(error);
    }
    const ms = Math.round(performance.now() - started);
    steps.push({ step: name, ok, detail, ms });
    log(`${ok ? "PASS" : "FAIL"} ${name.padEnd(10)} ${detail} (${ms} ms)`);
  }

  // Steps after create need its task; without it they fail saying so rather than testing nothing.
  let task: Json | undefined;
  const needTask = (): Json => {
    check(task, "not run: the create step did not produce a task");
    return task;
  };
  let cache: CacheState | undefined;

  try {
    await step("health", async () => {
      const reply = await call("GET", "/health");
      expectStatus(reply, 200, "GET /health");
      check(isObject(reply.body) && reply.body.status === "healthy", `GET /health body: ${reply.text.slice(0, 300)}`);
      check(reply.body.service === "taskflow-api", `GET /health names service ${show(reply.body.service)}`);
      return "200 healthy";
    });

    await step("ready", async () => {
      const reply = await call("GET", "/ready");
      expectStatus(reply, 200, "GET /ready");
      const body = reply.body;
      check(isObject(body) && body.status === "ready", `GET /ready body: ${reply.text.slice(0, 300)}`);
      check(body.database === "connected", `GET /ready database is ${show(body.database)}`);
      check(
        cacheStates.includes(body.cache as CacheState),
        `GET /ready cache is ${show(body.cache)}, expected one of ${cacheStates.join(", ")}`,
      );
      cache = body.cache as CacheState;
      return `200 ready, database connected, cache ${cache}`;
    });

    await step("create", async () => {
      const input = { title: `${marker} task`, description: `created by the smoke suite (${marker})`, priority: "high", completed: false };
      const reply = await call("POST", "/tasks", input);
      if (isObject(reply.body) && Number.isInteger(reply.body.id)) created.add(reply.body.id as number);
      expectStatus(reply, 201, "POST /tasks");
      checkTask(reply.body, input, "POST /tasks");
      const location = reply.headers.get("location");
      check(location === `/tasks/${reply.body.id}`, `POST /tasks Location is ${show(location)}, expected /tasks/${reply.body.id}`);
      task = reply.body;
      return `201 id ${task.id}, Location ${location}`;
    });

    await step("read", async () => {
      const { id, title, description, priority, completed, created_at } = needTask();
      const reply = await call("GET", `/tasks/${id}`);
      expectStatus(reply, 200, `GET /tasks/${id}`);
      checkTask(reply.body, { id, title, description, priority, completed, created_at }, `GET /tasks/${id}`);
      return `200 task ${id} as created`;
    });

    // The cache rule: a second identical list read is served from the cache (X-Cache: HIT and
    // from_cache: true) whenever /ready says the cache is connected. Only a server that reports the
    // cache as disabled may answer BYPASS. "unavailable" means the deployment lost its Redis: a failure.
    await step("list", async () => {
      const { id } = needTask();
      const path = "/tasks?priority=high&limit=100";
      const read = async (n: number) => {
        const reply = await call("GET", path);
        expectStatus(reply, 200, `GET ${path} (read ${n})`);
        const body = reply.body;
        check(isObject(body) && Array.isArray(body.tasks), `GET ${path}: no tasks array in ${reply.text.slice(0, 300)}`);
        const tasks: unknown[] = body.tasks;
        check(body.count === tasks.length, `GET ${path}: count ${show(body.count)} but ${tasks.length} tasks`);
        const stats = body.stats;
        check(
          isObject(stats) && isCount(stats.total) && isCount(stats.completed) && isCount(stats.pending),
          `GET ${path}: stats ${show(stats)}`,
        );
        check(stats.total === stats.completed + stats.pending, `GET ${path}: stats do not add up: ${show(stats)}`);
        check(
          tasks.every((t) => isObject(t) && t.priority === "high"),
          `GET ${path}: a task of another priority came back`,
        );
        check(typeof body.from_cache === "boolean", `GET ${path}: from_cache is ${show(body.from_cache)}`);
        return { tasks, fromCache: body.from_cache, xCache: reply.headers.get("x-cache") };
      };
      const first = await read(1);
      check(
        first.tasks.some((t) => isObject(t) && t.id === id),
        `GET ${path}: the new task ${id} is not in the list`,
      );
      if (cache === "disabled") {
        const second = await read(2);
        for (const [n, r] of [
          [1, first],
          [2, second],
        ] as const) {
          check(r.xCache === "BYPASS", `read ${n}: X-Cache ${show(r.xCache)}, expected BYPASS (cache disabled)`);
          check(r.fromCache === false, `read ${n}: from_cache true while the cache is disabled`);
        }
        return "2 reads, X-Cache BYPASS (server reports the cache disabled)";
      }
      check(cache === "connected", `the server reports the cache ${show(cache)}: a second read cannot be a hit`);
      check(first.xCache === "MISS" || first.xCache === "HIT", `read 1: X-Cache ${show(first.xCache)}, expected MISS or HIT`);
      // A write by another client between two reads rightly invalidates the cache, so a shared
      // deployment gets a few tries; a server that never hits still fails.
      let second = await read(2);
      for (let n = 3; second.xCache !== "HIT" && n <= 6; n++) second = await read(n);
      check(second.xCache === "HIT", `repeated read: X-Cache ${show(second.xCache)}, expected HIT`);
      check(second.fromCache === true, "repeated read: X-Cache HIT but from_cache is not true");
      return `first read ${first.xCache}, repeated read HIT with from_cache true`;
    });

    await step("update", async () => {
      const { id, updated_at, created_at } = needTask();
      const change = { title: `${marker} task (updated)`, completed: true, priority: "low" };
      const reply = await call("PATCH", `/tasks/${id}`, change);
      expectStatus(reply, 200, `PATCH /tasks/${id}`);
      checkTask(reply.body, { id, created_at, ...change }, `PATCH /tasks/${id}`);
      check(
        Date.parse(reply.body.updated_at as string) > Date.parse(updated_at as string),
        `PATCH /tasks/${id}: updated_at did not move (${show(updated_at)} -> ${show(reply.body.updated_at)})`,
      );
      // Reads after a write must not serve the cached, stale version.
      const read = await call("GET", `/tasks/${id}`);
      expectStatus(read, 200, `GET /tasks/${id} after PATCH`);
      checkTask(read.body, { id, ...change }, `GET /tasks/${id} after PATCH`);
      const list = await call("GET", "/tasks?priority=low&limit=100");
      expectStatus(list, 200, "GET /tasks?priority=low after PATCH");
      const listed = isObject(list.body) && Array.isArray(list.body.tasks) ? list.body.tasks : [];
      check(
        listed.some((t) => isObject(t) && t.id === id && t.title === change.title && t.completed === true),
        "GET /tasks?priority=low after PATCH does not show the update",
      );
      task = reply.body;
      return `200, fields changed, updated_at moved, reads after it see the change`;
    });

    await step("stats", async () => {
      const mine = needTask();
      const reply = await call("GET", "/stats");
      expectStatus(reply, 200, "GET /stats");
      const body = reply.body;
      check(isObject(body), `GET /stats body: ${reply.text.slice(0, 300)}`);
      const { total_tasks: total, completed_tasks: completed, pending_tasks: pending, by_priority: by } = body;
      check(isCount(total) && isCount(completed) && isCount(pending), `GET /stats counts: ${reply.text.slice(0, 300)}`);
      check(total === completed + pending, `GET /stats: completed + pending != total in ${reply.text.slice(0, 300)}`);
      check(isObject(by) && isCount(by.high) && isCount(by.medium) && isCount(by.low), `GET /stats by_priority: ${show(by)}`);
      check(by.high + by.medium + by.low === total, `GET /stats: by_priority does not add up to total_tasks`);
      // This run's task exists now: the counts must include it.
      const mineByPriority = by[String(mine.priority)];
      check(
        (mine.completed ? completed : pending) >= 1 && isCount(mineByPriority) && mineByPriority >= 1,
        `GET /stats does not count this run's task (${String(mine.priority)}, completed ${mine.completed}): ${show(body)}`,
      );
      return `200 total ${total} = ${completed} completed + ${pending} pending`;
    });

    await step("delete", async () => {
      const { id } = needTask();
      const reply = await call("DELETE", `/tasks/${id}`);
      expectStatus(reply, 204, `DELETE /tasks/${id}`);
      created.delete(id as number);
      const after = await call("GET", `/tasks/${id}`);
      expectStatus(after, 404, `GET /tasks/${id} after DELETE`);
      check(isObject(after.body) && typeof after.body.error === "string", `404 body: ${after.text.slice(0, 300)}`);
      const again = await call("DELETE", `/tasks/${id}`);
      expectStatus(again, 404, `second DELETE /tasks/${id}`);
      return "204, then GET and DELETE answer 404";
    });

    await step("metrics", async () => {
      const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(15_000) });
      const text = await response.text();
      check(response.status === 200, `GET /metrics: HTTP ${response.status}`);
      check(
        (response.headers.get("content-type") ?? "").startsWith("text/plain"),
        `GET /metrics content-type ${show(response.headers.get("content-type"))}`,
      );
      check(/^# TYPE http_requests_total counter$/m.test(text), "GET /metrics has no http_requests_total counter");
      check(/^http_requests_total[{ ]/m.test(text), "GET /metrics has no http_requests_total sample");
      return "200 Prometheus text with http_requests_total";
    });

    await step("validation", async () => {
      const reply = await call("POST", "/tasks", { title: `${marker} invalid`, priority: "urgent" });
      if (isObject(reply.body) && Number.isInteger(reply.body.id)) created.add(reply.body.id as number);
      expectStatus(reply, 400, "POST /tasks with priority urgent");
      const body = reply.body;
      check(isObject(body) && typeof body.error === "string", `400 body: ${reply.text.slice(0, 300)}`);
      check(Array.isArray(body.details) && body.details.length > 0, `400 body has no details: ${reply.text.slice(0, 300)}`);
      check(JSON.stringify(body.details).includes("priority"), `400 details do not name priority: ${show(body.details)}`);
      return "400 with details naming priority";
    });
  } finally {
    // Runs whatever failed above, so a failed run leaves no rows behind on a shared deployment.
    await step("cleanup", async () => {
      const left = [...created];
      const failures: string[] = [];
      for (const id of left) {
        try {
          const reply = await call("DELETE", `/tasks/${id}`);
          if (reply.status !== 204 && reply.status !== 404) failures.push(`task ${id}: HTTP ${reply.status}`);
        } catch (error) {
          failures.push(`task ${id}: ${(error as Error).message}`);
        }
      }
      check(failures.length === 0, `could not delete ${failures.join("; ")}`);
      return left.length === 0 ? "nothing left behind" : `deleted leftover task(s) ${left.join(", ")}`;
    });
  }

  return { ok: steps.every((s) => s.ok), steps };
}
