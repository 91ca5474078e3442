// Prometheus metrics under the seed's names, so its Grafana dashboard keeps working.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { CacheOutcome, CacheState } from "./cache.ts";

export interface MetricsSources {
  /** Whole-table task counts, read at scrape time. */
  taskCounts(): Promise<{ total: number; completed: number }>;
  /** This process's open PostgreSQL connections. */
  activeConnections(): Promise<number>;
  /** What /ready reports of the cache (its PING included). */
  cacheState(): Promise<CacheState>;
}

const cacheStates: CacheState[] = ["connected", "connecting", "unavailable", "disabled"];

// A scrape must be answered within Prometheus' scrape timeout (10 s in the stack) even while
// PostgreSQL does not answer, or the pod would look down and database_reachable would never be
// seen at 0: the database's gauges wait this long at most.
const DATABASE_WAIT_MS = 2000;

function bounded<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${DATABASE_WAIT_MS} ms`)), DATABASE_WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const requests = new Counter({
    name: "http_requests_total",
    help: "HTTP requests by method, route template and status",
    labelNames: ["method", "endpoint", "status"] as const,
    registers: [registry],
  });
  const duration = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request duration by method and route template",
    labelNames: ["method", "endpoint"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const cacheHits = new Counter({ name: "cache_hits_total", help: "Reads answered from Redis", registers: [registry] });
  const cacheMisses = new Counter({
    name: "cache_misses_total",
    help: "Reads that went to PostgreSQL although the cache is on",
    registers: [registry],
  });
  const cacheBypasses = new Counter({
    name: "cache_bypasses_total",
    help: "Reads that went around the cache to PostgreSQL because Redis was unreachable or too slow (X-Cache: BYPASS with the cache on)",
    registers: [registry],
  });
  // One series per state, the current one at 1: a state set, so an alert can match the state by name.
  const cacheState = new Gauge({
    name: "cache_state",
    help: "The cache as GET /ready reports it: 1 for the current state (connected, connecting, unavailable or disabled)",
    labelNames: ["state"] as const,
    registers: [registry],
  });
  const tasksTotal = new Gauge({ name: "tasks_total", help: "Tasks in the database", registers: [registry] });
  const tasksCompleted = new Gauge({ name: "tasks_completed", help: "Completed tasks", registers: [registry] });
  const tasksPending = new Gauge({ name: "tasks_pending", help: "Pending tasks", registers: [registry] });
  const databaseReachable = new Gauge({
    name: "database_reachable",
    help: "1 when PostgreSQL answered this scrape's queries (the task counts), 0 when it did not",
    registers: [registry],
  });
  const connections = new Gauge({
    name: "database_connections_active",
    help: "Open PostgreSQL connections of this process",
    registers: [registry],
  });

  return {
    registry,
    observeRequest(method: string, endpoint: string, status: number, seconds: number) {
      requests.inc({ method, endpoint, status: String(status) });
      duration.observe({ method, endpoint }, seconds);
    },
    observeCache(outcome: CacheOutcome) {
      (outcome === "HIT" ? cacheHits : outcome === "MISS" ? cacheMisses : cacheBypasses).inc();
    },
    /** Refreshes the gauges that need the database; a failure leaves their last values. */
    async render(sources: MetricsSources): Promise<string> {
      const [counts, open, cache] = await Promise.allSettled([
        bounded(sources.taskCounts()),
        bounded(sources.activeConnections()),
        sources.cacheState(),
      ]);
      if (counts.status === "fulfilled") {
        tasksTotal.set(counts.value.total);
        tasksCompleted.set(counts.value.completed);
        tasksPending.set(counts.value.total - counts.value.completed);
      }
      databaseReachable.set(counts.status === "fulfilled" ? 1 : 0);
      if (open.status === "fulfilled") connections.set(open.value);
      const state = cache.status === "fulfilled" ? cache.value : "unavailable";
      for (const each of cacheStates) cacheState.set({ state: each }, each === state ? 1 : 0);
      return registry.metrics();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
