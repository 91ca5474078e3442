// A real Prometheus (Debian's 2.42) with the configuration and rules the stack renders, scraping
// two running TaskFlow services (two "pods") under a little load: every dashboard panel's query
// must parse and return numbers, and the alerts must fire in the situations they are for that can
// be made here: PostgreSQL cut (503s: the PostgreSQL and 5xx alerts), Redis down, the API down, and
// the autoscaler at its maximum (rendered with a maximum of 2, the services running). The p99
// latency alert is left to promtool: how slow a loaded 2-core machine answers is not a situation
// the test can make or rule out.
//
// Rewritten for this test only, and nothing else: the scrape and evaluation intervals (a 3 s
// scrape, whose timeout may not exceed it, and a 1 s evaluation, so it takes seconds, not minutes),
// the discovery (the two local services as static targets: the stack's dns_sd_configs asks the
// nameservers in /etc/resolv.conf directly, never /etc/hosts, so no local name can stand in for
// the headless Service), and each rule's `for`, dropped so a rule fires on its first true
// evaluation. How long each waits is promtool's part (rules.test.ts).
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { dump, load } from "js-yaml";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { alertRules, dashboardJson, prometheusConfig, scrapeJob } from "../../stack/monitoring.ts";
import { createTestDatabase, PG_HOST, PG_PORT, type TestDatabase } from "../helpers/postgres.ts";
import { PrometheusServer, type Sample, TASKFLOW_ALERTS } from "../helpers/prometheus.ts";
import { TcpProxy } from "../helpers/proxy.ts";
import { RedisServer } from "../helpers/redis.ts";
import { startTestService, type TestService } from "../helpers/service.ts";
import { type LoadCounts, runLoad } from "../load/load.ts";

/** Grafana's variables, as a dashboard with a 1 s scrape interval would fill them in. */
const grafanaVariables: Record<string, string> = { $__rate_interval: "30s" };
/** The alerts of the situations the test makes later: none may fire while all is well. */
const faultAlerts = ["TaskflowApiDown", "TaskflowCacheUnavailable", "TaskflowHigh5xxRatio", "TaskflowPostgresUnavailable"];

/** Every query of every panel in the dashboard file, so a panel added later is checked too. */
function panelQueries(dashboard: { panels: Array<{ title: string; panels?: unknown[]; targets?: Array<{ expr?: string }> }> }) {
  const panels = dashboard.panels.flatMap((panel) => [panel, ...((panel.panels ?? []) as typeof dashboard.panels)]);
  return panels.flatMap((panel) =>
    (panel.targets ?? []).map((target, i) => {
      if (!target.expr) throw new Error(`panel "${panel.title}" target ${i} has no PromQL expr`);
      const expr = target.expr.replace(/\$\{?(\w+)\}?/g, (variable, name: string) => {
        const value = grafanaVariables[`$${name}`];
        if (value === undefined) throw new Error(`panel "${panel.title}" uses ${variable}, which this test does not fill in`);
        return value;
      });
      return { panel: panel.title, expr };
    }),
  );
}

const directory = mkdtempSync(path.join(tmpdir(), "taskflow-prometheus-test-"));
let db: TestDatabase;
let redis: RedisServer;
let postgresProxy: TcpProxy;
const services: TestService[] = [];
let prometheus: PrometheusServer;
let loadStop = new AbortController();
let load_: Promise<LoadCounts[]> | undefined;
let kubelet: ReturnType<typeof setInterval> | undefined;

function startLoad(): void {
  loadStop = new AbortController();
  // One /stress loop in all: the CPU of a shared 2-core machine is not ours to take.
  load_ = Promise.all(
    services.map((service, i) =>
      runLoad({ url: service.url, seconds: 240, stressers: i === 0 ? 1 : 0, readers: 2, stressSeconds: 1, signal: loadStop.signal }),
    ),
  );
}

async function stopLoad(): Promise<void> {
  loadStop.abort();
  await load_;
}

beforeAll(async () => {
  db = await createTestDatabase();
  redis = await new RedisServer().start();
  postgresProxy = await new TcpProxy(PG_PORT, PG_HOST).open();
  const env = {
    ...db.env,
    DATABASE_PORT: String(postgresProxy.port),
    REDIS_HOST: "127.0.0.1",
    REDIS_PORT: String(redis.port),
    CACHE_PREFIX: `taskflow-monitoring-${randomBytes(4).toString("hex")}`,
    SEED_TASKS: "200",
    STRESS_ENDPOINT: "true",
    SHUTDOWN_GRACE_SECONDS: "1",
    LOG_LEVEL: "error",
  };
  for (let i = 0; i < 2; i++) services.push(await startTestService(env));

  const config = load(prometheusConfig({ namespace: "taskflow", apiPort: 5000 })) as any;
  config.global = { ...config.global, scrape_interval: "3s", scrape_timeout: "3s", evaluation_interval: "1s" };
  const [job] = config.scrape_configs;
  expect(job.dns_sd_configs).toHaveLength(1);
  delete job.dns_sd_configs;
  job.static_configs = [{ targets: services.map((s) => `127.0.0.1:${s.port}`) }];
  writeFileSync(path.join(directory, "prometheus.yml"), dump(config));
  const rules = load(alertRules({ hpaMaxReplicas: services.length })) as { groups: Array<{ rules: Array<{ for?: string }> }> };
  for (const group of rules.groups) for (const rule of group.rules) delete rule.for;
  writeFileSync(path.join(directory, "alerts.yml"), dump(rules));
  prometheus = await new PrometheusServer(path.join(directory, "prometheus.yml")).start();

  // What the kubelet's readiness probe does in the cluster, which the "ready" panel counts.
  kubelet = setInterval(() => {
    for (const service of services)
      service.request("/ready").then(
        (r) => r.body?.cancel(),
        () => {},
      );
  }, 1000);
  startLoad();
}, 120_000);

