// A stack with every setting changed from its default, run through the real entry point
// (stack/index.ts). Docker host, certificates and node address come from config, so Minikube is
// never asked; the daemon is a TLS stand-in on loopback that the program really asks for its
// architecture; the passwords come from secret config instead of being generated.
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { defaults, loadSettings } from "../../stack/config.ts";
import { startFakeDaemon } from "./fake-docker-daemon.ts";
import { mockStack, type StackOutputs, settle, unwrap } from "./harness.ts";
import { type Deployed, describeStackInvariants } from "./invariants.ts";

const daemon = await startFakeDaemon({ Os: "linux", Arch: "arm64" });
afterAll(() => daemon.close());
// What `eval $(minikube docker-env)` for another profile, or a rootless Docker, leaves in a shell:
// none of it may reach the provider.
Object.assign(process.env, {
  DOCKER_HOST: "tcp://127.0.0.1:1",
  DOCKER_CERT_PATH: mkdtempSync(path.join(tmpdir(), "taskflow-other-certs-")),
  DOCKER_TLS_VERIFY: "1",
  DOCKER_CONFIG: mkdtempSync(path.join(tmpdir(), "taskflow-docker-config-")),
});
// The Redis one has what an unquoted redis.conf line would break on: spaces, quotes, a backslash.
const secrets = {
  "taskflow:postgresPassword": "configured-pg-Vb62qTnw",
  "taskflow:redisPassword": `configured redis "Jq41" 'mZse' \\`,
  "taskflow:grafanaPassword": "configured-grafana-Ht83pWq",
};
const resources = (cpu: string, memory: string, cpuLimit: string) =>
  JSON.stringify({ requests: { cpu, memory }, limits: { cpu: cpuLimit, memory } });
const config: Record<string, string> = {
  "taskflow:namespace": "tf-demo",
  "taskflow:minikubeProfile": "demo",
  "taskflow:dockerHost": daemon.host,
  "taskflow:dockerCertPath": daemon.certPath,
  "taskflow:nodeAddress": "192.168.59.100",
  "taskflow:nodeImage": "node:22-bookworm-slim",
  "taskflow:apiReplicas": "4",
  "taskflow:autoscaling": "true",
  "taskflow:hpaMinReplicas": "3",
  "taskflow:hpaMaxReplicas": "8",
  "taskflow:hpaCpuUtilization": "70",
  "taskflow:cacheTtlSeconds": "60",
  "taskflow:seedTasks": "0",
  "taskflow:stressEndpoint": "false",
  "taskflow:logLevel": "debug",
  "taskflow:shutdownGraceSeconds": "25",
  "taskflow:preStopSeconds": "3",
  "taskflow:databaseName": "tasks",
  "taskflow:databaseUser": "tasker",
  "taskflow:databasePoolMax": "10",
  "taskflow:postgresImage": "postgres:17.6-bookworm",
  "taskflow:postgresStorage": "5Gi",
  "taskflow:postgresStorageClass": "fast",
  "taskflow:redisImage": "redis:7.4-bookworm",
  "taskflow:redisMaxMemory": "64mb",
  "taskflow:redisMaxMemoryPolicy": "volatile-lru",
  "taskflow:apiResources": resources("200m", "300Mi", "1"),
  "taskflow:postgresResources": resources("300m", "600Mi", "1500m"),
  "taskflow:redisResources": resources("70m", "100Mi", "300m"),
  "taskflow:monitoring": "true",
  "taskflow:prometheusImage": "prom/prometheus:v2.53.3",
  "taskflow:grafanaImage": "grafana/grafana:12.3.0",
};

async function deployCustomStack(): Promise<Deployed> {
  const recorded = await mockStack(config, secrets);
  const entry: StackOutputs = await import("../../stack/index.ts");
  const outputs = await settle(entry);
  const settings = loadSettings();
  return {
    resources: recorded,
    outputs,
    settings,
    cluster: {
      kubeContext: "demo",
      daemon: { host: daemon.host, certPath: daemon.certPath },
      platform: "linux/arm64",
      nodeAddress: "192.168.59.100",
      nodePortReachable: true,
    },
    secretValues: [
      ...Object.values(secrets),
      ...recorded.filter((r) => r.type.startsWith("random:")).map((r) => r.state.result),
      readFileSync(path.join(daemon.certPath, "key.pem"), "utf8"),
    ],
  };
}

const stack = describeStackInvariants(deployCustomStack);

