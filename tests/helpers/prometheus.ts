// Debian's Prometheus (apt-get install prometheus; .ci/run installs it): promtool, and a real
// Prometheus server on a free loopback port with its own storage, stopped by the test.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./process.ts";

export const PROMETHEUS = "/usr/bin/prometheus";
export const PROMTOOL = "/usr/bin/promtool";

/** Every alert stack/monitoring/alerts.yml defines (with autoscaling on), sorted. */
export const TASKFLOW_ALERTS = [
  "TaskflowApiDown",
  "TaskflowAutoscalerAtMaximum",
  "TaskflowCacheUnavailable",
  "TaskflowHigh5xxRatio",
  "TaskflowHighLatencyP99",
  "TaskflowPostgresUnavailable",
];

function requireBinary(binary: string): void {
  if (!existsSync(binary)) {
    throw new Error(`${binary} is missing: install Debian's Prometheus (apt-get install -y prometheus), as .ci/run does`);
  }
}

/** Runs promtool; throws with its output unless it exits 0. */
export function promtool(args: string[], cwd?: string): string {
  requireBinary(PROMTOOL);
  const result = spawnSync(PROMTOOL, args, { cwd, encoding: "utf8", timeout: 60_000 });
  const output = `${result.stdout}${result.stderr}`;
  if (result.status !== 0) throw new Error(`promtool ${args.join(" ")} exited ${result.status ?? result.signal}:\n${output}`);
  return output;
}

export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface ActiveAlert {
  labels: Record<string, string>;
  state: "pending" | "firing";
}

export class PrometheusServer {
  private proc: ChildProcess | undefined;
  private output = "";
  private readonly storage = mkdtempSync(path.join(tmpdir(), "taskflow-prometheus-"));
  port = 0;

  constructor(private readonly configFile: string) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    requireBinary(PROMETHEUS);
    this.port = await freePort();
    const proc = spawn(
      PROMETHEUS,
      [`--config.file=${this.configFile}`, `--storage.tsdb.path=${this.storage}`, `--web.listen-address=127.0.0.1:${this.port}`],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.proc = proc;
    proc.stdout!.on("data", (d: Buffer) => (this.output += d));
    proc.stderr!.on("data", (d: Buffer) => (this.output += d));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`prometheus exited with code ${proc.exitCode} before it was ready:\n${this.output}`);
      const ready = await fetch(`${this.url}/-/ready`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return this;
      if (Date.now() > deadline) throw new Error(`prometheus was not ready within 30 s:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** An instant query; throws with Prometheus' error (e.g. a parse error) unless it succeeds. */
  async query(expr: string): Promise<Sample[]> {
    const response = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: { resultType: string; result: Sample[] | [number, string] };
    };
    if (body.status !== "success") throw new Error(`query ${expr} failed: ${body.error}`);
    // A scalar answers [time, value]: one value, as one sample without labels.
    if (body.data!.resultType === "scalar") return [{ metric: {}, value: body.data!.result as [number, string] }];
    return body.data!.result as Sample[];
  }

  async alerts(): Promise<ActiveAlert[]> {
    const body = (await (await fetch(`${this.url}/api/v1/alerts`)).json()) as { data: { alerts: ActiveAlert[] } };
    return body.data.alerts;
  }

  /** Names of the rule groups' rules Prometheus loaded, and any error it reports for one. */
  async rules(): Promise<Array<{ name: string; health: string; lastError?: string }>> {
    const body = (await (await fetch(`${this.url}/api/v1/rules`)).json()) as {
      data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string }> }> };
    };
    return body.data.groups.flatMap((group) => group.rules);
  }

  logs(): string {
    return this.output;
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    this.proc = undefined;
    if (proc && proc.exitCode === null) {
      proc.kill("SIGTERM");
      const exited = once(proc, "exit");
      const timer = setTimeout(() => proc.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.storage, { recursive: true, force: true });
  }
}
