// Every stack setting, read in this one place. `defaults` mirrors Pulumi.dev.yaml (a test holds
// them equal), so a stack with no config at all behaves like the dev stack.
import * as pulumi from "@pulumi/pulumi";

export interface Resources {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
}

export const defaults = {
  namespace: "taskflow",
  minikubeProfile: "minikube",
  apiReplicas: 2,
  autoscaling: true,
  hpaMinReplicas: 2,
  hpaMaxReplicas: 10,
  hpaCpuUtilization: 50,
  cacheTtlSeconds: 300,
  seedTasks: 1000,
  stressEndpoint: true,
  logLevel: "info",
  shutdownGraceSeconds: 20,
  preStopSeconds: 5,
  databaseName: "taskflow_db",
  databaseUser: "taskflow",
  databasePoolMax: 5,
  postgresImage: "postgres:17-bookworm",
  postgresStorage: "2Gi",
  redisImage: "redis:7-bookworm",
  redisMaxMemory: "128mb",
  redisMaxMemoryPolicy: "allkeys-lru",
  apiResources: { requests: { cpu: "100m", memory: "128Mi" }, limits: { cpu: "500m", memory: "256Mi" } } as Resources,
  postgresResources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } } as Resources,
  redisResources: { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "200m", memory: "192Mi" } } as Resources,
  monitoring: false,
  prometheusImage: "prom/prometheus:v2.53.4",
  grafanaImage: "grafana/grafana:12.4.0",
};

export type Settings = typeof defaults & {
  /** kubeconfig context to deploy to; Minikube names it after the profile. */
  kubeContext: string;
  /** Docker daemon to build in, instead of asking Minikube (e.g. unix:///var/run/docker.sock). */
  dockerHost?: string;
  /** Directory holding ca.pem, cert.pem and key.pem for a TLS dockerHost. */
  dockerCertPath?: string;
  /** Address the NodePort URL uses, instead of `minikube ip`. */
  nodeAddress?: string;
  /** Base image build argument (NODE_IMAGE in service/Dockerfile). */
  nodeImage?: string;
  /** Class for the PostgreSQL volume; the cluster's default class when unset. */
  postgresStorageClass?: string;
  /** Set with `pulumi config set --secret`; generated when unset. */
  postgresPassword?: pulumi.Output<string>;
  redisPassword?: pulumi.Output<string>;
  /** Grafana's admin password (with taskflow:monitoring). */
  grafanaPassword?: pulumi.Output<string>;
};

function fail(key: string, problem: string): never {
  throw new pulumi.RunError(`invalid configuration: taskflow:${key} ${problem}`);
}

function integer(config: pulumi.Config, key: keyof typeof defaults, min: number, max: number): number {
  const value = config.getNumber(key) ?? (defaults[key] as number);
  if (!Number.isInteger(value) || value < min || value > max) fail(key, `must be an integer from ${min} to ${max}`);
  return value;
}

// Kubernetes' quantity grammar (apimachinery resource.Quantity), checked here to fail at preview.
const quantity = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+|[numkMGTPE]|[KMGTPE]i)?$/;

function resources(config: pulumi.Config, key: "apiResources" | "postgresResources" | "redisResources"): Resources {
  const value = config.getObject<Resources>(key) ?? defaults[key];
  for (const kind of ["requests", "limits"] as const) {
    for (const resource of ["cpu", "memory"] as const) {
      if (!quantity.test(String(value?.[kind]?.[resource]))) fail(key, `needs ${kind}.${resource} as a Kubernetes quantity`);
    }
  }
  return value;
}

export function loadSettings(config = new pulumi.Config()): Settings {
  const text = (key: keyof typeof defaults) => config.get(key) ?? (defaults[key] as string);
  const flag = (key: keyof typeof defaults) => config.getBoolean(key) ?? (defaults[key] as boolean);
  const minikubeProfile = text("minikubeProfile");
  const settings: Settings = {
    namespace: text("namespace"),
    minikubeProfile,
    kubeContext: config.get("kubeContext") ?? minikubeProfile,
    dockerHost: config.get("dockerHost"),
    dockerCertPath: config.get("dockerCertPath"),
    nodeAddress: config.get("nodeAddress"),
    nodeImage: config.get("nodeImage"),
    apiReplicas: integer(config, "apiReplicas", 1, 50),
    autoscaling: flag("autoscaling"),
    hpaMinReplicas: integer(config, "hpaMinReplicas", 1, 50),
    hpaMaxReplicas: integer(config, "hpaMaxReplicas", 1, 50),
    hpaCpuUtilization: integer(config, "hpaCpuUtilization", 1, 100),
    cacheTtlSeconds: integer(config, "cacheTtlSeconds", 1, 86_400),
    seedTasks: integer(config, "seedTasks", 0, 1_000_000),
    stressEndpoint: flag("stressEndpoint"),
    logLevel: text("logLevel"),
    shutdownGraceSeconds: integer(config, "shutdownGraceSeconds", 1, 300),
    preStopSeconds: integer(config, "preStopSeconds", 0, 60),
    databaseName: text("databaseName"),
    databaseUser: text("databaseUser"),
    databasePoolMax: integer(config, "databasePoolMax", 1, 100),
    postgresImage: text("postgresImage"),
    postgresStorage: text("postgresStorage"),
    postgresStorageClass: config.get("postgresStorageClass"),
    redisImage: text("redisImage"),
    redisMaxMemory: text("redisMaxMemory"),
    redisMaxMemoryPolicy: text("redisMaxMemoryPolicy"),
    apiResources: resources(config, "apiResources"),
    postgresResources: resources(config, "postgresResources"),
    redisResources: resources(config, "redisResources"),
    monitoring: flag("monitoring"),
    prometheusImage: text("prometheusImage"),
    grafanaImage: text("grafanaImage"),
    postgresPassword: config.getSecret("postgresPassword"),
    redisPassword: config.getSecret("redisPassword"),
    grafanaPassword: config.getSecret("grafanaPassword"),
  };
  if (!quantity.test(settings.postgresStorage)) fail("postgresStorage", "must be a Kubernetes quantity such as 2Gi");
  if (settings.hpaMinReplicas > settings.hpaMaxReplicas) fail("hpaMinReplicas", "must not exceed taskflow:hpaMaxReplicas");
  if (settings.dockerCertPath && !settings.dockerHost) fail("dockerCertPath", "needs taskflow:dockerHost");
  // The official image's superuser; the API's role must be another, without superuser.
  if (settings.databaseUser === "postgres") fail("databaseUser", "must not be postgres, PostgreSQL's own superuser");
  // PostgreSQL's default max_connections is 100; every API pod opens up to databasePoolMax, and
  // one more on which its cache listens for invalidations (service/src/invalidations.ts).
  const maxPods = settings.autoscaling ? settings.hpaMaxReplicas : settings.apiReplicas;
  if (maxPods * (settings.databasePoolMax + 1) > 90) {
    fail(
      "databasePoolMax",
      `plus the cache's listening connection, times the most API pods (${maxPods}), must stay within PostgreSQL's 100 connections (90 leaves headroom)`,
    );
  }
  return settings;
}
