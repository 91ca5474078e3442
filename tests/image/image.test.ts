// The service image, built for real and run the way the Deployment runs it: read-only root file
// system, uid 1000, no capabilities, no privilege escalation, against the machine's PostgreSQL and
// Redis on a fresh database, within the pod's memory and CPU limits; then the smoke suite, a load of
// concurrent /stress and large list reads, then a SIGTERM stop.
import { randomBytes } from "node:crypto";
import { access, copyFile, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig, requiredSettings, settingNames } from "../../service/src/config.ts";
import { apiEnvironment } from "../../stack/api-environment.ts";
import { contextFiles } from "../../stack/build-context.ts";
import { defaults } from "../../stack/config.ts";
import { imageBuild } from "../../stack/taskflow.ts";
import { createTestDatabase, PG_HOST, PG_PORT, type TestDatabase } from "../helpers/postgres.ts";
import { freePort } from "../helpers/process.ts";
import { SHARED_REDIS, sharedRedis } from "../helpers/redis.ts";
import { runSmoke } from "../smoke/smoke.ts";
import { containerState, DOCKER, docker, filesInTopLayers, type ImageInfo, inspectImage, listTree, run } from "./docker.ts";

const repo = fileURLToPath(new URL("../..", import.meta.url));
const serviceDir = path.join(repo, "service");
// CI clones the repository next to shared/, as the work tree is here.
const baseImageTool = path.resolve(repo, "../shared/tools/local-node-image");

const MB = 1_000_000;
// The bundle, the pages and Swagger UI (about 1.9 MB of it), all told.
const MAX_ADDED_BYTES = 5 * MB;
// What /docs serves of Swagger UI's package, with the licence texts that go with it.
const SWAGGER_UI_FILES = ["LICENSE", "NOTICE", "swagger-ui-bundle.js", "swagger-ui-bundle.js.LICENSE.txt", "swagger-ui.css"].map(
  (file) => `app/node_modules/swagger-ui-dist/${file}`,
);
const MAX_CONTEXT_BYTES = 1 * MB;
const MiB = 1024 * 1024;
// The image's CMD; the heap is half the container's memory limit (see docs/memory.md).
const COMMAND = ["node", "--enable-source-maps", "--max-old-space-size-percentage=50", "dist/main.mjs"];

/** A Kubernetes memory quantity in bytes: the binary and plain forms a resources block uses. */
function memoryBytes(quantity: string): number {
  const match = /^(\d+)(Ki|Mi|Gi)?$/.exec(quantity);
  if (!match) throw new Error(`memory quantity ${quantity} is not one this test converts`);
  return Number(match[1]) * { "": 1, Ki: 1024, Mi: MiB, Gi: 1024 * MiB }[match[2] ?? ""]!;
}

/** A Kubernetes CPU quantity (`500m`, `2`) as docker's --cpus takes it. */
function cpus(quantity: string): string {
  const match = /^(\d+)(m)?$/.exec(quantity);
  if (!match) throw new Error(`CPU quantity ${quantity} is not one this test converts`);
  return String(Number(match[1]) / (match[2] ? 1000 : 1));
}

// The API container's limits in the dev stack, enforced on the container as Kubernetes would.
const memoryLimit = memoryBytes(defaults.apiResources.limits.memory);
const cpuLimit = cpus(defaults.apiResources.limits.cpu);

const runId = randomBytes(4).toString("hex");
const tag = `taskflow-api:image-test-${runId}`;
const containerName = `taskflow-image-test-${runId}`;
const password = `image-test-${runId}`;
const cachePrefix = `taskflow-img-${runId}`;

let workDir: string;
let baseImage: string;
let image: ImageInfo | undefined;
let db: TestDatabase | undefined;
let url: string | undefined;
let drainSeconds: number | undefined;
let containerStarted = false;

function caSecretArgs(): Promise<string[]> {
  // The proxy's CA where there is one; a machine without the file builds with plain `docker build`.
  const ca = process.env.NODE_EXTRA_CA_CERTS || "/etc/ssl/certs/ca-certificates.crt";
  return access(ca).then(
    () => ["--secret", `id=npm_ca,src=${ca}`],
    () => [],
  );
}

