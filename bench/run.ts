// npm run bench: loads the built service (npm run build first) on 1 000 and on 100 000 seeded
// tasks, next to a bare node:http ceiling, prints the table and the aims' verdicts, and writes
// bench/results.json. Exits non-zero when a run saw non-2xx answers, errors or a wrong X-Cache.
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createTestDatabase } from "../tests/helpers/postgres.ts";
import { freePort } from "../tests/helpers/process.ts";
import { deleteKeys, redisEnv, runId } from "./infra.ts";
import { LOAD, type Measurement, measure, type Scenario } from "./load.ts";
import { formatStarts, formatTable, formatVerdicts, type ServerStart, type SizeReport, verdicts } from "./report.ts";
import { type RunningServer, rssMiB, SERVICE_ENTRY, startCeiling, startService } from "./server.ts";

const SIZES = [1_000, 100_000];
// A candidate build (BENCH_SERVICE) does not overwrite the figures of the repository's own build.
const RESULTS_FILE = fileURLToPath(new URL(process.env.BENCH_SERVICE ? "./results-candidate.json" : "./results.json", import.meta.url));
// Names of the service configurations, as printed in the "server" column.
const WARN = "cache on, log warn";
const INFO = "cache on, log info";
const CACHE_OFF = "cache off, log warn";
const UNREACHABLE = "Redis unreachable, log warn";

if (!existsSync(SERVICE_ENTRY)) {
  console.error(`bench: ${SERVICE_ENTRY} is missing; run \`npm run build\` first`);
  process.exit(2);
}

// Undone in reverse order whether the bench finishes, fails or is interrupted.
const cleanups: (() => Promise<unknown>)[] = [];
async function cleanUp(): Promise<string[]> {
  const errors: string[] = [];
  for (let step = cleanups.pop(); step; step = cleanups.pop()) {
    await step().catch((error: unknown) => errors.push(`clean-up: ${(error as Error).message}`));
  }
  return errors;
}
process.once("SIGINT", () => void cleanUp().finally(() => process.exit(130)));
// First in, so it runs last: after every server that could write keys has stopped.
cleanups.push(async () => console.log(`clean-up: ${await deleteKeys(runId)} Redis keys under ${runId}* deleted`));

const logDir = mkdtempSync(join(tmpdir(), "taskflow-bench-"));
const problems: string[] = [];

const notes: string[] = [];
// The machine may be shared: its load average, taken around each data size, tells how quiet it was.
const loads: { at: string; loadavg1m: number }[] = [];
const noteLoad = (at: string) => loads.push({ at, loadavg1m: loadavg()[0]! });

function record(m: Measurement): Measurement {
  const marks = [...m.problems.map((p) => `✗ ${p}`), ...m.notes.map((n) => `note: ${n}`)];
  console.log(`  ${m.endpoint.padEnd(24)} ${m.server.padEnd(28)} ${m.requestsPerSecond.toFixed(0).padStart(6)} req/s  ${marks.join("; ")}`);
  problems.push(...m.problems.map((p) => `${m.endpoint} [${m.server}]: ${p}`));
  notes.push(...m.notes.map((n) => `${m.endpoint} [${m.server}]: ${n}`));
  return m;
}

/** The service's cached GET /tasks answer, asked until it comes from the cache. */
async function cachedListBody(url: string): Promise<{ bytes: Buffer; contentType: string }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const res = await fetch(`${url}/tasks`);
    const bytes = Buffer.from(await res.arrayBuffer());
    if (res.headers.get("x-cache") === "HIT") return { bytes, contentType: res.headers.get("content-type") ?? "" };
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error("GET /tasks never answered X-Cache: HIT");
}

