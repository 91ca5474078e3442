// Where the stack deploys: the kube context, the Docker daemon that builds the image, and the
// node address for the URL. Minikube is asked only for what the config does not override.
import { readFileSync } from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { Settings } from "./config.ts";
import type { DockerDaemon } from "./image.ts";
import {
  discoverDockerEnv,
  discoverNodeAddress,
  MinikubeError,
  nodePortReachable,
  runMinikube,
  type DockerEnv,
  type MinikubeRunner,
} from "./minikube.ts";

export interface ClusterTarget {
  kubeContext: string;
  daemon: DockerDaemon;
  nodeAddress: string;
  /** False when only `minikube service --url` can reach a NodePort from this machine. */
  nodePortReachable: boolean;
}

/** The three files Docker's DOCKER_CERT_PATH convention names. */
export function readTlsMaterial(certPath: string, read = (file: string) => readFileSync(file, "utf8")) {
  const load = (file: string) => {
    try {
      return read(path.join(certPath, file));
    } catch (error) {
      throw new MinikubeError(`cannot read Docker TLS material ${path.join(certPath, file)}: ${(error as Error).message}`);
    }
  };
  return { ca: load("ca.pem"), cert: load("cert.pem"), key: load("key.pem") };
}

export function resolveCluster(settings: Settings, run: MinikubeRunner = runMinikube): ClusterTarget {
  try {
    const env: DockerEnv = settings.dockerHost
      ? { host: settings.dockerHost, tlsVerify: settings.dockerCertPath !== undefined, certPath: settings.dockerCertPath }
      : discoverDockerEnv(settings.minikubeProfile, run);
    return {
      kubeContext: settings.kubeContext,
      daemon: { host: env.host, tls: env.tlsVerify && env.certPath ? readTlsMaterial(env.certPath) : undefined },
      nodeAddress: settings.nodeAddress ?? discoverNodeAddress(settings.minikubeProfile, run),
      nodePortReachable: nodePortReachable(env.host, process.platform),
    };
  } catch (error) {
    // One line, no stack trace: Pulumi prints a RunError's message alone.
    if (error instanceof MinikubeError) throw new pulumi.RunError(error.message);
    throw error;
  }
}
