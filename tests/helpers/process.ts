// Runs the service's entry points as real child processes, as a user or a container would.
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";

export const ROOT = new URL("../../", import.meta.url).pathname;

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as { port: number };
  server.close();
  await once(server, "close");
  return port;
}

export interface Child {
  proc: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts a command in its own process group (so `npm run` and its children can be stopped together). */
export function run(command: string, args: string[], env: Record<string, string>): Child {
  const proc = spawn(command, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH!, HOME: process.env.HOME ?? "/tmp", ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let out = "";
  let err = "";
  proc.stdout!.on("data", (d: Buffer) => (out += d));
  proc.stderr!.on("data", (d: Buffer) => (err += d));
  const exited = once(proc, "exit").then(([code, signal]) => ({ code, signal }) as { code: number | null; signal: NodeJS.Signals | null });
  return { proc, stdout: () => out, stderr: () => err, exited };
}

/** The production entry, from source. */
export const runMain = (env: Record<string, string>) => run(process.execPath, ["--import", "tsx", "service/src/main.ts"], env);

/** The development entry, from source, without `npm run dev`'s watcher (which never exits). */
export const runDev = (env: Record<string, string>) => run(process.execPath, ["--import", "tsx", "service/src/dev.ts"], env);

/** A port held on every interface (by this process), as a second server would hold it. */
export async function takenPort(): Promise<{ port: number; release(): Promise<void> }> {
  const server = createServer().listen(0);
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export function killGroup(child: Child, signal: NodeJS.Signals = "SIGTERM") {
  try {
    process.kill(-child.proc.pid!, signal);
  } catch {
    // The group has already exited.
  }
}

/**
 * One request: the answer when its status is `status`, else an error saying what came instead.
 * Tests poll it with vi.waitFor, which rethrows the last error when time runs out.
 */
export async function answers(url: string, status = 200): Promise<Response> {
  const res = await fetch(url);
  if (res.status !== status) throw new Error(`${url} answered HTTP ${res.status}, not ${status}`);
  return res;
}