async function benchSize(tasks: number): Promise<SizeReport> {
  noteLoad(`before ${tasks} tasks`);
  const db = await createTestDatabase(`${runId}_${tasks}`);
  cleanups.push(async () => {
    await db.drop();
    console.log(`clean-up: database ${db.name} dropped`);
  });
  // CACHE_TTL well past the run, so a hit run cannot see an entry expire under it.
  const common = { ...db.env, SEED_TASKS: String(tasks), CACHE_TTL: "3600" };
  const cache = redisEnv(`${runId}_${tasks}`);

  const starts: ServerStart[] = [];
  const servers: RunningServer[] = [];
  const start = async (name: string, env: Record<string, string>) => {
    const server = await startService(name, { ...common, ...env }, join(logDir, `${tasks}-${name.replace(/\W+/g, "-")}.log`));
    servers.push(server);
    cleanups.push(server.stop);
    starts.push({ server: name, readyMs: server.readyMs, idleRssMiB: rssMiB(server.pid) });
    return server;
  };

  try {
    // The first start migrates and seeds; the others find the table filled, like a restart.
    // Idle servers cost nothing measurable, so all four stay up and are loaded one at a time.
    const warn = await start(WARN, { ...cache, LOG_LEVEL: "warn" });
    const info = await start(INFO, { ...cache, LOG_LEVEL: "info" });
    const off = await start(CACHE_OFF, { LOG_LEVEL: "warn" });
    // A port nothing listens on: connections are refused at once, as when Redis' pod is gone.
    const down = await start(UNREACHABLE, { ...cache, REDIS_PORT: String(await freePort()), LOG_LEVEL: "warn" });
    console.log(`${tasks} tasks: servers ready (${starts.map((s) => `${s.readyMs.toFixed(0)} ms`).join(", ")})`);

    // The seeded ids, so random reads hit existing rows only.
    const [{ min, max }] = await db.sql<[{ min: number; max: number }]>`SELECT min(id) AS min, max(id) AS max FROM tasks`;
    const randomId = () => `/tasks/${min + Math.floor(Math.random() * (max - min + 1))}`;
    const list: Scenario = { endpoint: "GET /tasks", path: "/tasks", expectCache: "HIT" };
    const byId: Scenario = { endpoint: "GET /tasks/:id", path: "/tasks/1", nextPath: randomId };
    const stats: Scenario = { endpoint: "GET /stats", path: "/stats" };
    const filtered: Scenario = { endpoint: "GET /tasks?priority=high", path: "/tasks?priority=high", expectCache: "BYPASS" };
    const create: Scenario = {
      endpoint: "POST /tasks",
      method: "POST",
      path: "/tasks",
      body: JSON.stringify({ title: "bench task", priority: "low" }),
    };

    // The ceiling answers the very bytes the service serves from its cache.
    const body = await cachedListBody(warn.url);
    const ceilingServer = await startCeiling(body.bytes, body.contentType, join(logDir, `${tasks}-ceiling.log`));
    cleanups.push(ceilingServer.stop);
    const ceilings: Measurement[] = [];
    // Loaded exactly as the run it is compared with (same paths, random ids included), so the load
    // generator's own work per request, which shares the CPUs, weighs on both alike.
    const ceilingRun = async ({ path, nextPath }: Scenario) => {
      const c = await measure(ceilingServer, { endpoint: "GET /tasks", path, nextPath });
      c.server = `bare node:http (${body.bytes.length} B)`;
      ceilings.push(record(c));
      return c.requestsPerSecond;
    };

    const runs: Measurement[] = [];
    for (const server of [warn, info]) {
      for (const scenario of [list, byId, stats]) {
        const ceilingRequestsPerSecond = await ceilingRun(scenario);
        runs.push(record({ ...(await measure(server, scenario)), ceilingRequestsPerSecond }));
      }
    }
    await ceilingServer.stop();
    runs.push(record(await measure(off, filtered)));
    for (const server of [off, down]) runs.push(record(await measure(server, { ...byId, expectCache: "BYPASS" })));

    // Writes last: each adds a row, so they would change the table the reads above measure.
    for (const server of [warn, info]) runs.push(record(await measure(server, create)));

    return { tasks, starts, ceilings, runs };
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

const sizes: SizeReport[] = [];
try {
  console.log(
    `bench ${runId} of ${SERVICE_ENTRY}: ${LOAD.connections} connections, pipelining ${LOAD.pipelining}, ` +
      `${LOAD.warmupSeconds} s warm-up + ${LOAD.seconds} s per run; ${cpus().length} CPUs, Node ${process.version}`,
  );
  for (const tasks of SIZES) sizes.push(await benchSize(tasks));
  noteLoad("after");
} catch (error) {
  problems.push(`aborted: ${(error as Error).message}`);
} finally {
  problems.push(...(await cleanUp()));
}

const aims = verdicts(sizes, { cacheOff: CACHE_OFF, unreachable: UNREACHABLE });
console.log(`\n${formatTable(sizes)}\n\n${formatStarts(sizes)}\n\n${formatVerdicts(aims)}`);
if (notes.length > 0) console.log(`\nnotes:\n  ${notes.join("\n  ")}`);
console.log(`\nload average (1 min, ${cpus().length} CPUs): ${loads.map((l) => `${l.at} ${l.loadavg1m.toFixed(2)}`).join(", ")}`);
console.log(
  "\n'log info' is the production setting (one JSON line per request, written to a file as a container runtime" +
    " would take stdout); 'log warn' shows what the same code does without per-request logging.",
);
writeFileSync(
  RESULTS_FILE,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      service: SERVICE_ENTRY,
      node: process.version,
      cpus: cpus().length,
      load: LOAD,
      loads,
      sizes,
      aims,
      notes,
      problems,
    },
    null,
    2,
  )}\n`,
);
console.log(`written: ${RESULTS_FILE}`);

if (problems.length > 0) {
  console.error(`\nbench FAILED (server logs kept in ${logDir}):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
rmSync(logDir, { recursive: true, force: true });
