// Where the stack deploys: the kube context, the Docker daemon that builds the image (and the
// platform it builds for), and the node address for the URL. Minikube is asked only for what the
// config does not override.
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./config.ts";
import {
  askDaemon,
  checkApiVersion,
  checkCredentialStore,
  type DaemonProbe,
  type DockerDaemon,
  DockerSetupError,
  daemonPlatform,
  probeDaemon,
  TLS_FILES,
} from "./docker-daemon.ts";
import {
  discoverDockerEnv,
  discoverNodeAddress,
  discoverProfile,
  MinikubeError,
  type MinikubeRunner,
  nodePortReachable,
  runMinikube,
} from "./minikube.ts";

export interface ClusterTarget {
  kubeContext: string;
  daemon: DockerDaemon;
  /** `linux/<arch>` of the daemon, so the image runs on the node whatever Pulumi's own architecture. */
  platform: string;
  nodeAddress: string;
  /** False when only `minikube service --url` can reach a NodePort from this machine. */
  nodePortReachable: boolean;
}

const projectDirectory = fileURLToPath(new URL("..", import.meta.url));

/**
 * The daemon with its certificates as a directory: given `host` and `certPath`, the provider reads
 * neither DOCKER_HOST nor DOCKER_CERT_PATH nor DOCKER_TLS_VERIFY from Pulumi's environment, where
 * `eval $(minikube docker-env)` or another Docker setup may have left them
 * (pulumi/pulumi-docker v5.1.0 provider/provider.go:686-727 fills only unset keys from the
 * environment; provider/image.go:1035-1049 then applies certPath's files and `host` after
 * client.FromEnv). With PEM contents (caMaterial...) instead, DOCKER_CERT_PATH from the environment
 * becomes certPath too and the build fails ("when using raw certificates, certPath must not be
 * specified", image.go:1018), and DOCKER_HOST overrides the host (FromEnv after WithHost, image.go:1028-1033).
 */
function daemonFrom(host: string, certPath: string | undefined, env: NodeJS.ProcessEnv): DockerDaemon {
  if (certPath === undefined) {
    // Without TLS the provider has no certPath of ours to prefer, so it would take these from the
    // environment and speak TLS to a daemon that does not.
    const leftover = ["DOCKER_CERT_PATH", "DOCKER_TLS_VERIFY"].filter((name) => env[name]);
    if (leftover.length > 0) {
      throw new DockerSetupError(
        `${leftover.join(" and ")} ${leftover.length > 1 ? "are" : "is"} set in this shell (e.g. by \`eval $(minikube docker-env)\`) ` +
          `and the Docker provider would use ${leftover.length > 1 ? "them" : "it"} for ${host}: run \`eval $(minikube docker-env --unset)\` or unset ${leftover.join(" ")}`,
      );
    }
    return { host };
  }
  const absolute = path.resolve(projectDirectory, certPath);
  const missing = TLS_FILES.filter((file) => !existsSync(path.join(absolute, file)));
  if (missing.length > 0) throw new DockerSetupError(`Docker TLS directory ${absolute} lacks ${missing.join(", ")}`);
  return { host, certPath: absolute };
}

export async function resolveCluster(
  settings: Settings,
  run: MinikubeRunner = runMinikube,
  probe: DaemonProbe = probeDaemon,
  env: NodeJS.ProcessEnv = process.env,
): Promise<ClusterTarget> {
  try {
    let daemon: DockerDaemon;
    let nodeAddress: string;
    let reachable = true;
    if (settings.dockerHost) {
      daemon = daemonFrom(settings.dockerHost, settings.dockerCertPath, env);
      nodeAddress = settings.nodeAddress ?? discoverNodeAddress(settings.minikubeProfile, run);
    } else {
      discoverProfile(settings.minikubeProfile, run);
      const docker = discoverDockerEnv(settings.minikubeProfile, run);
      daemon = daemonFrom(docker.host, docker.tlsVerify ? docker.certPath : undefined, env);
      const nodeIp = discoverNodeAddress(settings.minikubeProfile, run);
      nodeAddress = settings.nodeAddress ?? nodeIp;
      reachable = settings.nodeAddress !== undefined || nodePortReachable(docker.host, nodeIp);
    }
    checkCredentialStore(env);
    const version = await askDaemon(daemon, probe);
    const platform = daemonPlatform(daemon, version);
    checkApiVersion(daemon, version, env.DOCKER_API_VERSION);
    return {
      kubeContext: settings.kubeContext,
      daemon,
      platform,
      nodeAddress,
      nodePortReachable: reachable,
    };
  } catch (error) {
    // One line, no stack trace: Pulumi prints a RunError's message alone.
    if (error instanceof MinikubeError || error instanceof DockerSetupError) throw new pulumi.RunError(error.message);
    throw error;
  }
}
