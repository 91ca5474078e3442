// Servers under test, each a child process on the same Node as the bench: the built service as
// production starts it (node --enable-source-maps service/dist/main.mjs, configured by env only) and
// the bare ceiling.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { closeSync, openSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { freePort } from "../tests/helpers/process.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
// BENCH_SERVICE points at another build (e.g. a patched copy) to compare it on the same machine.
export const SERVICE_ENTRY = process.env.BENCH_SERVICE ?? fileURLToPath(new URL("../service/dist/main.mjs", import.meta.url));
const CEILING_ENTRY = fileURLToPath(new URL("./ceiling-server.mjs", import.meta.url));
const READY_TIMEOUT_MS = 120_000;

export interface RunningServer {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  /** From spawn to the first 200 on the readiness path. */
  readonly readyMs: number;
  /** Where its stdout and stderr went: kept for a look when something failed. */
  readonly logFile: string;
  exitCode(): number | null;
  /** SIGTERM, as Kubernetes stops a pod; SIGKILL if it has not exited after the service's own grace. */
  stop(): Promise<void>;
}

interface SpawnOptions {
  name: string;
  entry: string;
  env: Record<string, string>;
  readyPath: string;
  logFile: string;
  stdin?: Buffer;
}

async function spawnServer({ name, entry, env, readyPath, logFile, stdin }: SpawnOptions): Promise<RunningServer> {
  const port = await freePort();
  // Output goes to a file, as a container runtime takes it off stdout: the server pays for its
  // logging, the bench process (which is also the load generator) does not read it.
  const out = openSync(logFile, "w");
  const started = performance.now();
  let proc: ChildProcess;
  try {
    proc = spawn(process.execPath, ["--enable-source-maps", entry], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? "", ...env, PORT: String(port) },
      stdio: [stdin ? "pipe" : "ignore", out, out],
    });
  } finally {
    closeSync(out);
  }
  proc.stdin?.end(stdin);
  const exited = once(proc, "exit");
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 25_000);
    await exited;
    clearTimeout(killer);
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (proc.exitCode !== null) throw new Error(`${name} exited with code ${proc.exitCode} before it was ready; see ${logFile}`);
    const status = await fetch(url + readyPath).then(
      (res) => {
        res.body?.cancel();
        return res.status;
      },
      () => 0,
    );
    if (status === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} was not ready within ${READY_TIMEOUT_MS} ms; see ${logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }

  return { name, pid: proc.pid!, url, readyMs: performance.now() - started, logFile, exitCode: () => proc.exitCode, stop };
}

export const startService = (name: string, env: Record<string, string>, logFile: string) =>
  spawnServer({ name, entry: SERVICE_ENTRY, env, readyPath: "/ready", logFile });

export const startCeiling = (body: Buffer, contentType: string, logFile: string) =>
  spawnServer({ name: "ceiling", entry: CEILING_ENTRY, env: { CONTENT_TYPE: contentType }, readyPath: "/", logFile, stdin: body });

/** Resident set size of a process in MiB, from /proc (Linux), or 0 once it has gone. */
export function rssMiB(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Number(kb) / 1024 : 0;
  } catch {
    return 0;
  }
}
