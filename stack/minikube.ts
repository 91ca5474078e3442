// Finds Minikube's Docker daemon and node address. The parsers are pure so recorded CLI output can
// test them; `runMinikube` is the only code that runs the CLI.
import { spawnSync } from "node:child_process";

export interface DockerEnv {
  host: string;
  tlsVerify: boolean;
  certPath?: string;
  profile?: string;
}

export interface MinikubeRun {
  status: number | null;
  stdout: string;
  stderr: string;
  error?: NodeJS.ErrnoException;
}

export type MinikubeRunner = (args: string[]) => MinikubeRun;

export class MinikubeError extends Error {
  override name = "MinikubeError";
}

/**
 * Reads `minikube docker-env --shell bash` output (`export KEY="value"` lines, see minikube's
 * pkg/minikube/shell/shell.go); plain `KEY=value` lines (`--shell none`) are accepted too.
 */
export function parseDockerEnv(stdout: string): DockerEnv {
  const vars = new Map<string, string>();
  for (const line of stdout.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=(?:"(.*)"|(.*))\s*$/.exec(line);
    if (match) vars.set(match[1]!, match[2] ?? match[3]!.trim());
  }
  const host = vars.get("DOCKER_HOST");
  if (!host) throw new MinikubeError("`minikube docker-env` printed no DOCKER_HOST");
  const certPath = vars.get("DOCKER_CERT_PATH") || undefined;
  // Docker's own rule: any non-empty DOCKER_TLS_VERIFY turns verification on.
  const tlsVerify = (vars.get("DOCKER_TLS_VERIFY") ?? "") !== "";
  if (tlsVerify && !certPath) throw new MinikubeError("`minikube docker-env` asks for TLS but printed no DOCKER_CERT_PATH");
  return { host, tlsVerify, certPath, profile: vars.get("MINIKUBE_ACTIVE_DOCKERD") || undefined };
}

export function parseMinikubeIp(stdout: string): string {
  const address = stdout.trim().split(/\s+/).at(-1) ?? "";
  const ipv4 = /^(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)$/;
  if (!ipv4.test(address) && !/^[0-9a-f]*:[0-9a-f:]+$/i.test(address)) {
    throw new MinikubeError(`\`minikube ip\` printed no IP address: ${JSON.stringify(stdout.trim())}`);
  }
  return address;
}

/**
 * Whether a NodePort on the node's IP answers from this machine. Minikube gives docker-env the
 * node's own IP unless it reaches the node through a port forward (pkg/minikube/driver/endpoint.go
 * ControlPlaneEndpoint and cmd/minikube/cmd/docker-env.go:349-367 at v1.38.1): the docker and
 * podman drivers on macOS, Windows and WSL, with Docker Desktop or rootless Docker on Linux, or a
 * remote Docker host (driver.go NeedsPortForward, lines 239-259), and QEMU's builtin network.
 * There only a tunnel (`minikube service --url`) reaches a NodePort.
 */
export function nodePortReachable(dockerHost: string, nodeAddress: string): boolean {
  const hostname = URL.canParse(dockerHost) ? new URL(dockerHost).hostname.replace(/^\[(.*)\]$/, "$1") : "";
  return hostname === nodeAddress;
}

export interface MinikubeProfile {
  driver: string;
  runtime: string;
}

/** Reads `minikube profile list -o json --light` (cmd/minikube/cmd/config/profile_list.go printProfilesJSON). */
export function parseProfile(stdout: string, profile: string): MinikubeProfile | undefined {
  let body: { valid?: { Name?: string; Config?: { Driver?: string; KubernetesConfig?: { ContainerRuntime?: string } } }[] };
  try {
    body = JSON.parse(stdout.slice(stdout.indexOf("{")));
  } catch {
    throw new MinikubeError(`\`minikube profile list -o json\` printed no JSON: ${JSON.stringify(stdout.trim().slice(0, 200))}`);
  }
  const found = body.valid?.find((p) => p.Name === profile);
  if (!found) return undefined;
  // An empty runtime is what minikube starts with by default: docker until v1.38 at least
  // (cmd/minikube/cmd/start.go defaultRuntime); v1.38 warns that v1.39 makes it containerd (#22508).
  return { driver: found.Config?.Driver ?? "", runtime: found.Config?.KubernetesConfig?.ContainerRuntime || "docker" };
}

/**
 * The line that says what went wrong, without Minikube's emoji and indentation; warnings printed
 * before it (image versions, proxies) are passed over.
 */