const logsOf = async (name: string) => {
  const { stdout, stderr } = await run(DOCKER, ["logs", name]);
  return { stdout, stderr };
};

async function waitForReady(base: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  let last = "no answer yet";
  while (Date.now() < deadline) {
    const state = await containerState(containerName);
    if (!state.Running) {
      const { stdout, stderr } = await logsOf(containerName);
      throw new Error(`the container exited with code ${state.ExitCode} before it was ready:\n${stdout}${stderr}`);
    }
    try {
      const response = await fetch(`${base}/ready`, { signal: AbortSignal.timeout(2_000) });
      last = `HTTP ${response.status} ${await response.text()}`;
      if (response.status === 200) return;
    } catch (error) {
      last = (error as Error).message;
    }
    await sleep(250);
  }
  throw new Error(`not ready within 90 s; last answer: ${last}`);
}

async function cacheKeys(): Promise<string[]> {
  const redis = sharedRedis();
  try {
    return await redis.keys(`${cachePrefix}:*`);
  } finally {
    redis.disconnect();
  }
}

async function serviceConnections(database: string): Promise<number> {
  // The service names its connections taskflow-api/<host>/<pid>; the test's own client does not.
  const [row] = await db!.sql<{ n: number }[]>`
    SELECT count(*)::int AS n FROM pg_stat_activity
    WHERE datname = ${database} AND application_name LIKE 'taskflow-api/%'`;
  return row!.n;
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), "taskflow-image-"));
});

