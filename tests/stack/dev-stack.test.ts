// The dev stack exactly as `pulumi up --stack dev` builds it: Pulumi.dev.yaml's values, and a
// cluster found by parsing recorded docker-driver output of `minikube docker-env` and `minikube ip`.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { resolveCluster } from "../../stack/cluster.ts";
import { defaults, loadSettings } from "../../stack/config.ts";
import type { MinikubeRunner } from "../../stack/minikube.ts";
import { deployTaskflow } from "../../stack/taskflow.ts";
import { devStackConfig, mockStack, settle, unwrap } from "./harness.ts";
import { type Deployed, describeStackInvariants } from "./invariants.ts";

const fixture = (name: string) => readFileSync(new URL(`fixtures/minikube/${name}`, import.meta.url), "utf8");

async function deployDevStack(): Promise<Deployed> {
  const certs = mkdtempSync(path.join(tmpdir(), "taskflow-minikube-certs-"));
  for (const file of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(path.join(certs, file), `-----BEGIN ${file}-----\n`);
  const minikube: MinikubeRunner = (args) => ({
    status: 0,
    stderr: "",
    stdout: args.includes("ip")
      ? fixture("ip.docker-driver.txt")
      : args.includes("profile")
        ? fixture("profile-list.json")
        : fixture("docker-env.docker-driver.linux.txt").replace("/home/dev/.minikube/certs", certs),
  });
  const resources = await mockStack(devStackConfig());
  const settings = loadSettings();
  const cluster = await resolveCluster(settings, minikube, async () => ({ Os: "linux", Arch: "amd64" }), {});
  const outputs = await settle(deployTaskflow(settings, cluster));
  const generated = resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword").map((r) => r.state.result);
  return { resources, outputs, settings, cluster, secretValues: generated };
}

const stack = describeStackInvariants(deployDevStack);

describe("the dev stack", () => {
  it("has this resource graph", () => {
    expect(
      stack()
        .resources.map((r) => `${r.type} ${r.name}`)
        .sort(),
    ).toEqual(
      [
        "pulumi:providers:kubernetes cluster",
        "kubernetes:core/v1:Namespace taskflow",
        "random:index/randomPassword:RandomPassword postgres-password",
        "random:index/randomPassword:RandomPassword redis-password",
        "taskflow:stack:ApiImage taskflow-api",
        "pulumi:providers:docker taskflow-api-daemon",
        "docker:index/image:Image taskflow-api",
        "taskflow:stack:Database postgres",
        "kubernetes:core/v1:Secret postgres-credentials",
        "kubernetes:core/v1:ConfigMap postgres-init",
        "random:index/randomPassword:RandomPassword postgres-superuser-password",
        "kubernetes:core/v1:PersistentVolumeClaim postgres-data",
        "kubernetes:apps/v1:Deployment postgres",
        "kubernetes:core/v1:Service postgres",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy postgres-clients",
        "taskflow:stack:Cache redis",
        "kubernetes:core/v1:Secret redis-credentials",
        "kubernetes:apps/v1:Deployment redis",
        "kubernetes:core/v1:Service redis",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy redis-clients",
        "taskflow:stack:Api taskflow-api",
        "kubernetes:core/v1:ConfigMap taskflow-api-config",
        "kubernetes:core/v1:Secret taskflow-api-secrets",
        "kubernetes:apps/v1:Deployment taskflow-api",
        "kubernetes:core/v1:Service taskflow-api",
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler taskflow-api",
        "kubernetes:policy/v1:PodDisruptionBudget taskflow-api",
      ].sort(),
    );
  });

  it("lists every setting in Pulumi.dev.yaml at the program's default", () => {
    const config = devStackConfig();
    expect(Object.keys(config).sort()).toEqual(
      Object.keys(defaults)
        .map((key) => `taskflow:${key}`)
        .sort(),
    );
    for (const [key, value] of Object.entries(defaults)) {
      const configured = config[`taskflow:${key}`]!;
      expect(typeof value === "object" ? JSON.parse(configured) : configured, key).toEqual(
        typeof value === "object" ? value : String(value),
      );
    }
  });

  it("deploys the seed's shape: HPA 2..10 at 50% CPU, 1000 demo tasks, a 2Gi volume, a 128mb LRU cache", () => {
    const objects = (type: string) =>
      stack()
        .resources.filter((r) => r.type === type)
        .map((r) => unwrap(r.inputs));
    const [hpa] = objects("kubernetes:autoscaling/v2:HorizontalPodAutoscaler");
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.metrics[0].resource.target.averageUtilization]).toEqual([2, 10, 50]);
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "taskflow-api" });
    const api = objects("kubernetes:apps/v1:Deployment").find((d) => d.metadata.name === "taskflow-api");
    expect(api.spec.replicas).toBeUndefined();
    expect(api.spec.template.spec.containers[0].resources).toEqual(defaults.apiResources);
    const config = objects("kubernetes:core/v1:ConfigMap").find((c) => c.data.PORT);
    expect(config.data).toMatchObject({ CACHE_TTL: "300", SEED_TASKS: "1000", STRESS_ENDPOINT: "true", DATABASE_POOL_MAX: "5" });
    const [claim] = objects("kubernetes:core/v1:PersistentVolumeClaim");
    expect(claim.spec).toEqual({ accessModes: ["ReadWriteOnce"], resources: { requests: { storage: "2Gi" } } });
    const redis = objects("kubernetes:apps/v1:Deployment").find((d) => d.metadata.name === "redis");
    expect(redis.spec.template.spec.containers[0].args.join(" ")).toContain("--maxmemory 128mb --maxmemory-policy allkeys-lru");
  });

  it("generates the three passwords and builds on Minikube's daemon for its platform", () => {
    const passwords = stack().resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword");
    expect(passwords.map((p) => [p.name, p.inputs])).toEqual(
      ["postgres-password", "postgres-superuser-password", "redis-password"].map((name) => [name, { length: 32, special: false }]),
    );
    expect(stack().cluster.daemon.host).toBe("tcp://192.168.49.2:2376");
    expect(stack().cluster.platform).toBe("linux/amd64");
    expect(stack().cluster.nodeAddress).toBe("192.168.49.2");
  });
});