function reason(run: MinikubeRun): string {
  const lines = `${run.stderr}\n${run.stdout}`
    .split(/\r?\n/)
    // MINIKUBE_IN_STYLE=false marks errors "X " instead of an emoji (pkg/minikube/style LowError).
    .map((line) =>
      line
        .replace(/^[^\p{L}\p{N}"'`]+/u, "")
        .replace(/^X\s+/, "")
        .trim(),
    )
    .filter(Boolean);
  const telling = /not running|not found|does not exist|Exiting due to|only compatible|only supports|error/i;
  return lines.find((line) => telling.test(line)) ?? lines[0] ?? `exit code ${run.status}`;
}

/** Runs one minikube command and returns its stdout, or throws a one-line MinikubeError. */
function minikube(profile: string, args: string[], run: MinikubeRunner): string {
  const command = `minikube -p ${profile} ${args.join(" ")}`;
  const result = run(["-p", profile, ...args]);
  if (result.error?.code === "ENOENT") {
    throw new MinikubeError(
      "minikube is not installed or not on PATH: install it (https://minikube.sigs.k8s.io/docs/start/) " +
        "or set taskflow:dockerHost and taskflow:nodeAddress to use another cluster",
    );
  }
  if (result.error) throw new MinikubeError(`\`${command}\` could not run: ${result.error.message}`);
  if (result.status !== 0) {
    const why = reason(result);
    // Older minikube: only compatible with the "docker" runtime; v1.38: only supports the docker and
    // containerd runtimes / only supports the containerd runtime with the docker driver
    // (cmd/minikube/cmd/docker-env.go:675-684, dockerEnvSupported).
    if (/only compatible with the "docker" runtime|docker-env command only supports/.test(why)) {
      throw new MinikubeError(dockerRuntimeNeeded(profile, why));
    }
    if (/not running|not found|does not exist|state=Stopped|no such/i.test(why)) {
      throw new MinikubeError(
        `Minikube profile "${profile}" is not running (${why}); start it with \`minikube start -p ${profile} --container-runtime=docker\``,
      );
    }
    throw new MinikubeError(`\`${command}\` failed: ${why}`);
  }
  return result.stdout;
}

function dockerRuntimeNeeded(profile: string, why: string): string {
  return (
    `Minikube profile "${profile}" cannot lend its Docker daemon (${why}); recreate it with ` +
    `\`minikube delete -p ${profile} && minikube start -p ${profile} --container-runtime=docker\`, or set taskflow:dockerHost`
  );
}

export const runMinikube: MinikubeRunner = (args) => {
  const result = spawnSync("minikube", args, {
    encoding: "utf8",
    timeout: 60_000,
    windowsHide: true,
    // Plain text instead of emoji, so error lines stay readable in Pulumi's output.
    env: { ...process.env, MINIKUBE_IN_STYLE: "false" },
  });
  return { status: result.status, stdout: result.stdout ?? "", stderr: result.stderr ?? "", error: result.error };
};

/**
 * The profile's driver and runtime, asked first: on the containerd runtime with the docker driver,
 * `docker-env` would start nerdctld in the node and an ssh-agent on this machine before printing an
 * ssh:// host (cmd/minikube/cmd/docker-env.go:318-342), which this stack cannot build with.
 */
export function discoverProfile(profile: string, run: MinikubeRunner = runMinikube): MinikubeProfile {
  // --light skips each profile's status check (profile_list.go updateProfilesStatus).
  const found = parseProfile(minikube(profile, ["profile", "list", "-o", "json", "--light"], run), profile);
  if (!found) {
    throw new MinikubeError(
      `Minikube profile "${profile}" does not exist; start it with \`minikube start -p ${profile} --container-runtime=docker\``,
    );
  }
  if (found.runtime !== "docker") {
    throw new MinikubeError(dockerRuntimeNeeded(profile, `it runs the ${found.runtime} container runtime`));
  }
  return found;
}

export function discoverDockerEnv(profile: string, run: MinikubeRunner = runMinikube): DockerEnv {
  // bash syntax whatever the user's shell (cmd and PowerShell print other formats).
  const env = parseDockerEnv(minikube(profile, ["docker-env", "--shell", "bash"], run));
  // Anything but Minikube's TLS endpoint (e.g. the ssh:// one it gives on containerd).
  if (!env.host.startsWith("tcp://")) throw new MinikubeError(dockerRuntimeNeeded(profile, `DOCKER_HOST=${env.host}`));
  if (env.profile && env.profile !== profile) {
    throw new MinikubeError(`\`minikube -p ${profile} docker-env\` describes profile "${env.profile}"`);
  }
  return env;
}

export function discoverNodeAddress(profile: string, run: MinikubeRunner = runMinikube): string {
  return parseMinikubeIp(minikube(profile, ["ip"], run));
}