describe("a stack with every setting changed", () => {
  const objects = (type: string) =>
    stack()
      .resources.filter((r) => r.type === type)
      .map((r) => unwrap(r.inputs));
  const deployment = (name: string) => objects("kubernetes:apps/v1:Deployment").find((d) => d.metadata.name === name);

  it("changes every setting the test sets", () => {
    const changed = Object.keys(config).map((key) => key.replace("taskflow:", ""));
    for (const key of Object.keys(defaults)) expect(changed, key).toContain(key);
  });

  it("uses the changed values everywhere they belong", () => {
    expect(objects("kubernetes:core/v1:Namespace")[0].metadata.name).toBe("tf-demo");
    expect(stack().resources.find((r) => r.type === "pulumi:providers:kubernetes")!.inputs.context).toBe("demo");
    const [hpa] = objects("kubernetes:autoscaling/v2:HorizontalPodAutoscaler");
    expect([hpa.spec.minReplicas, hpa.spec.maxReplicas, hpa.spec.metrics[0].resource.target.averageUtilization]).toEqual([3, 8, 70]);
    expect(objects("kubernetes:core/v1:ConfigMap").find((c) => c.data.PORT).data).toEqual({
      PORT: "5000",
      DATABASE_HOST: "postgres",
      DATABASE_PORT: "5432",
      DATABASE_NAME: "tasks",
      DATABASE_USER: "tasker",
      DATABASE_POOL_MAX: "10",
      REDIS_HOST: "redis",
      REDIS_PORT: "6379",
      CACHE_TTL: "60",
      LOG_LEVEL: "debug",
      SEED_TASKS: "0",
      STRESS_ENDPOINT: "false",
      SHUTDOWN_GRACE_SECONDS: "25",
    });
    const api = deployment("taskflow-api").spec.template.spec;
    expect(api.containers[0].lifecycle.preStop.sleep.seconds).toBe(3);
    expect(api.terminationGracePeriodSeconds).toBe(3 + 25 + 10);
    expect(api.containers[0].resources).toEqual(JSON.parse(config["taskflow:apiResources"]!));
    const postgres = deployment("postgres").spec.template.spec.containers[0];
    expect(postgres.image).toBe("postgres:17.6-bookworm");
    expect(postgres.resources).toEqual(JSON.parse(config["taskflow:postgresResources"]!));
    const redis = deployment("redis").spec.template.spec.containers[0];
    expect(redis.image).toBe("redis:7.4-bookworm");
    expect(redis.args.join(" ")).toContain("--maxmemory 64mb --maxmemory-policy volatile-lru");
    expect(redis.resources).toEqual(JSON.parse(config["taskflow:redisResources"]!));
    expect(objects("kubernetes:core/v1:PersistentVolumeClaim")[0].spec).toMatchObject({
      storageClassName: "fast",
      resources: { requests: { storage: "5Gi" } },
    });
    expect(objects("docker:index/image:Image")[0].build.args).toEqual({ NODE_IMAGE: "node:22-bookworm-slim" });
    expect(deployment("prometheus").spec.template.spec.containers[0].image).toBe("prom/prometheus:v2.53.3");
    expect(deployment("grafana").spec.template.spec.containers[0].image).toBe("grafana/grafana:12.3.0");
    const prometheusConfig = objects("kubernetes:core/v1:ConfigMap").find((c) => c.data["prometheus.yml"]).data;
    expect(prometheusConfig["prometheus.yml"]).toContain("taskflow-api-pods.tf-demo.svc");
    expect(prometheusConfig["alerts.yml"]).toContain('count(up{job="taskflow-api"}) >= 8');
    expect(stack().outputs.url.value).toBe("http://192.168.59.100:31500");
  });

  it("asks the configured daemon for its architecture, and builds there for it whatever the shell's Docker variables say", () => {
    expect(daemon.requests).toEqual(["/version"]);
    expect(stack().resources.find((r) => r.type === "pulumi:providers:docker")!.inputs).toEqual({
      host: daemon.host,
      certPath: daemon.certPath,
    });
    expect(objects("docker:index/image:Image")[0].build.platform).toBe("linux/arm64");
  });

  it("uses the configured passwords, generating only PostgreSQL's own superuser's", () => {
    const generated = stack().resources.filter((r) => r.type.startsWith("random:"));
    expect(generated.map((r) => r.name)).toEqual(["postgres-superuser-password"]);
    const secretsByName = Object.fromEntries(
      stack()
        .resources.filter((r) => r.type === "kubernetes:core/v1:Secret")
        .map((r) => [r.name, unwrap(r.inputs.stringData)]),
    );
    expect(secretsByName["taskflow-api-secrets"]).toEqual({
      DATABASE_PASSWORD: secrets["taskflow:postgresPassword"],
      REDIS_PASSWORD: secrets["taskflow:redisPassword"],
    });
    expect(secretsByName["postgres-credentials"]).toEqual({
      POSTGRES_PASSWORD: generated[0]!.state.result,
      APP_PASSWORD: secrets["taskflow:postgresPassword"],
    });
    expect(secretsByName["grafana-admin"]).toEqual({ password: secrets["taskflow:grafanaPassword"] });
    expect(secretsByName["redis-credentials"]).toEqual({
      "auth.conf": `requirepass "configured redis \\"Jq41\\" 'mZse' \\\\"\n`,
      password: secrets["taskflow:redisPassword"],
    });
  });
});
