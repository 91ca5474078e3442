// The task board at / and the API reference at /docs in a real browser: Debian's chromium driven by
// playwright-core, against the service on a seeded test database with the cache on.
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "../helpers/postgres.ts";
import { ROOT } from "../helpers/process.ts";
import { SHARED_REDIS, sharedRedis } from "../helpers/redis.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

const CHROMIUM = "/usr/bin/chromium";
// The machine's network is closed: nothing that would phone home, and a profile of its own.
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const SCREENSHOT = path.join(ROOT, "tests/artifacts/board.png");
const SEEDED = 45;
const PAGE_SIZE = 20;
// A loaded machine runs eight suites on two cores: waits are generous, never a measure (Swagger UI
// alone took 14 s to render /docs under a load average of 16).
const WAIT_MS = 30_000;
const TEST_MS = 120_000;

interface Task {
  id: number;
  title: string;
  description: string | null;
  completed: boolean;
  priority: string;
}
interface Shown {
  id: number;
  title: string;
  completed: boolean;
}

let db: TestDatabase;
let api: TestService;
let context: BrowserContext;
let page: Page;
let profile: string;
const prefix = `taskflow-browser-${randomBytes(4).toString("hex")}`;
// What the browser did that the pages must never do, collected over every test.
const cspViolations: string[] = [];
const pageErrors: string[] = [];
const foreignRequests: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium; .ci/run does)`);
  }
  db = await createTestDatabase("taskflow_browser");
  api = await startTestService({
    ...db.env,
    SEED_TASKS: String(SEEDED),
    REDIS_HOST: SHARED_REDIS.host,
    REDIS_PORT: String(SHARED_REDIS.port),
    CACHE_PREFIX: prefix,
  });
  profile = await mkdtemp(path.join(tmpdir(), "taskflow-chromium-"));
  context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 960, height: 1100 },
    locale: "en-GB",
    timezoneId: "UTC",
  });
  page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(WAIT_MS);
  page.on("console", (message) => {
    if (/Content Security Policy/i.test(message.text())) cspViolations.push(message.text());
  });
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("request", (request) => {
    if (!request.url().startsWith(`${api.url}/`) && !request.url().startsWith("data:")) foreignRequests.push(request.url());
  });
}, 120_000);

afterAll(async () => {
  await context?.close();
  if (profile) await rm(profile, { recursive: true, force: true });
  await api?.stop();
  const redis = sharedRedis();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
  await db?.drop();
});

async function apiTasks(query: string): Promise<Shown[]> {
  const body = (await (await api.request(`/tasks?${query}`)).json()) as { tasks: Task[] };
  return body.tasks.map(({ id, title, completed }) => ({ id, title, completed }));
}

// Scripts run in the page are strings: the tests are type-checked without the DOM's types.
const inPage = <T>(script: string) => page.evaluate(script) as Promise<T>;

const shownTasks = () =>
  inPage<Shown[]>(`[...document.querySelectorAll("#tasks > li")].map((item) => ({
    id: Number(item.dataset.id),
    title: item.querySelector("label").textContent,
    completed: item.querySelector("input[type=checkbox]").checked,
  }))`);

/** Waits until the board shows exactly what GET /tasks answers for `query`; on timeout, shows both. */
async function expectBoardToShow(query: string): Promise<Shown[]> {
  const expected = await apiTasks(query);
  await expect.poll(shownTasks, { timeout: WAIT_MS, message: `the board against GET /tasks?${query}` }).toEqual(expected);
  return expected;
}

const item = (title: string) => page.locator("#tasks > li", { has: page.locator("label", { hasText: title }) });

async function openBoard(): Promise<void> {
  await page.goto(`${api.url}/`);
  await page.locator("#tasks > li").first().waitFor();
}

describe("the task board at /", { timeout: TEST_MS }, () => {
  it("lists the same tasks as GET /tasks, with the whole table's stats, its filters and its pages", async () => {
    await openBoard();
    const first = await expectBoardToShow(`limit=${PAGE_SIZE}`);
    expect(first).toHaveLength(PAGE_SIZE);

    const stats = (await (await api.request("/stats")).json()) as Record<string, number> & { by_priority: Record<string, number> };
    expect(stats.total_tasks).toBe(SEEDED);
    const shownStats = await inPage<Record<string, number>>(
      `Object.fromEntries([...document.querySelectorAll("#stats dd")].map((cell) => [cell.id.replace("stat-", ""), Number(cell.textContent)]))`,
    );
    expect(shownStats).toEqual({
      total: stats.total_tasks,
      pending: stats.pending_tasks,
      completed: stats.completed_tasks,
      ...stats.by_priority,
    });

    await page.screenshot({ path: SCREENSHOT });

    await page.getByRole("button", { name: "Next" }).click();
    await expectBoardToShow(`limit=${PAGE_SIZE}&offset=${PAGE_SIZE}`);
    await page.getByRole("button", { name: "Next" }).click();
    const last = await expectBoardToShow(`limit=${PAGE_SIZE}&offset=${2 * PAGE_SIZE}`);
    expect(last).toHaveLength(SEEDED - 2 * PAGE_SIZE);
    expect(await page.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
    await page.getByRole("button", { name: "Previous" }).click();
    await expectBoardToShow(`limit=${PAGE_SIZE}&offset=${PAGE_SIZE}`);

    // A filter starts again from the first page.
    await page.locator("#filter-priority").selectOption("high");
    await expectBoardToShow(`priority=high&limit=${PAGE_SIZE}`);
    await page.locator("#filter-completed").selectOption("true");
    await expectBoardToShow(`priority=high&completed=true&limit=${PAGE_SIZE}`);
    await page.locator("#filter-priority").selectOption("");
    await page.locator("#page-size").selectOption("10");
    await expectBoardToShow("completed=true&limit=10");
  });

  it("adds a task typed at the keyboard; the API has it as shown, markup and all", async () => {
    await openBoard();
    const title = `Ship <b>“TaskFlow”</b> & 'co' ${randomBytes(3).toString("hex")}`;
    // Keyboard only: the form is reachable and operable without a pointer.
    await page.locator("#title").focus();
    await page.keyboard.type(title);
    await page.keyboard.press("Tab");
    await page.keyboard.type("typed, not clicked");
    await page.keyboard.press("Tab");
    await page.keyboard.press("End"); // the last option of the select: high
    await page.keyboard.press("Tab");
    expect(await inPage("document.activeElement.textContent")).toBe("Add task");
    expect(await inPage("getComputedStyle(document.activeElement).outlineStyle")).toBe("solid");
    await page.keyboard.press("Enter");

    await item(title).waitFor();
    const [shown] = await expectBoardToShow(`limit=${PAGE_SIZE}`);
    expect(shown!.title).toBe(title);
    const stored = (await (await api.request(`/tasks/${shown!.id}`)).json()) as Task;
    expect(stored).toMatchObject({ id: shown!.id, title, description: "typed, not clicked", priority: "high", completed: false });
    expect(await item(title).locator(".description").textContent()).toBe("typed, not clicked");
    // The form is ready for the next one.
    expect(await page.locator("#title").inputValue()).toBe("");
    expect(await inPage("document.activeElement.id")).toBe("title");
  });

  it("shows the API's message next to a field it refuses, and adds nothing", async () => {
    await openBoard();
    const before = ((await (await api.request("/stats")).json()) as { total_tasks: number }).total_tasks;
    // The message is the API's own, whatever its wording.
    const refusal = (await (await api.json("/tasks", { title: "   ", priority: "medium" })).json()) as {
      details: { field: string; message: string }[];
    };
    expect(refusal.details.map((d) => d.field)).toEqual(["title"]);

    await page.locator("#title").fill("   ");
    await page.getByRole("button", { name: "Add task" }).click();
    const error = page.locator("#title-error");
    await expect.poll(() => error.textContent(), { timeout: WAIT_MS, message: "the title's error" }).not.toBe("");
    expect(await error.textContent()).toBe(refusal.details[0]!.message);
    expect(await page.locator("#title").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#title").getAttribute("aria-describedby")).toBe("title-error");
    expect(await inPage("document.activeElement.id")).toBe("title");
    expect(((await (await api.request("/stats")).json()) as { total_tasks: number }).total_tasks).toBe(before);

    // Fixed and sent again: the message goes.
    await page.locator("#title").fill("fixed title");
    await page.getByRole("button", { name: "Add task" }).click();
    await item("fixed title").waitFor();
    expect(await error.textContent()).toBe("");
    expect(await page.locator("#title").getAttribute("aria-invalid")).toBeNull();
  });

  it("toggles a task completed and back, and deletes it", async () => {
    await openBoard();
    const title = `toggle me ${randomBytes(3).toString("hex")}`;
    const created = (await (await api.json("/tasks", { title })).json()) as Task;
    await page.reload();
    const row = item(title);
    await row.waitFor();
    const checkbox = page.getByLabel(title, { exact: true });

    const completedInApi = async () => ((await (await api.request(`/tasks/${created.id}`)).json()) as Task).completed;
    // Space on the focused checkbox, as a keyboard user would.
    await checkbox.focus();
    await page.keyboard.press("Space");
    await expect.poll(completedInApi, { timeout: WAIT_MS, message: "the task completed in the API" }).toBe(true);
    await expect.poll(() => row.getAttribute("class"), { timeout: WAIT_MS, message: "the row shown done" }).toContain("done");
    expect(await checkbox.isChecked()).toBe(true);
    const stats = (await (await api.request("/stats")).json()) as { completed_tasks: number };
    await expect
      .poll(async () => Number(await page.locator("#stat-completed").textContent()), { timeout: WAIT_MS, message: "the stats" })
      .toBe(stats.completed_tasks);

    await checkbox.click();
    await expect.poll(completedInApi, { timeout: WAIT_MS, message: "the task pending again in the API" }).toBe(false);
    await expect
      .poll(async () => (await row.getAttribute("class")) ?? "", { timeout: WAIT_MS, message: "the row shown pending" })
      .not.toContain("done");

    await row.getByRole("button", { name: `Delete “${title}”` }).click();
    await expect
      .poll(async () => (await api.request(`/tasks/${created.id}`)).status, { timeout: WAIT_MS, message: "the task gone from the API" })
      .toBe(404);
    await expect.poll(() => row.count(), { timeout: WAIT_MS, message: "the row gone" }).toBe(0);
    await expectBoardToShow(`limit=${PAGE_SIZE}`);
    expect(await page.locator("#list-status").textContent()).toBe(`“${title}” deleted.`);
  });

  it("steps back a page when the last task of the last page goes", async () => {
    await openBoard();
    await page.locator("#page-size").selectOption("10");
    const total = ((await (await api.request("/stats")).json()) as { total_tasks: number }).total_tasks;
    const lastOffset = Math.floor((total - 1) / 10) * 10;
    await expectBoardToShow("limit=10");
    for (let offset = 10; offset <= lastOffset; offset += 10) {
      await page.getByRole("button", { name: "Next" }).click();
      await expectBoardToShow(`limit=10&offset=${offset}`);
    }
    expect(await page.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
    const lastPage = await apiTasks(`limit=10&offset=${lastOffset}`);
    // All but one go elsewhere (another tab, curl); the board deletes the last one.
    for (const task of lastPage.slice(1)) expect((await api.request(`/tasks/${task.id}`, { method: "DELETE" })).status).toBe(204);
    await item(lastPage[0]!.title)
      .getByRole("button", { name: /^Delete/ })
      .click();
    await expectBoardToShow(`limit=10&offset=${lastOffset - 10}`);
    expect(await page.getByRole("button", { name: "Next" }).isDisabled()).toBe(true);
  });

  it("fits a phone's screen", async () => {
    await page.setViewportSize({ width: 360, height: 740 });
    try {
      await openBoard();
      const overflow = await inPage("document.documentElement.scrollWidth - document.documentElement.clientWidth");
      expect(overflow).toBe(0);
      const viewport = await page.locator('meta[name="viewport"]').getAttribute("content");
      expect(viewport).toContain("width=device-width");
    } finally {
      await page.setViewportSize({ width: 960, height: 1100 });
    }
  });
});

describe("the API reference at /docs", { timeout: TEST_MS }, () => {
  it("loads /openapi.json and lists every route", async () => {
    const doc = (await (await api.request("/openapi.json")).json()) as { paths: Record<string, Record<string, unknown>> };
    const routes = Object.entries(doc.paths)
      .flatMap(([route, operations]) => Object.keys(operations).map((method) => `${method.toUpperCase()} ${route}`))
      .sort();
    expect(routes.length).toBeGreaterThanOrEqual(9);

    const loaded = page.waitForResponse((response) => response.url() === `${api.url}/openapi.json` && response.status() === 200);
    await page.goto(`${api.url}/`);
    await page.getByRole("link", { name: "API reference" }).click();
    await loaded;
    await page.locator(".opblock").first().waitFor();
    const listed = await inPage<string[]>(`[...document.querySelectorAll(".opblock")].map((block) =>
      block.querySelector(".opblock-summary-method").textContent.trim() + " " +
      block.querySelector(".opblock-summary-path").dataset.path)`);
    expect(listed.sort()).toEqual(routes);
  });
});

describe("the pages' HTTP answers", () => {
  const policy = "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'";

  it.each([
    ["/", "text/html; charset=utf-8", policy],
    ["/docs", "text/html; charset=utf-8", policy.replace("; base-uri", "; img-src 'self' data:; base-uri")],
    ["/board.js", "text/javascript; charset=utf-8", "frame-ancestors 'none'"],
    ["/docs/swagger-ui-bundle.js", "text/javascript; charset=utf-8", "frame-ancestors 'none'"],
    ["/docs/swagger-ui.css", "text/css; charset=utf-8", "frame-ancestors 'none'"],
  ])("%s: its own policy, the API's other headers, HEAD as GET, and a 304 for the copy a browser holds", async (route, type, csp) => {
    const res = await api.request(route);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe(type);
    expect(res.headers.get("content-security-policy")).toBe(csp);
    expect(res.headers.get("cache-control")).toBe("no-cache");
    expect(res.headers.get("x-content-type-options")).toBe("nosniff");
    expect(res.headers.get("x-frame-options")).toBe("DENY");
    expect(res.headers.get("strict-transport-security")).toMatch(/^max-age=/);
    const etag = res.headers.get("etag");
    expect(etag).toMatch(/^"[\w-]+"$/);
    const bytes = (await res.arrayBuffer()).byteLength;
    expect(bytes).toBeGreaterThan(0);
    const head = await api.request(route, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(bytes));
    expect(head.headers.get("content-security-policy")).toBe(csp);

    const again = await api.request(route, { headers: { "If-None-Match": etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
    expect(await again.text()).toBe("");
    const changed = await api.request(route, { headers: { "If-None-Match": '"another"' } });
    expect(changed.status).toBe(200);
  });

  it("keeps the pages out of /openapi.json and answers paths beside them with the JSON 404", async () => {
    const doc = (await (await api.request("/openapi.json")).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).filter((route) => route === "/" || route.startsWith("/docs") || route.startsWith("/board"))).toEqual([]);
    for (const route of ["/docs/", "/index.html", "/docs/swagger-ui-bundle.js.map", "/docs/index.html"]) {
      const res = await api.request(route);
      expect(res.status, route).toBe(404);
      expect(await res.json()).toEqual({ error: "Not found" });
    }
  });
});

describe("what the browser saw", () => {
  it("broke no Content-Security-Policy rule, threw nothing and fetched nothing from another origin", () => {
    expect(cspViolations).toEqual([]);
    expect(pageErrors).toEqual([]);
    expect(foreignRequests).toEqual([]);
  });
});
