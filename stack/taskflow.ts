// The whole TaskFlow deployment: namespace, passwords, image, database, cache and API, wired
// together. Pure of I/O beyond hashing the build context, so tests run it under mocks.
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Api } from "./api.ts";
import { apiEnvironment } from "./api-environment.ts";
import { Cache } from "./cache.ts";
import type { ClusterTarget } from "./cluster.ts";
import type { Settings } from "./config.ts";
import { Database } from "./database.ts";
import { ApiImage } from "./image.ts";
import { Monitoring } from "./monitoring.ts";
import { selectorLabels } from "./pod.ts";

/**
 * The API image's build: the repository's root as context, for the one lockfile of its npm
 * workspaces, and service/Dockerfile, whose Dockerfile.dockerignore lets only the service through.
 */
export const imageBuild = {
  // path.resolve drops the trailing slash fileURLToPath leaves on a directory.
  context: path.resolve(fileURLToPath(new URL("..", import.meta.url))),
  dockerfile: fileURLToPath(new URL("../service/Dockerfile", import.meta.url)),
};

export interface TaskflowOutputs {
  url: pulumi.Output<string>;
  namespace: pulumi.Output<string>;
  curl: pulumi.Output<string>;
  /** With taskflow:monitoring only. */
  grafanaUrl?: pulumi.Output<string>;
  prometheusUrl?: pulumi.Output<string>;
  grafanaAdminPassword?: pulumi.Output<string>;
}

/** Config value if set (already a secret), else a generated one; both stay secrets end to end. */
function password(name: string, configured: pulumi.Output<string> | undefined): pulumi.Output<string> {
  // Alphanumeric: 32 of them are ample, and the value pastes unquoted into redis-cli or psql when
  // debugging. A configured one may hold any character (redis.conf gets it quoted, see Cache).
  return configured ?? new random.RandomPassword(name, { length: 32, special: false }).result;
}

export function deployTaskflow(settings: Settings, cluster: ClusterTarget): TaskflowOutputs {
  // An explicit context: the default provider would deploy to whatever kubectl points at.
  const kube = new k8s.Provider("cluster", { context: cluster.kubeContext });
  const ns = new k8s.core.v1.Namespace(
    "taskflow",
    {
      metadata: {
        name: settings.namespace,
        // The API server itself then rejects any pod that breaks the restricted profile.
        labels: {
          "pod-security.kubernetes.io/enforce": "restricted",
          "pod-security.kubernetes.io/enforce-version": "latest",
          "pod-security.kubernetes.io/warn": "restricted",
          "pod-security.kubernetes.io/audit": "restricted",
        },
      },
    },
    { provider: kube },
  );
  const namespace = ns.metadata.name;
  const postgresPassword = password("postgres-password", settings.postgresPassword);
  const superuserPassword = password("postgres-superuser-password", undefined);
  const redisPassword = password("redis-password", settings.redisPassword);

  const image = new ApiImage("taskflow-api", {
    build: imageBuild,
    daemon: cluster.daemon,
    platform: cluster.platform,
    buildArgs: settings.nodeImage ? { NODE_IMAGE: settings.nodeImage } : {},
  });

  const apiSelector = selectorLabels("taskflow-api");
  const inCluster = { providers: [kube] };
  new Database(
    "postgres",
    {
      namespace,
      image: settings.postgresImage,
      storage: settings.postgresStorage,
      storageClass: settings.postgresStorageClass,
      databaseName: settings.databaseName,
      user: settings.databaseUser,
      password: postgresPassword,
      superuserPassword,
      resources: settings.postgresResources,
      clients: apiSelector,
    },
    inCluster,
  );
  new Cache(
    "redis",
    {
      namespace,
      image: settings.redisImage,
      password: redisPassword,
      maxMemory: settings.redisMaxMemory,
      maxMemoryPolicy: settings.redisMaxMemoryPolicy,
      resources: settings.redisResources,
      clients: apiSelector,
    },
    inCluster,
  );
  const api = new Api(
    "taskflow-api",
    {
      namespace,
      image: image.imageName,
      selector: apiSelector,
      environment: apiEnvironment(settings, {
        database: { host: Database.host, port: Database.port },
        cache: { host: Cache.host, port: Cache.port },
      }),
      secrets: { DATABASE_PASSWORD: postgresPassword, REDIS_PASSWORD: redisPassword },
      settings: { ...settings, resources: settings.apiResources },
    },
    inCluster,
  );

  const host = cluster.nodeAddress.includes(":") ? `[${cluster.nodeAddress}]` : cluster.nodeAddress;
  const url = pulumi.interpolate`http://${host}:${api.nodePort}`;
  if (!cluster.nodePortReachable) {
    pulumi.log.warn(
      `Minikube reaches its node through a port forward here (Docker Desktop, rootless Docker, WSL, macOS or Windows), so the ` +
        `url output does not answer: keep \`minikube service taskflow-api -n ${settings.namespace} -p ${settings.minikubeProfile} --url\` ` +
        `running and use the URL it prints`,
    );
  }
  const outputs: TaskflowOutputs = { url, namespace, curl: pulumi.interpolate`curl -s "${url}/tasks?limit=3"` };
  if (settings.monitoring) {
    const monitoring = new Monitoring(
      "monitoring",
      {
        namespace,
        namespaceName: settings.namespace,
        api: { selector: apiSelector, port: api.port },
        hpaMaxReplicas: settings.autoscaling ? settings.hpaMaxReplicas : undefined,
        prometheusImage: settings.prometheusImage,
        grafanaImage: settings.grafanaImage,
        grafanaPassword: password("grafana-admin-password", settings.grafanaPassword),
      },
      inCluster,
    );
    outputs.grafanaUrl = pulumi.interpolate`http://${host}:${monitoring.grafanaNodePort}`;
    outputs.prometheusUrl = pulumi.interpolate`http://${host}:${monitoring.prometheusNodePort}`;
    outputs.grafanaAdminPassword = monitoring.grafanaAdminPassword;
  }
  return outputs;
}
