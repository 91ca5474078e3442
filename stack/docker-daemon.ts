// What the Docker provider will meet, checked at preview so that a build never fails half-way
// through `pulumi up`: the daemon answers and says its architecture, and the user's Docker client
// configuration names no credential helper that cannot run.
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest, type RequestOptions } from "node:https";
import { homedir } from "node:os";
import path from "node:path";

export interface DockerDaemon {
  host: string;
  /** Directory with ca.pem, cert.pem and key.pem, for a tcp:// daemon that requires client certificates. */
  certPath?: string;
}

export class DockerSetupError extends Error {
  override name = "DockerSetupError";
}

export const TLS_FILES = ["ca.pem", "cert.pem", "key.pem"] as const;

/** `GET /version` of the Docker Engine API: the fields this stack reads. */
export interface DaemonVersion {
  Os: string;
  Arch: string;
  /** The newest and the oldest Engine API version the daemon serves. */
  ApiVersion?: string;
  MinAPIVersion?: string;
}

export type DaemonProbe = (daemon: DockerDaemon) => Promise<DaemonVersion>;

function connection(daemon: DockerDaemon): { options: RequestOptions; secure: boolean } {
  const url = new URL(daemon.host);
  if (url.protocol === "unix:") return { options: { socketPath: url.pathname }, secure: false };
  // npipe:////./pipe/docker_engine names \\.\pipe\docker_engine.
  if (url.protocol === "npipe:")
    return { options: { socketPath: url.pathname.replace(/^\/+/, "\\\\").replaceAll("/", "\\") }, secure: false };
  if (url.protocol !== "tcp:")
    throw new DockerSetupError(`cannot reach a Docker daemon at ${daemon.host}: use a tcp://, unix:// or npipe:// address`);
  const options: RequestOptions = {
    host: url.hostname.replace(/^\[(.*)\]$/, "$1"),
    port: Number(url.port || (daemon.certPath ? 2376 : 2375)),
  };
  if (!daemon.certPath) return { options, secure: false };
  const [ca, cert, key] = TLS_FILES.map((file) => readFileSync(path.join(daemon.certPath!, file)));
  return { options: { ...options, ca, cert, key }, secure: true };
}

/** Asks the daemon for its version over the Engine API, as the provider's client will connect. */
export const probeDaemon: DaemonProbe = (daemon) =>
  new Promise((resolve, reject) => {
    const { options, secure } = connection(daemon);
    const request = (secure ? httpsRequest : httpRequest)({ ...options, path: "/version", method: "GET", timeout: 10_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => {
        try {
          if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
          resolve(JSON.parse(body) as DaemonVersion);
        } catch (error) {
          reject(new Error(`unexpected answer to GET /version: ${(error as Error).message}`));
        }
      });
    });
    request.on("timeout", () => request.destroy(new Error("no answer within 10 s")));
    request.on("error", reject);
    request.end();
  });

/** The daemon's answer to `GET /version`, or one line saying why there is none. */
export async function askDaemon(daemon: DockerDaemon, probe: DaemonProbe = probeDaemon): Promise<DaemonVersion> {
  try {
    return await probe(daemon);
  } catch (error) {
    throw new DockerSetupError(`cannot reach the Docker daemon at ${daemon.host}: ${(error as Error).message}`);
  }
}

/**
 * The platform to build for: the daemon's own. The provider would otherwise default to its plugin's
 * architecture (pulumi/pulumi-docker v5.1.0 provider/provider.go:212-214, `"linux/" +
 * runtime.GOARCH`), which is wrong for an x86_64 Pulumi under Rosetta driving an arm64 node.
 */
export function daemonPlatform(daemon: DockerDaemon, version: DaemonVersion): string {
  if (version.Os !== "linux" || !version.Arch) {
    throw new DockerSetupError(`the Docker daemon at ${daemon.host} runs ${version.Os}/${version.Arch}; the image needs a Linux daemon`);
  }
  return `linux/${version.Arch}`;
}

/** moby's api/types/versions compare (v28.5.2 compare.go): dotted numbers, a missing part is 0. */
function compareApiVersions(a: string, b: string): number {
  const [left, right] = [a.split("."), b.split(".")];
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const difference = Number(left[i] ?? 0) - Number(right[i] ?? 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

/**
 * DOCKER_API_VERSION in Pulumi's environment reaches the provider however it is configured: its
 * client applies client.FromEnv (pulumi/pulumi-docker provider/image.go:1035-1049), whose
 * WithVersionFromEnv pins that version, less a leading "v", and turns negotiation off (moby
 * v28.5.2 client/options.go:197-215 sets `manualOverride`, which client/client.go:284 and :337
 * check). A daemon that does not serve it refuses every call, mid-`pulumi up` ("client version
 * 1.41 is too old. Minimum supported API version is 1.44": Docker Engine 29 serves nothing
 * older). It is a common workaround for older tools, so preview checks it against the range the
 * daemon announces.
 */
export function checkApiVersion(daemon: DockerDaemon, version: DaemonVersion, requested: string | undefined): void {
  const wanted = requested?.replace(/^v/, "");
  if (!wanted) return;
  const refuse = (why: string) =>
    new DockerSetupError(
      `DOCKER_API_VERSION=${requested} is set in this shell and the Docker provider would speak only that version, ${why}: unset DOCKER_API_VERSION`,
    );
  if (!/^\d+(\.\d+)*$/.test(wanted)) throw refuse("which is not an API version");
  const { MinAPIVersion: oldest, ApiVersion: newest } = version;
  if ((oldest && compareApiVersions(wanted, oldest) < 0) || (newest && compareApiVersions(wanted, newest) > 0)) {
    throw refuse(`which the Docker daemon at ${daemon.host} does not serve (it serves ${oldest ?? "?"} to ${newest ?? "?"})`);
  }
}

function onPath(command: string, env: NodeJS.ProcessEnv): boolean {
  const extensions = process.platform === "win32" ? (env.PATHEXT ?? ".EXE").split(";") : [""];
  return (env.PATH ?? "").split(path.delimiter).some((dir) =>
    extensions.some((extension) => {
      try {
        accessSync(path.join(dir, command + extension), constants.X_OK);
        return true;
      } catch {
        return false;
      }
    }),
  );
}

/**
 * The provider reads every stored registry credential before any build, pushed or not
 * (pulumi/pulumi-docker v5.1.0 provider/image.go:170-179, `cfg.GetAllCredentials()`), which runs
 * `docker-credential-<credsStore> list`; a helper missing from PATH (left behind by an uninstalled
 * Docker Desktop, or in WSL) fails the build. Per-registry `credHelpers` only warn there.
 */
export function checkCredentialStore(env: NodeJS.ProcessEnv = process.env): void {
  // docker/cli config.Dir(): DOCKER_CONFIG, else ~/.docker.
  const file = path.join(env.DOCKER_CONFIG || path.join(homedir(), ".docker"), "config.json");
  if (!existsSync(file)) return;
  let store: unknown;
  try {
    store = (JSON.parse(readFileSync(file, "utf8")) as { credsStore?: unknown }).credsStore;
  } catch (error) {
    throw new DockerSetupError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (typeof store !== "string" || store === "") return;
  const helper = `docker-credential-${store}`;
  if (!onPath(helper, env)) {
    throw new DockerSetupError(
      `${file} sets "credsStore": "${store}" but ${helper} is not on PATH, and the Docker provider runs it before every build: ` +
        `install it, or remove the "credsStore" line`,
    );
  }
}