afterAll(async () => {
  const problems: string[] = [];
  const attempt = async (what: string, action: () => Promise<unknown>) => {
    try {
      await action();
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  if (containerStarted) await attempt("remove the container", () => docker(["rm", "--force", containerName]));
  if (image) await attempt("remove the image", () => docker(["image", "rm", "--force", tag]));
  if (db) await attempt("drop the database", () => db!.drop());
  await attempt("delete the cache keys", async () => {
    const keys = await cacheKeys();
    if (keys.length === 0) return;
    const redis = sharedRedis();
    try {
      await redis.del(...keys);
    } finally {
      redis.disconnect();
    }
  });
  if (workDir) await attempt("remove the work directory", () => rm(workDir, { recursive: true, force: true }));
  if (problems.length > 0) throw new Error(`cleanup failed:\n${problems.join("\n")}`);
});

describe("service image", () => {
  it("builds service/Dockerfile from the repository's root on the stand-in base", async () => {
    // No engine means a failed test with the tool's reason, never a skipped one.
    try {
      // Through bash: CI's copy of shared/ may not keep the execute bit.
      baseImage = (await run("bash", [baseImageTool])).stdout.trim();
    } catch (error) {
      throw new Error(`no Docker engine or base image: ${(error as Error).message}`);
    }
    expect(baseImage, "local-node-image printed no tag").toMatch(/\S/);
    // As the stack builds it (stack/taskflow.ts imageBuild).
    const build = ["--file", imageBuild.dockerfile, "--build-arg", `NODE_IMAGE=${baseImage}`, ...(await caSecretArgs())];
    await docker(["build", ...build, "--tag", tag, imageBuild.context]);
    image = await inspectImage(tag);
  });

  it("runs node directly as uid/gid 1000 and holds only the bundle, the migrations, the pages and Swagger UI's files", async () => {
    expect(image, "the image was not built").toBeDefined();
    const { Config, RootFS } = image!;
    expect(Config.User).toBe("1000:1000");
    expect(Config.Entrypoint ?? []).toEqual([]);
    expect(Config.Cmd).toEqual(COMMAND);
    expect(Config.WorkingDir).toBe("/app");
    expect(Object.keys(Config.ExposedPorts ?? {})).toEqual(["5000/tcp"]);
    expect(Config.Env).toEqual(expect.arrayContaining(["NODE_ENV=production", "HOME=/home/appuser"]));

    const base = await inspectImage(baseImage);
    // The final stage is the base plus our layers, not some other image that happens to be small.
    expect(RootFS.Layers.slice(0, base.RootFS.Layers.length)).toEqual(base.RootFS.Layers);

    const added = await filesInTopLayers(tag, base.RootFS.Layers.length, workDir);
    console.log(`files the project adds to the image:\n  ${added.join("\n  ")}`);
    const forbidden: [string, RegExp][] = [
      ["TypeScript sources", /\.[cm]?ts$/],
      ["node_modules", /(^|\/)node_modules(\/|$)/],
      ["lockfiles", /(^|\/)(package-lock|npm-shrinkwrap)\.json$/],
      ["tests", /(^|\/)(tests?|__tests__)(\/|$)|\.(test|spec)\.[cm]?[jt]s$/],
      ["Pulumi SDKs", /@pulumi/],
      ["npm caches", /(^|\/)\.npm(\/|$)/],
    ];
    // Swagger UI's files are the one exception: read from its package's path, as in the source tree.
    const checked = added.filter((f) => !SWAGGER_UI_FILES.includes(f));
    for (const [what, pattern] of forbidden) {
      expect(
        checked.filter((f) => pattern.test(f)),
        `the image holds ${what}`,
      ).toEqual([]);
    }
    // Exactly these: anything else the Dockerfile starts to copy shows here.
    const migrations = (await readdir(path.join(serviceDir, "migrations"))).filter((f) => f.endsWith(".sql")).sort();
    expect(migrations.length).toBeGreaterThan(0);
    const pages = (await readdir(path.join(serviceDir, "public"))).sort();
    expect(pages).toContain("index.html");
    expect(added).toEqual(
      [
        "app/dist/main.mjs",
        "app/dist/main.mjs.map",
        ...migrations.map((f) => `app/migrations/${f}`),
        ...pages.map((f) => `app/public/${f}`),
        ...SWAGGER_UI_FILES,
      ].sort(),
    );

    const addedBytes = image!.Size - base.Size;
    console.log(
      `image ${tag}: ${(image!.Size / MB).toFixed(1)} MB in all, ` +
        `${(addedBytes / MB).toFixed(3)} MB (${addedBytes} bytes) added over ${baseImage} (${(base.Size / MB).toFixed(1)} MB)`,
    );
    expect(addedBytes).toBeGreaterThan(0);
    expect(addedBytes).toBeLessThanOrEqual(MAX_ADDED_BYTES);
  });

  it("is built from a context under 1 MB, the very files the image tag hashes", async () => {
    // BuildKit itself copies the context, after the Dockerfile's ignore file (given to the probe's
    // Dockerfile under its own name), into a local directory: the files the build gets, measured
    // rather than re-derived from the ignore rules, and compared with the stack's tag hash input.
    const probe = path.join(workDir, "context-probe");
    const probeDockerfile = path.join(workDir, "Dockerfile.context");
    await writeFile(probeDockerfile, "FROM scratch\nCOPY . /\n");
    await copyFile(`${imageBuild.dockerfile}.dockerignore`, `${probeDockerfile}.dockerignore`);
    await docker(["build", "--file", probeDockerfile, "--output", `type=local,dest=${probe}`, imageBuild.context]);
    const files = await listTree(probe);
    const bytes = files.reduce((sum, f) => sum + f.bytes, 0);
    console.log(`build context: ${files.length} files, ${bytes} bytes (${(bytes / MB).toFixed(3)} MB)`);
    // The Dockerfile itself travels beside the context (and the hash covers it); nothing else differs.
    const dockerfile = path.relative(imageBuild.context, imageBuild.dockerfile);
    expect(files.map((f) => f.file).sort()).toEqual(contextFiles(imageBuild).filter((file) => file !== dockerfile));
    expect(files.map((f) => f.file)).toContain("package-lock.json");
    expect(files.filter((f) => /(^|\/)(node_modules|dist|\.git|tests?)(\/|$)|\.env/.test(f.file))).toEqual([]);
    expect(bytes).toBeLessThan(MAX_CONTEXT_BYTES);
  });

  it("runs under the pod's security context and passes the smoke suite", async () => {
    expect(image, "the image was not built").toBeDefined();
    db = await createTestDatabase("taskflow_img");
    const port = await freePort();
    // What the dev stack puts in the API's ConfigMap (stack/config.ts defaults equal Pulumi.dev.yaml),
    // built by the same function, with this machine's PostgreSQL and Redis in place of the Services.
    const stackEnvironment = apiEnvironment(defaults, { database: { host: PG_HOST, port: PG_PORT }, cache: SHARED_REDIS });
    // Only what must differ here: the superuser the local server trusts and this run's fresh
    // database, a free port on the host network, and a prefix of its own in the shared Redis so
    // the keys it leaves can be found and deleted.
    const machine = { DATABASE_USER: db.env.DATABASE_USER!, DATABASE_NAME: db.name, PORT: String(port), CACHE_PREFIX: cachePrefix };
    const plain = Object.entries({ ...stackEnvironment, ...machine }).filter((entry): entry is [string, string] => entry[1] !== undefined);
    // The stack's Secret also holds REDIS_PASSWORD, but the machine's Redis has no requirepass:
    // ioredis would meet Redis' refusal of the AUTH with a plain-text console warning, not a
    // test of anything. tests/service/cache.test.ts and tests/stack/redis-auth-conf.test.ts cover
    // password-protected Redis.
    const env: Record<string, string> = { ...Object.fromEntries(plain), DATABASE_PASSWORD: password };
    const overridden = Object.entries(stackEnvironment)
      .filter(([name, value]) => env[name] !== value)
      .map(([name]) => name);
    expect(overridden.sort()).toEqual(["CACHE_PREFIX", "DATABASE_NAME", "DATABASE_USER", "PORT"]);
    expect(Object.keys(env).filter((name) => !(settingNames as string[]).includes(name))).toEqual([]);
    expect(requiredSettings.filter((name) => !(name in env))).toEqual([]);
    drainSeconds = loadConfig(env).SHUTDOWN_GRACE_SECONDS;

    // `-e NAME` without a value takes it from docker's own environment: the password stays out of argv.
    const envArgs = Object.keys(env).flatMap((name) => ["-e", name]);
    containerStarted = true;
    await docker(
      [
        "run",
        "--detach",
        "--name",
        containerName,
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--tmpfs",
        "/home/appuser",
        "--user",
        "1000:1000",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "--network",
        "host",
        "--memory",
        String(memoryLimit),
        "--cpus",
        cpuLimit,
        ...envArgs,
        tag,
      ],
      env,
    );
    url = `http://127.0.0.1:${port}`;
    await waitForReady(url);
    // REDIS_HOST is set, so a cache reported as anything but connected is a fault of the image.
    const ready = await fetch(`${url}/ready`);
    expect(await ready.json()).toEqual({ status: "ready", database: "connected", cache: "connected" });

    // PID 1 is node itself (no shell to swallow SIGTERM), unprivileged, with nothing to escalate to.
    const status = await docker(["exec", containerName, "cat", "/proc/1/status"]);
    const cmdline = await docker(["exec", containerName, "cat", "/proc/1/cmdline"]);
    expect(cmdline.split("\0").filter(Boolean)).toEqual(COMMAND);
    expect(status).toMatch(/^Uid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status).toMatch(/^Gid:\s+1000\s+1000\s+1000\s+1000$/m);
    expect(status).toMatch(/^CapEff:\s+0+$/m);
    expect(status).toMatch(/^NoNewPrivs:\s+1$/m);

    // Migrations from /app/migrations ran and the seed landed in this run's own database.
    const [{ n: seeded }] = await db.sql<[{ n: number }]>`SELECT count(*)::int AS n FROM tasks`;
    expect(seeded).toBe(defaults.seedTasks);

    // The CPU burn runs in a worker thread: it must work from the bundle on a read-only file system.
    const stress = await fetch(`${url}/stress?duration=1`, { signal: AbortSignal.timeout(15_000) });
    expect(stress.status).toBe(200);
    expect(await stress.json()).toMatchObject({ status: "completed", duration: 1 });

    const lines: string[] = [];
    const result = await runSmoke(url, (line) => lines.push(line));
    console.log(`smoke suite against the container at ${url}:\n  ${lines.join("\n  ")}`);
    expect(result.steps.filter((s) => !s.ok).map((s) => `${s.step}: ${s.detail}`)).toEqual([]);
    expect(result.steps.map((s) => s.step)).toEqual(
      expect.arrayContaining(["health", "ready", "create", "read", "list", "update", "delete", "stats", "metrics", "validation"]),
    );

    // The board and the API reference are served from the image's own files (the browser test,
    // tests/browser/board.test.ts, drives them; here: that they are there and whole).
    const board = await fetch(`${url}/`);
    expect(board.status).toBe(200);
    expect(board.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(board.headers.get("content-security-policy")).toMatch(/^default-src 'self';/);
    expect(await board.text()).toBe(await readFile(path.join(serviceDir, "public/index.html"), "utf8"));
    const swaggerUi = await fetch(`${url}/docs/swagger-ui-bundle.js`);
    expect(swaggerUi.status).toBe(200);
    expect(
      Buffer.from(await swaggerUi.arrayBuffer()).equals(
        await readFile(createRequire(path.join(serviceDir, "package.json")).resolve("swagger-ui-dist/swagger-ui-bundle.js")),
      ),
    ).toBe(true);

    expect(await serviceConnections(db.name), "the service holds no PostgreSQL connection").toBeGreaterThan(0);
    expect(await cacheKeys(), `no Redis keys under ${cachePrefix}:`).not.toEqual([]);
  });

  it("keeps its heap under the memory limit and survives 24 concurrent /stress with large list reads", async () => {
    expect(url, "the container did not start").toBeDefined();
    const base = url!;
    // The heap limit PID 1 got: a node started in the same container (same binary, same cgroup)
    // with PID 1's own options reports it. V8's default never goes below 256 MiB of old space
    // (259 MiB in all), above the limit itself.
    const options = (await docker(["exec", containerName, "cat", "/proc/1/cmdline"])).split("\0").filter(Boolean).slice(1, -1);
    const heapLimit = Number(await docker(["exec", containerName, "node", ...options, "-p", "v8.getHeapStatistics().heap_size_limit"]));
    console.log(`heap limit ${(heapLimit / MiB).toFixed(0)} MiB in a container limited to ${(memoryLimit / MiB).toFixed(0)} MiB`);
    expect(heapLimit).toBeGreaterThan(0.3 * memoryLimit);
    expect(heapLimit).toBeLessThan(0.6 * memoryLimit);

    let loading = true;
    const health = { ok: 0, failed: [] as string[] };
    const healthChecks = (async () => {
      while (loading) {
        try {
          // Generous: the burns and the reads share half a CPU with it.
          const res = await fetch(`${base}/health`, { signal: AbortSignal.timeout(5_000) });
          await res.arrayBuffer();
          if (res.status === 200) health.ok++;
          else health.failed.push(`HTTP ${res.status}`);
        } catch (error) {
          health.failed.push((error as Error).message);
        }
        await sleep(250);
      }
    })();
    // Failures are kept as answers, so a killed container shows as such rather than as the first
    // refused connection.
    const stressed = Promise.all(
      Array.from({ length: 24 }, async () => {
        try {
          const res = await fetch(`${base}/stress?duration=5`, { signal: AbortSignal.timeout(60_000) });
          await res.arrayBuffer();
          return { status: res.status, retryAfter: res.headers.get("retry-after") };
        } catch (error) {
          return { status: (error as Error).message, retryAfter: null };
        }
      }),
    );
    const reads: (number | string)[] = [];
    const readers = Array.from({ length: 4 }, async () => {
      while (loading) {
        try {
          const res = await fetch(`${base}/tasks?limit=1000`, { signal: AbortSignal.timeout(30_000) });
          const body = (await res.json()) as { count?: number };
          reads.push(res.status === 200 && body.count !== defaults.seedTasks ? `${body.count} tasks` : res.status);
        } catch (error) {
          reads.push((error as Error).message);
        }
      }
    });
    const stress = await stressed;
    loading = false;
    await Promise.all([healthChecks, ...readers]);

    // A container killed for memory (exit 137) fails here, before anything is read from it.
    expect(await containerState(containerName)).toMatchObject({ Running: true, OOMKilled: false });
    const peak = /^VmHWM:\s+(\d+) kB$/m.exec(await docker(["exec", containerName, "cat", "/proc/1/status"]));
    const statuses = stress.map((s) => s.status);
    console.log(
      `24 concurrent /stress: ${statuses.filter((s) => s === 200).length} burned, ${statuses.filter((s) => s === 429).length} refused; ` +
        `${reads.length} list reads at limit=1000; /health ${health.ok} answered; ` +
        `peak RSS ${(Number(peak?.[1]) / 1024).toFixed(0)} MiB of the ${(memoryLimit / MiB).toFixed(0)} MiB limit`,
    );
    expect(health.failed, "/health answers that failed during the load").toEqual([]);
    expect(health.ok).toBeGreaterThan(0);
    expect(reads.length).toBeGreaterThan(0);
    expect(
      reads.filter((s) => s !== 200),
      "list reads that failed",
    ).toEqual([]);
    expect(
      statuses.filter((s) => s !== 200 && s !== 429),
      "stress answers other than 200 and 429",
    ).toEqual([]);
    expect(statuses).toContain(200);
    expect(statuses).toContain(429);
    for (const { status, retryAfter } of stress) if (status === 429) expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(peak?.[1]) * 1024).toBeLessThan(memoryLimit);
  });

  it("stops on SIGTERM with exit code 0 well within the grace period, having closed its connections", async () => {
    expect(url, "the container did not start").toBeDefined();
    const started = performance.now();
    // 30 s is Kubernetes' default terminationGracePeriodSeconds; a server that ignored SIGTERM
    // would be killed then, with exit code 137.
    await docker(["stop", "--time", "30", containerName]);
    const seconds = (performance.now() - started) / 1000;
    console.log(`docker stop took ${seconds.toFixed(2)} s (the service's drain deadline: ${drainSeconds} s)`);

    const state = await containerState(containerName);
    expect(state).toMatchObject({ Running: false, ExitCode: 0, OOMKilled: false });
    // Nothing was in flight, so it must not have waited out its own drain deadline either.
    expect(seconds).toBeLessThan(drainSeconds!);

    const { stdout, stderr } = await logsOf(containerName);
    const lines = `${stdout}${stderr}`.split("\n").filter((line) => line.trim() !== "");
    const notJson = lines.filter((line) => {
      try {
        JSON.parse(line);
        return false;
      } catch {
        return true;
      }
    });
    expect(notJson, "log lines that are not JSON").toEqual([]);
    const entries = lines.map((line) => JSON.parse(line) as { level?: string; msg?: string; signal?: string });
    expect(entries.filter((e) => e.level === "error" || e.level === "fatal")).toEqual([]);
    expect(entries).toContainEqual(expect.objectContaining({ msg: "signal received", signal: "SIGTERM" }));
    expect(entries.at(-1)).toMatchObject({ msg: "shut down cleanly" });
    expect(
      lines.filter((line) => line.includes(password)),
      "log lines with the database password",
    ).toEqual([]);

    // PostgreSQL ends a backend shortly after its client goes: wait a little for the count to settle.
    let open = await serviceConnections(db!.name);
    for (let i = 0; open > 0 && i < 50; i++) {
      await sleep(100);
      open = await serviceConnections(db!.name);
    }
    expect(open, "service connections still open in PostgreSQL").toBe(0);
  });
});
