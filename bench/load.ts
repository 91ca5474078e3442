// One load run: a short warm-up (JIT, connection pools, cache filling) whose figures are dropped,
// then the measured run, with the server's RSS sampled throughout and every X-Cache header counted.

import type { EventEmitter } from "node:events";
import autocannon, { type Options, type Request, type Result } from "autocannon";
import { type RunningServer, rssMiB } from "./server.ts";

export const LOAD = {
  connections: 50,
  pipelining: 1,
  warmupSeconds: 1,
  seconds: Number(process.env.BENCH_SECONDS ?? 5),
};

export interface Scenario {
  endpoint: string;
  method?: "GET" | "POST";
  path: string;
  body?: string;
  /** A fresh path per request, e.g. a random id. */
  nextPath?: () => string;
  /**
   * The X-Cache every measured answer should carry. BYPASS is a must (the server is not configured
   * as the run says otherwise): any other answer fails the run. HIT is what a warmed cache gives;
   * the service falls back to PostgreSQL (BYPASS) when a Redis command times out under load, which
   * is reported as a note, with the hit share, and does not fail the run.
   */
  expectCache?: "HIT" | "BYPASS";
}

export interface Measurement {
  endpoint: string;
  server: string;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  xCache: Record<string, number>;
  peakRssMiB: number;
  /**
   * The ceiling measured right before this run, the one its share is taken of: the machine's speed
   * drifts (other tenants of the host), so a run is compared with its neighbour in time.
   */
  ceilingRequestsPerSecond?: number;
  /** Non-2xx answers, connection errors, timeouts, a server that died: empty when the run is sound. */
  problems: string[];
  /** Worth knowing, but the run stands: answers that were not the HIT expected. */
  notes: string[];
}

function options(server: RunningServer, scenario: Scenario, seconds: number): Options {
  const { method = "GET", path, body, nextPath } = scenario;
  return {
    url: server.url,
    connections: LOAD.connections,
    pipelining: LOAD.pipelining,
    duration: seconds,
    requests: [
      {
        method,
        path,
        body,
        headers: body === undefined ? {} : { "content-type": "application/json" },
        // autocannon calls setupRequest whenever the key is present, so it is left out when unused.
        ...(nextPath && { setupRequest: (request: Request) => ({ ...request, path: nextPath() }) }),
      },
    ],
  };
}

function problemsOf(result: Result, phase: string): string[] {
  const problems: string[] = [];
  const statuses = Object.entries(result.statusCodeStats).filter(([code]) => !code.startsWith("2"));
  if (result.non2xx > 0) problems.push(`${phase}: ${result.non2xx} non-2xx (${statuses.map(([c, s]) => `${c}×${s.count}`).join(", ")})`);
  if (result.errors > 0) problems.push(`${phase}: ${result.errors} connection errors (${result.timeouts} timeouts)`);
  return problems;
}

export async function measure(server: RunningServer, scenario: Scenario): Promise<Measurement> {
  const warmup = await autocannon(options(server, scenario, LOAD.warmupSeconds));

  const xCache: Record<string, number> = {};
  // Raw headers come as [name, value, name, value, ...]; counting them here costs the loader
  // next to nothing, so it runs for every scenario alike.
  const countXCache = (client: EventEmitter) =>
    client.on("headers", ({ headers }: { headers: string[] }) => {
      let outcome = "none";
      for (let i = 0; i < headers.length; i += 2) {
        if (headers[i]!.toLowerCase() === "x-cache") outcome = headers[i + 1]!;
      }
      xCache[outcome] = (xCache[outcome] ?? 0) + 1;
    });

  let peakRssMiB = rssMiB(server.pid);
  const sampler = setInterval(() => (peakRssMiB = Math.max(peakRssMiB, rssMiB(server.pid))), 50);
  let result: Result;
  try {
    result = await autocannon({ ...options(server, scenario, LOAD.seconds), setupClient: countXCache });
  } finally {
    clearInterval(sampler);
  }

  const problems = [...problemsOf(warmup, "warm-up"), ...problemsOf(result, "measured")];
  if (result.requests.total === 0) problems.push("measured: no request completed");
  const notes: string[] = [];
  const unexpected = Object.entries(xCache).filter(([outcome]) => scenario.expectCache && outcome !== scenario.expectCache);
  if (unexpected.length > 0) {
    const text = `expected X-Cache ${scenario.expectCache} on every answer, got ${unexpected.map(([o, n]) => `${o}×${n}`).join(", ")} of ${result.requests.total}`;
    (scenario.expectCache === "BYPASS" ? problems : notes).push(text);
  }
  if (server.exitCode() !== null) problems.push(`${server.name} exited with code ${server.exitCode()}; see ${server.logFile}`);

  return {
    endpoint: scenario.endpoint,
    server: server.name,
    requestsPerSecond: result.requests.total / result.duration,
    p50Ms: result.latency.p50,
    p99Ms: result.latency.p99,
    requests: result.requests.total,
    xCache,
    peakRssMiB,
    problems,
    notes,
  };
}
