// PostgreSQL stopped and restarted, then frozen and thawed, under a steady load: every request is
// answered within the deadline, 503 while PostgreSQL is away, 2xx again within about a second of
// its return, and /health and /metrics answer throughout. The figures it prints are those of
// docs/faults.md.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../service/src/config.ts";
import { PgCluster } from "../helpers/pg-cluster.ts";
import { startTestService, type TestService } from "../helpers/service.ts";

const REQUESTS_PER_SECOND = 20;
const DEADLINE_MS = loadConfig({ DATABASE_HOST: "x", DATABASE_PASSWORD: "x" }).DATABASE_TIMEOUT_MS;
// The bounds below leave room for a loaded machine (2 cores shared by several test runs: the
// figures of docs/faults.md are well inside them); the old code missed each by seconds: requests
// answered 10–28 s late, some 15 s after PostgreSQL was back, /metrics after 30 s.
const SLACK_MS = 2000;
// Requests sent this long after PostgreSQL is back must all succeed (measured: 0.3–1.1 s).
const RECOVERY_MS = 2500;
// /health and /metrics (/metrics waits at most 2 s for the database: metrics.ts).
const PROBE_MS = 4000;

interface Answer {
  path: string;
  sentAt: number;
  ms: number;
  status: number | string;
}

/** An open-loop load (one request every 1/REQUESTS_PER_SECOND s, whatever the answers) plus probes of /health and /metrics every 250 ms. */
function load(api: TestService) {
  const answers: Answer[] = [];
  const probes: Answer[] = [];
  const pending = new Set<Promise<void>>();
  const requests: [string, RequestInit | undefined][] = [
    ["/tasks/1", undefined],
    ["/tasks?limit=5", undefined],
    ["/tasks", { method: "POST", headers: { "content-type": "application/json" }, body: '{"title":"under load"}' }],
    ["/stats", undefined],
  ];
  const send = (into: Answer[], path: string, init?: RequestInit) => {
    const sentAt = performance.now();
    const done = api
      .request(path, { ...init, signal: AbortSignal.timeout(60_000) })
      .then(
        async (res) => {
          await res.arrayBuffer();
          return res.status;
        },
        (error: Error) => error.message,
      )
      .then((status) => void into.push({ path, sentAt, ms: performance.now() - sentAt, status }));
    pending.add(done);
    void done.finally(() => pending.delete(done));
    return done;
  };
  let n = 0;
  const timer = setInterval(() => {
    const [path, init] = requests[n++ % requests.length]!;
    void send(answers, path, init);
  }, 1000 / REQUESTS_PER_SECOND);
  let probing = true;
  const probing_ = (async () => {
    while (probing) {
      await send(probes, "/health");
      await send(probes, "/metrics");
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    answers,
    probes,
    async stop() {
      clearInterval(timer);
      probing = false;
      await probing_;
      await Promise.all(pending);
    },
  };
}

function figures(name: string, answers: Answer[], probes: Answer[], down: number, restoring: number, up: number) {
  const byStatus = (list: Answer[]) =>
    list.reduce<Record<string, number>>((acc, a) => {
      acc[a.status] = (acc[a.status] ?? 0) + 1;
      return acc;
    }, {});
  const max = (list: Answer[]) => Math.round(Math.max(0, ...list.map((a) => a.ms)));
  const during = answers.filter((a) => a.sentAt >= down && a.sentAt + a.ms <= restoring);
  const firstOk = answers.filter((a) => a.sentAt >= up && typeof a.status === "number" && a.status < 300).at(0);
  const summary = {
    scenario: name,
    requests: answers.length,
    by_status: byStatus(answers),
    max_ms: max(answers),
    during_outage: { requests: during.length, by_status: byStatus(during), max_ms: max(during) },
    first_2xx_after_return_ms: firstOk ? Math.round(firstOk.sentAt + firstOk.ms - up) : null,
    health_max_ms: max(probes.filter((p) => p.path === "/health")),
    metrics_max_ms: max(probes.filter((p) => p.path === "/metrics")),
  };
  console.log(JSON.stringify(summary));
  return { during, summary };
}

let cluster: PgCluster;
beforeAll(async () => {
  cluster = await PgCluster.create();
}, 120_000);
afterAll(async () => {
  await cluster?.destroy();
});

async function underLoad(name: string, fault: () => Promise<void> | void, restore: () => Promise<void> | void, outageMs: number) {
  const api = await startTestService({
    DATABASE_HOST: "127.0.0.1",
    DATABASE_PORT: String(cluster.port),
    DATABASE_NAME: "postgres",
    DATABASE_USER: "postgres",
    DATABASE_PASSWORD: "trust-authentication-ignores-it",
  });
  try {
    expect((await api.json("/tasks", { title: "first" })).status).toBe(201);
    const traffic = load(api);
    await new Promise((r) => setTimeout(r, 2000));
    await fault();
    const down = performance.now();
    await new Promise((r) => setTimeout(r, outageMs));
    const restoring = performance.now();
    await restore();
    const up = performance.now();
    await new Promise((r) => setTimeout(r, 3000));
    await traffic.stop();
    const { during, summary } = figures(name, traffic.answers, traffic.probes, down, restoring, up);

    expect(traffic.answers.filter((a) => typeof a.status !== "number")).toEqual([]);
    expect(traffic.answers.filter((a) => a.ms > DEADLINE_MS + SLACK_MS)).toEqual([]);
    expect(during.length).toBeGreaterThan(((outageMs / 1000) * REQUESTS_PER_SECOND) / 2);
    expect(during.filter((a) => a.status !== 503)).toEqual([]);
    expect(traffic.answers.filter((a) => a.status !== 503 && !((a.status as number) < 300))).toEqual([]);
    expect(traffic.answers.filter((a) => a.sentAt > up + RECOVERY_MS && !((a.status as number) < 300))).toEqual([]);
    expect(summary.health_max_ms).toBeLessThan(PROBE_MS);
    expect(summary.metrics_max_ms).toBeLessThan(PROBE_MS);
  } finally {
    await api.stop();
  }
}

describe("PostgreSQL away under a steady load", () => {
  it("stopped, then restarted: 503 at once while it is down, 2xx within about a second of its return", { timeout: 60_000 }, async () => {
    await underLoad(
      "stopped and restarted",
      () => cluster.stop(),
      () => cluster.start(),
      8000,
    );
  });

  it("frozen (SIGSTOP), then thawed: 503 within the deadline while it is silent, 2xx again at once", { timeout: 60_000 }, async () => {
    await underLoad(
      "frozen and thawed",
      () => cluster.freeze(),
      () => cluster.thaw(),
      15_000,
    );
  });
});
