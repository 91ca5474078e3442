// The whole TaskFlow deployment: namespace, passwords, image, database, cache and API, wired
// together. Pure of I/O beyond hashing the build context, so tests run it under mocks.
import { fileURLToPath } from "node:url";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { Api, apiPort } from "./api.ts";
import { Cache } from "./cache.ts";
import type { ClusterTarget } from "./cluster.ts";
import type { Settings } from "./config.ts";
import { Database } from "./database.ts";
import { ApiImage } from "./image.ts";
import { selectorLabels } from "./pod.ts";

export const serviceDirectory = fileURLToPath(new URL("../service", import.meta.url));

export interface TaskflowOutputs {
  url: pulumi.Output<string>;
  namespace: pulumi.Output<string>;
  curl: pulumi.Output<string>;
}

/** Config value if set (already a secret), else a generated one; both stay secrets end to end. */
function password(name: string, configured: pulumi.Output<string> | undefined): pulumi.Output<string> {
  // No symbols: the value travels through env vars, a redis.conf line and connection options.
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
  const redisPassword = password("redis-password", settings.redisPassword);

  const image = new ApiImage("taskflow-api", {
    context: serviceDirectory,
    daemon: cluster.daemon,
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
      environment: {
        PORT: String(apiPort),
        DATABASE_HOST: Database.host,
        DATABASE_PORT: String(Database.port),
        DATABASE_NAME: settings.databaseName,
        DATABASE_USER: settings.databaseUser,
        DATABASE_POOL_MAX: String(settings.databasePoolMax),
        REDIS_HOST: Cache.host,
        REDIS_PORT: String(Cache.port),
        CACHE_TTL: String(settings.cacheTtlSeconds),
        CACHE_PREFIX: undefined,
        LOG_LEVEL: settings.logLevel,
        SEED_TASKS: String(settings.seedTasks),
        STRESS_ENDPOINT: String(settings.stressEndpoint),
        SHUTDOWN_GRACE_SECONDS: String(settings.shutdownGraceSeconds),
      },
      secrets: { DATABASE_PASSWORD: postgresPassword, REDIS_PASSWORD: redisPassword },
      settings: { ...settings, resources: settings.apiResources },
    },
    inCluster,
  );

  const host = cluster.nodeAddress.includes(":") ? `[${cluster.nodeAddress}]` : cluster.nodeAddress;
  const url = pulumi.interpolate`http://${host}:${api.nodePort}`;
  if (!cluster.nodePortReachable) {
    pulumi.log.warn(
      `The docker driver on ${process.platform} does not route NodePorts to this machine; use ` +
        `\`minikube service taskflow-api -n ${settings.namespace} -p ${settings.minikubeProfile} --url\` instead of the url output`,
    );
  }
  return { url, namespace, curl: pulumi.interpolate`curl -s "${url}/tasks?limit=3"` };
}