afterAll(async () => {
  clearInterval(kubelet);
  await stopLoad();
  await Promise.all(services.map((s) => s.stop().catch(() => {})));
  await prometheus?.stop();
  await redis?.stop();
  await postgresProxy?.cut();
  await db?.drop();
  rmSync(directory, { recursive: true, force: true });
}, 60_000);

const finite = (samples: Sample[]) => samples.length > 0 && samples.every((s) => Number.isFinite(Number(s.value[1])));

async function firing(): Promise<Array<{ alertname: string; instance?: string }>> {
  return (await prometheus.alerts())
    .filter((a) => a.state === "firing")
    .map((a) => ({ alertname: a.labels.alertname!, ...(a.labels.instance ? { instance: a.labels.instance } : {}) }));
}

async function waitForAlert(alertname: string, perInstance: boolean) {
  const instances = services.map((s) => `127.0.0.1:${s.port}`);
  // vi.waitFor rather than expect.poll: the error it rethrows names what was firing at the last try.
  return vi.waitFor(
    async () => {
      const now = await firing();
      const alerts = now.filter((a) => a.alertname === alertname);
      const done = perInstance ? instances.every((i) => alerts.some((a) => a.instance === i)) : alerts.length > 0;
      if (!done) throw new Error(`${alertname} not firing${perInstance ? " for both instances" : ""} (firing now: ${JSON.stringify(now)})`);
      return alerts;
    },
    { timeout: 60_000, interval: 100 },
  );
}

describe("a real Prometheus with the stack's configuration and rules", () => {
  it("scrapes each service instance as a target of its own", async () => {
    const up = await vi.waitFor(
      async () => {
        const samples = await prometheus.query(`up{job="${scrapeJob}"} == 1`);
        expect(samples, "instances up").toHaveLength(services.length);
        return samples;
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(up.map((s) => s.metric.instance).sort()).toEqual(services.map((s) => `127.0.0.1:${s.port}`).sort());
  }, 60_000);

  it("loads every rule, and none fails to evaluate", async () => {
    const rules = await vi.waitFor(
      async () => {
        const loaded = await prometheus.rules();
        expect(
          loaded.map((r) => r.health),
          "the rules' health",
        ).toEqual(Array(6).fill("ok"));
        return loaded;
      },
      { timeout: 30_000, interval: 100 },
    );
    expect(rules.map((r) => r.name).sort()).toEqual(TASKFLOW_ALERTS);
  }, 60_000);

  it("answers every dashboard panel's query with numbers", async () => {
    const queries = panelQueries(JSON.parse(dashboardJson()));
    expect(queries.length).toBeGreaterThanOrEqual(15);
    const empty = new Map(queries.map((q) => [q.expr, q.panel]));
    // A query that does not parse fails query() at once, naming the query.
    await vi.waitFor(
      async () => {
        for (const [expr] of empty) if (finite(await prometheus.query(expr))) empty.delete(expr);
        if (empty.size > 0) throw new Error(`still empty: ${JSON.stringify([...empty].map(([expr, panel]) => `${panel}: ${expr}`))}`);
      },
      { timeout: 90_000, interval: 100 },
    );
    // The ready panel counts both instances' probes.
    const ready = queries.find((q) => q.expr.includes('endpoint="/ready"'))!.expr;
    await expect.poll(async () => Number((await prometheus.query(ready))[0]?.value[1]), { timeout: 30_000 }).toBe(services.length);
  }, 120_000);

  it("fires the autoscaler's alert while both instances run (the maximum is 2), and no fault's alert", async () => {
    await waitForAlert("TaskflowAutoscalerAtMaximum", false);
    expect((await firing()).filter((a) => faultAlerts.includes(a.alertname))).toEqual([]);
  }, 90_000);

  it("fires TaskflowPostgresUnavailable for each instance and TaskflowHigh5xxRatio when PostgreSQL is cut", async () => {
    // A fresh Prometheus, so the 5xx ratio's 5-minute window holds no traffic from before the cut.
    await stopLoad();
    await prometheus.stop();
    prometheus = await new PrometheusServer(path.join(directory, "prometheus.yml")).start();
    await postgresProxy.cut();
    startLoad();
    await waitForAlert("TaskflowPostgresUnavailable", true);
    await waitForAlert("TaskflowHigh5xxRatio", false);
    const reachable = await prometheus.query(`database_reachable{job="${scrapeJob}"}`);
    expect(reachable.map((s) => s.value[1])).toEqual(["0", "0"]);
    // The pods still answer their scrapes: /metrics does not wait for PostgreSQL.
    expect((await firing()).map((a) => a.alertname)).not.toContain("TaskflowApiDown");
  }, 120_000);

  it("fires TaskflowCacheUnavailable for each instance when Redis goes down, and counts the bypassed reads", async () => {
    const bypassed = async () => Number((await prometheus.query(`sum(cache_bypasses_total{job="${scrapeJob}"})`))[0]?.value[1] ?? 0);
    const before = await bypassed();
    expect((await firing()).map((a) => a.alertname)).not.toContain("TaskflowCacheUnavailable");
    await redis.stop();
    await waitForAlert("TaskflowCacheUnavailable", true);
    await expect.poll(bypassed, { timeout: 30_000, message: "BYPASS counted" }).toBeGreaterThan(before);
  }, 90_000);

  it("fires TaskflowApiDown when no instance answers", async () => {
    await stopLoad();
    expect((await firing()).map((a) => a.alertname)).not.toContain("TaskflowApiDown");
    for (const service of services.splice(0)) await service.stop();
    await waitForAlert("TaskflowApiDown", false);
  }, 90_000);
});
