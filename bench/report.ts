// Turns the measurements into the printed table and the verdicts on the aims.
import type { Measurement } from "./load.ts";

export interface ServerStart {
  server: string;
  readyMs: number;
  /** Right after /ready answered 200, before any load. */
  idleRssMiB: number;
}

export interface SizeReport {
  tasks: number;
  starts: ServerStart[];
  /** One ceiling run right before each cache-hit run. */
  ceilings: Measurement[];
  runs: Measurement[];
}

export interface Verdict {
  aim: string;
  figures: string;
  pass: boolean;
}

export const CACHE_HIT_MIN_SHARE = 0.5;
/** A run counts as a cache-hit read when at least this share of its answers said X-Cache: HIT. */
export const HIT_RUN_MIN_SHARE = 0.95;
export const MISS_PATH_MAX_FACTOR = 2;
export const FAIL_FAST_MAX_ADDED_MS = 50;

const fixed = (n: number, digits = 0) => n.toFixed(digits);

/** The ceiling run of the median speed: the table's ceiling row, and the base of runs without their own. */
export const medianCeiling = (ceilings: Measurement[]): Measurement =>
  [...ceilings].sort((a, b) => a.requestsPerSecond - b.requestsPerSecond)[Math.floor((ceilings.length - 1) / 2)]!;
const shareOfCeiling = (m: Measurement, ceilings: Measurement[]) =>
  m.requestsPerSecond / (m.ceilingRequestsPerSecond ?? medianCeiling(ceilings).requestsPerSecond);
const count = (n: number) => n.toLocaleString("en-US");
const hitShare = (m: Measurement) => (m.xCache.HIT ?? 0) / m.requests;
const percent = (share: number) => `${fixed(share * 100)}%`;
const xCacheText = (counts: Record<string, number>) => {
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([outcome, n]) => (outcome === "none" ? "-" : `${outcome} ${percent(n / total)}`))
    .join(" ");
};

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const line = (row: string[]) => row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

export function formatTable(sizes: SizeReport[]): string {
  const header = ["tasks", "endpoint", "server", "req/s", "p50 ms", "p99 ms", "of ceiling", "peak RSS MiB", "X-Cache"];
  const row = (tasks: number, m: Measurement, share: number) => [
    count(tasks),
    m.endpoint,
    m.server,
    fixed(m.requestsPerSecond),
    fixed(m.p50Ms, 1),
    fixed(m.p99Ms, 1),
    percent(share),
    fixed(m.peakRssMiB),
    xCacheText(m.xCache),
  ];
  const rows = sizes.flatMap(({ tasks, ceilings, runs }) => {
    const ceiling = medianCeiling(ceilings);
    const speeds = ceilings.map((c) => c.requestsPerSecond);
    const range = `${fixed(Math.min(...speeds))}–${fixed(Math.max(...speeds))}`;
    return [
      row(tasks, { ...ceiling, server: `${ceiling.server}, median of ${ceilings.length}: ${range}` }, 1),
      ...runs.map((m) => row(tasks, m, shareOfCeiling(m, ceilings))),
    ];
  });
  return table([header, ...rows]);
}

export function formatStarts(sizes: SizeReport[]): string {
  const rows = sizes.flatMap(({ tasks, starts }) =>
    starts.map((s, i) => [
      count(tasks),
      s.server,
      i === 0 ? `migrate + seed ${tasks}` : "table already seeded",
      fixed(s.readyMs),
      fixed(s.idleRssMiB),
    ]),
  );
  return table([["tasks", "server", "start", "spawn → /ready 200 ms", "idle RSS MiB"], ...rows]);
}

const find = (size: SizeReport | undefined, endpoint: string, server: string) =>
  size?.runs.find((m) => m.endpoint === endpoint && m.server === server);

/**
 * The aims. Cache-hit reads are the runs that answered almost only X-Cache: HIT; the miss
 * path is judged on both p50 latency and req/s; fail-fast compares GET /tasks/:id with Redis
 * unreachable against the cache turned off, on the same data.
 */
export function verdicts(sizes: SizeReport[], servers: { cacheOff: string; unreachable: string }): Verdict[] {
  const out: Verdict[] = [];
  for (const { tasks, ceilings, runs } of sizes) {
    for (const m of runs.filter((r) => hitShare(r) >= HIT_RUN_MIN_SHARE)) {
      const share = shareOfCeiling(m, ceilings);
      out.push({
        aim: `cache-hit read ≥ ${percent(CACHE_HIT_MIN_SHARE)} of ceiling`,
        figures: `${count(tasks)} tasks, ${m.endpoint} [${m.server}, ${percent(hitShare(m))} HIT]: ${fixed(m.requestsPerSecond)} / ${fixed(m.requestsPerSecond / share)} req/s (the ceiling run before it) = ${percent(share)}`,
        pass: share >= CACHE_HIT_MIN_SHARE,
      });
    }
  }

  const small = sizes.find((s) => s.tasks === 1_000);
  const large = sizes.find((s) => s.tasks === 100_000);
  const missSmall = find(small, "GET /tasks?priority=high", servers.cacheOff);
  const missLarge = find(large, "GET /tasks?priority=high", servers.cacheOff);
  if (missSmall && missLarge) {
    const latency = missLarge.p50Ms / missSmall.p50Ms;
    const throughput = missSmall.requestsPerSecond / missLarge.requestsPerSecond;
    out.push(
      {
        aim: `miss path at 100 000 within ${MISS_PATH_MAX_FACTOR}× of 1 000 (p50 latency)`,
        figures: `p50 ${fixed(missLarge.p50Ms, 1)} ms vs ${fixed(missSmall.p50Ms, 1)} ms = ${fixed(latency, 2)}×`,
        pass: latency <= MISS_PATH_MAX_FACTOR,
      },
      {
        aim: `miss path at 100 000 within ${MISS_PATH_MAX_FACTOR}× of 1 000 (req/s)`,
        figures: `${fixed(missLarge.requestsPerSecond)} vs ${fixed(missSmall.requestsPerSecond)} req/s = ${fixed(throughput, 2)}× fewer`,
        pass: throughput <= MISS_PATH_MAX_FACTOR,
      },
    );
  }

  for (const size of sizes) {
    const off = find(size, "GET /tasks/:id", servers.cacheOff);
    const down = find(size, "GET /tasks/:id", servers.unreachable);
    if (!off || !down) continue;
    const addedP50 = down.p50Ms - off.p50Ms;
    const addedP99 = down.p99Ms - off.p99Ms;
    out.push({
      aim: `Redis unreachable adds < ${FAIL_FAST_MAX_ADDED_MS} ms per request`,
      figures: `${count(size.tasks)} tasks, GET /tasks/:id vs cache off: p50 ${fixed(addedP50, 1)} ms, p99 ${fixed(addedP99, 1)} ms added (${fixed(down.requestsPerSecond)} vs ${fixed(off.requestsPerSecond)} req/s)`,
      pass: Math.max(addedP50, addedP99) < FAIL_FAST_MAX_ADDED_MS,
    });
  }
  return out;
}

export const formatVerdicts = (list: Verdict[]) => list.map((v) => `${v.pass ? "PASS" : "MISS"}  ${v.aim}: ${v.figures}`).join("\n");
