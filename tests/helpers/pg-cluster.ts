// A throwaway PostgreSQL cluster of a test's own, which it can stop, restart, freeze and thaw
// without touching the machine's shared server. Run as the `postgres` user when the tests run as
// root (initdb refuses root).
import { execFile } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { freePort } from "./process.ts";

const exec = promisify(execFile);
const CLUSTER_USER = "postgres";

function binDir(): string {
  const root = "/usr/lib/postgresql";
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(path.join(root, v, "bin", "initdb"))) : [];
  if (versions.length === 0) throw new Error(`no PostgreSQL server binaries under ${root}/*/bin: install the postgresql package`);
  return path.join(root, versions.sort((a, b) => Number(b) - Number(a))[0]!, "bin");
}

export class PgCluster {
  private constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly bin: string,
  ) {}

  /** Creates a cluster (trust authentication, user postgres) on a free port and starts it. */
  static async create(): Promise<PgCluster> {
    const bin = binDir();
    const dir = mkdtempSync(path.join(tmpdir(), "taskflow-pg-"));
    const cluster = new PgCluster(await freePort(), dir, bin);
    if (process.getuid?.() === 0) {
      const { uid, gid } = await userIds(CLUSTER_USER);
      chownSync(dir, uid, gid);
    }
    await cluster.run("initdb", ["-D", cluster.data, "-U", "postgres", "--auth=trust", "--no-sync", "--no-instructions"]);
    await cluster.start();
    return cluster;
  }

  private get data() {
    return path.join(this.dir, "data");
  }

  private run(tool: string, args: string[]) {
    const command = path.join(this.bin, tool);
    const [file, argv] = process.getuid?.() === 0 ? ["runuser", ["-u", CLUSTER_USER, "--", command, ...args]] : [command, args];
    return exec(file, argv, { cwd: this.dir }).catch((error: { stderr?: string; message: string }) => {
      throw new Error(`${tool} failed: ${error.stderr || error.message}`);
    });
  }

  /** Starts it and waits until it accepts connections. */
  async start(): Promise<void> {
    const options = `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir} -c fsync=off`;
    await this.run("pg_ctl", ["start", "-w", "-D", this.data, "-l", path.join(this.dir, "log"), "-o", options]);
  }

  /** A fast shutdown: sessions are terminated, then connections are refused. */
  async stop(): Promise<void> {
    await this.run("pg_ctl", ["stop", "-w", "-m", "fast", "-D", this.data]);
  }

  /** Every process of the cluster stopped (SIGSTOP): connections stay open and nothing answers. */
  freeze(): void {
    for (const pid of this.pids()) process.kill(pid, "SIGSTOP");
  }

  thaw(): void {
    for (const pid of this.pids()) process.kill(pid, "SIGCONT");
  }

  async destroy(): Promise<void> {
    try {
      this.thaw();
    } catch {
      // Not running.
    }
    await this.run("pg_ctl", ["stop", "-w", "-m", "immediate", "-D", this.data]).catch(() => {});
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** The postmaster and its children. */
  private pids(): number[] {
    const postmaster = Number(readFileSync(path.join(this.data, "postmaster.pid"), "utf8").split("\n")[0]);
    const children = readdirSync("/proc")
      .filter((entry) => /^\d+$/.test(entry))
      .filter((pid) => {
        try {
          // The parent pid is the 2nd field after the ")" that ends the command name.
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster;
        } catch {
          return false;
        }
      })
      .map(Number);
    return [postmaster, ...children];
  }
}

async function userIds(user: string): Promise<{ uid: number; gid: number }> {
  try {
    const [uid, gid] = await Promise.all([exec("id", ["-u", user]), exec("id", ["-g", user])]);
    return { uid: Number(uid.stdout), gid: Number(gid.stdout) };
  } catch {
    throw new Error(`the tests run as root, and a throwaway PostgreSQL needs a user "${user}" to run as`);
  }
}
