// What must hold for any stack the program produces, whatever its settings. Each scenario file
// deploys one stack under mocks and registers these tests against it.
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Deployment } from "kubernetes-models/apps/v1/Deployment";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler";
import { NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1/NetworkPolicy";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1/PodDisruptionBudget";
import { ConfigMap } from "kubernetes-models/v1/ConfigMap";
import { Namespace } from "kubernetes-models/v1/Namespace";
import { PersistentVolumeClaim } from "kubernetes-models/v1/PersistentVolumeClaim";
import { Secret } from "kubernetes-models/v1/Secret";
import { Service } from "kubernetes-models/v1/Service";
import { beforeAll, describe, expect, it } from "vitest";
import { type AppDeps, createApp } from "../../service/src/app.ts";
import { loadConfig, requiredSettings, secretSettings, settingNames } from "../../service/src/config.ts";
import { createLogger } from "../../service/src/logger.ts";
import { hashBuildContext } from "../../stack/build-context.ts";
import type { ClusterTarget } from "../../stack/cluster.ts";
import type { Settings } from "../../stack/config.ts";
import { imageBuild } from "../../stack/taskflow.ts";
import { isSecretWrapper, mockNodePort, type Recorded, type SettledOutputs, unwrap } from "./harness.ts";
import { checkRestricted } from "./pod-security.ts";

export interface Deployed {
  resources: Recorded[];
  outputs: SettledOutputs;
  settings: Settings;
  cluster: ClusterTarget;
  /** Plaintext of every secret the stack was given or generated. */
  secretValues: string[];
}

const models: Record<string, new (data: any) => { validate(): void }> = {
  "kubernetes:core/v1:Namespace": Namespace,
  "kubernetes:core/v1:ConfigMap": ConfigMap,
  "kubernetes:core/v1:Secret": Secret,
  "kubernetes:core/v1:Service": Service,
  "kubernetes:core/v1:PersistentVolumeClaim": PersistentVolumeClaim,
  "kubernetes:apps/v1:Deployment": Deployment,
  "kubernetes:autoscaling/v2:HorizontalPodAutoscaler": HorizontalPodAutoscaler,
  "kubernetes:networking.k8s.io/v1:NetworkPolicy": NetworkPolicy,
  "kubernetes:policy/v1:PodDisruptionBudget": PodDisruptionBudget,
};

/** A Kubernetes object as the API server would receive it: plain values, provider-assigned name. */
function manifest(record: Recorded): any {
  return { ...unwrap(record.inputs), metadata: unwrap(record.state.metadata) };
}

function kubeObjects(deployed: Deployed, type?: string) {
  return deployed.resources
    .filter((r) => r.type.startsWith("kubernetes:") && (type === undefined || r.type === type))
    .map((record) => ({ record, object: manifest(record) }));
}

const kind = (deployed: Deployed, k: string) => kubeObjects(deployed, k).map(({ object }) => object);
const deployments = (deployed: Deployed) => kind(deployed, "kubernetes:apps/v1:Deployment");
const named = (objects: any[], name: string) => objects.find((o) => o.metadata.name === name);
/** What taskflow:monitoring adds: workloads, and Services with the workload they select. */
const monitoringDeployments = ["grafana", "prometheus"];
const monitoringServices: Record<string, string> = { grafana: "grafana", prometheus: "prometheus", "taskflow-api-pods": "taskflow-api" };
/** Probe paths of the monitoring images (Prometheus' and Grafana's health endpoints). */
const monitoringProbePaths: Record<string, string[]> = { prometheus: ["/-/ready", "/-/healthy"], grafana: ["/api/health"] };
/** The only output that may be, and must be, a secret. */
const secretOutputs = ["grafanaAdminPassword"];
const containsAll = (labels: Record<string, string> = {}, subset: Record<string, string> = {}) =>
  Object.keys(subset).length > 0 && Object.entries(subset).every(([key, value]) => labels[key] === value);

function apiDeployment(deployed: Deployed) {
  const deployment = named(deployments(deployed), "taskflow-api");
  return { deployment, pod: deployment.spec.template.spec, container: deployment.spec.template.spec.containers[0] };
}

/** Paths of plaintext copies of `needles` in `value`; `insideSecrets` also looks inside wrappers. */
function occurrences(value: any, needles: string[], insideSecrets: boolean, at = "$"): string[] {
  if (isSecretWrapper(value)) return insideSecrets ? occurrences(value.value, needles, true, at) : [];
  if (typeof value === "string") return needles.some((needle) => value.includes(needle)) ? [at] : [];
  if (typeof value === "object" && value !== null) {
    return Object.entries(value).flatMap(([key, inner]) => occurrences(inner, needles, insideSecrets, `${at}.${key}`));
  }
  return [];
}

const serviceRoutes = () =>
  Object.keys(
    createApp({ stressEndpoint: true, logger: createLogger("silent") } as unknown as AppDeps).getOpenAPI31Document({
      openapi: "3.1.0",
      info: { title: "TaskFlow", version: "test" },
    }).paths ?? {},
  );

export function describeStackInvariants(deploy: () => Promise<Deployed>) {
  let deployed: Deployed;
  beforeAll(async () => {
    deployed = await deploy();
  });

  describe("every stack", () => {
    it("runs every pod within the Pod Security Standards restricted profile", () => {
      expect(deployments(deployed)).toHaveLength(deployed.settings.monitoring ? 3 + monitoringDeployments.length : 3);
      for (const deployment of deployments(deployed)) {
        const { spec, metadata } = deployment.spec.template;
        expect({ deployment: deployment.metadata.name, violations: checkRestricted(spec, metadata) }).toEqual({
          deployment: deployment.metadata.name,
          violations: [],
        });
        expect(spec.automountServiceAccountToken).toBe(false);
        for (const container of spec.containers) expect(container.securityContext.readOnlyRootFilesystem).toBe(true);
      }
      const namespace = kind(deployed, "kubernetes:core/v1:Namespace")[0];
      expect(namespace.metadata.labels["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    });

    it("validates every Kubernetes object against the Kubernetes OpenAPI schema", () => {
      const objects = kubeObjects(deployed);
      expect(objects.length).toBeGreaterThan(10);
      for (const { record, object } of objects) {
        const Model = models[record.type];
        expect(Model, `a schema model for ${record.type}`).toBeDefined();
        expect(() => new Model!(object).validate(), `${record.type} ${record.name}`).not.toThrow();
      }
    });

    it("keeps every secret value wrapped as a secret, out of non-Secret objects and out of outputs", () => {
      const needles = deployed.secretValues;
      expect(needles.length).toBeGreaterThanOrEqual(2);
      for (const record of deployed.resources) {
        expect(occurrences(record.inputs, needles, false), `unwrapped in ${record.type} ${record.name}`).toEqual([]);
        if (record.type.startsWith("kubernetes:") && record.type !== "kubernetes:core/v1:Secret") {
          expect(occurrences(record.inputs, needles, true), `in ${record.type} ${record.name}`).toEqual([]);
        }
      }
      for (const record of deployed.resources.filter((r) => r.type === "kubernetes:core/v1:Secret")) {
        expect(isSecretWrapper(record.inputs.stringData), `${record.name} stringData is a secret`).toBe(true);
      }
      for (const [name, output] of Object.entries(deployed.outputs)) {
        if (secretOutputs.includes(name)) {
          expect(output.secret, `${name} is a secret output`).toBe(true);
          continue;
        }
        expect(output.secret, `${name} is a plain output`).toBe(false);
        expect(occurrences(output.value, needles, true), `output ${name}`).toEqual([]);
      }
    });

    it("gives the Services stable names and selectors that match exactly one workload's pods", () => {
      const services = kind(deployed, "kubernetes:core/v1:Service");
      const workloadOf: Record<string, string> = {
        postgres: "postgres",
        redis: "redis",
        "taskflow-api": "taskflow-api",
        ...(deployed.settings.monitoring ? monitoringServices : {}),
      };
      expect(services.map((s) => s.metadata.name).sort()).toEqual(Object.keys(workloadOf).sort());
      for (const service of services) {
        const targets = deployments(deployed).filter((d) => containsAll(d.spec.template.metadata.labels, service.spec.selector));
        expect(
          targets.map((d) => d.metadata.name),
          service.metadata.name,
        ).toEqual([workloadOf[service.metadata.name]]);
        const container = targets[0].spec.template.spec.containers[0];
        for (const port of service.spec.ports) {
          expect(
            container.ports.map((p: any) => p.name),
            `${service.metadata.name} targetPort`,
          ).toContain(port.targetPort);
        }
        expect(containsAll(targets[0].spec.template.metadata.labels, targets[0].spec.selector.matchLabels)).toBe(true);
      }
      const api = named(services, "taskflow-api");
      expect(api.spec.type).toBe("NodePort");
      expect(api.spec.ports).toEqual([{ name: "http", port: 5000, targetPort: "http", protocol: "TCP" }]);
    });

    it("points every probe at a port the container exposes and a path the service serves", () => {
      const routes = serviceRoutes();
      for (const deployment of deployments(deployed)) {
        for (const container of deployment.spec.template.spec.containers) {
          const ports = container.ports.map((p: any) => p.name);
          for (const kindOfProbe of ["startupProbe", "livenessProbe", "readinessProbe"]) {
            const probe = container[kindOfProbe];
            if (!probe) continue;
            const where = `${deployment.metadata.name} ${kindOfProbe}`;
            if (probe.httpGet) {
              expect(ports, where).toContain(probe.httpGet.port);
              expect(monitoringProbePaths[deployment.metadata.name] ?? routes, where).toContain(probe.httpGet.path);
            } else if (probe.tcpSocket) {
              expect(ports, where).toContain(probe.tcpSocket.port);
            } else {
              expect(probe.exec.command.length, where).toBeGreaterThan(0);
            }
          }
          expect(container.readinessProbe, `${deployment.metadata.name} readiness`).toBeDefined();
          expect(container.livenessProbe, `${deployment.metadata.name} liveness`).toBeDefined();
        }
      }
      const { container } = apiDeployment(deployed);
      expect(container.startupProbe.httpGet.path).toBe("/health");
      expect(container.livenessProbe.httpGet.path).toBe("/health");
      expect(container.readinessProbe.httpGet.path).toBe("/ready");
    });

    it("resolves every ConfigMap, Secret and claim reference to something that exists", () => {
      const configMaps = kind(deployed, "kubernetes:core/v1:ConfigMap");
      const secrets = kind(deployed, "kubernetes:core/v1:Secret");
      const claims = kind(deployed, "kubernetes:core/v1:PersistentVolumeClaim");
      const secretKeys = (name: string) => Object.keys({ ...named(secrets, name)?.stringData, ...named(secrets, name)?.data });
      let references = 0;
      for (const deployment of deployments(deployed)) {
        const pod = deployment.spec.template.spec;
        for (const container of pod.containers) {
          expect(container.envFrom).toBeUndefined();
          for (const { name, valueFrom } of container.env ?? []) {
            const where = `${deployment.metadata.name} env ${name}`;
            if (valueFrom?.configMapKeyRef) {
              references++;
              expect(Object.keys(named(configMaps, valueFrom.configMapKeyRef.name)?.data ?? {}), where).toContain(
                valueFrom.configMapKeyRef.key,
              );
            }
            if (valueFrom?.secretKeyRef) {
              references++;
              expect(secretKeys(valueFrom.secretKeyRef.name), where).toContain(valueFrom.secretKeyRef.key);
            }
          }
        }
        for (const volume of pod.volumes ?? []) {
          if (volume.secret) {
            references++;
            for (const item of volume.secret.items ?? []) expect(secretKeys(volume.secret.secretName)).toContain(item.key);
            expect(named(secrets, volume.secret.secretName)).toBeDefined();
          }
          if (volume.persistentVolumeClaim) {
            references++;
            expect(named(claims, volume.persistentVolumeClaim.claimName)).toBeDefined();
          }
          if (volume.configMap) {
            references++;
            const data = named(configMaps, volume.configMap.name)?.data;
            expect(data, `${deployment.metadata.name} volume ${volume.name}`).toBeDefined();
            for (const item of volume.configMap.items ?? []) expect(Object.keys(data)).toContain(item.key);
          }
        }
      }
      expect(references).toBeGreaterThan(5);
    });

    it("sets exactly the environment the service's config schema reads, and values it accepts", () => {
      const { pod, container } = apiDeployment(deployed);
      const names: string[] = container.env.map((e: any) => e.name);
      expect(new Set(names).size).toBe(names.length);
      expect(names.filter((name) => !settingNames.includes(name as never))).toEqual([]);
      for (const required of requiredSettings) expect(names).toContain(required);
      for (const { name, valueFrom } of container.env) {
        expect(Object.keys(valueFrom)).toEqual([secretSettings.includes(name) ? "secretKeyRef" : "configMapKeyRef"]);
      }
      expect(pod.enableServiceLinks).toBe(false);

      const configMaps = kind(deployed, "kubernetes:core/v1:ConfigMap");
      const secrets = kind(deployed, "kubernetes:core/v1:Secret");
      const environment = Object.fromEntries(
        container.env.map(({ name, valueFrom }: any) =>
          valueFrom.configMapKeyRef
            ? [name, named(configMaps, valueFrom.configMapKeyRef.name).data[valueFrom.configMapKeyRef.key]]
            : [name, named(secrets, valueFrom.secretKeyRef.name).stringData[valueFrom.secretKeyRef.key]],
        ),
      );
      const config = loadConfig(environment);
      expect(config.DATABASE_HOST).toBe("postgres");
      expect(config.REDIS_HOST).toBe("redis");
      expect(config.PORT).toBe(container.ports[0].containerPort);
      expect(config.DATABASE_PASSWORD).toBeTruthy();
      expect(config.REDIS_PASSWORD).toBeTruthy();
      expect(config.DATABASE_NAME).toBe(deployed.settings.databaseName);
      expect(config.DATABASE_USER).toBe(deployed.settings.databaseUser);
      const postgres = named(deployments(deployed), "postgres").spec.template.spec.containers[0];
      const postgresEnv = Object.fromEntries(
        postgres.env.map(({ name, value, valueFrom }: any) => [
          name,
          value ?? named(secrets, valueFrom.secretKeyRef.name).stringData[valueFrom.secretKeyRef.key],
        ]),
      );
      // The API logs in as the role the init script creates, with the password it is given.
      expect([postgresEnv.POSTGRES_DB, postgresEnv.APP_USER, postgresEnv.APP_PASSWORD]).toEqual([
        config.DATABASE_NAME,
        config.DATABASE_USER,
        config.DATABASE_PASSWORD,
      ]);
    });

    it("keeps PostgreSQL's superuser to PostgreSQL: the API logs in as another role, and never holds the superuser's password", () => {
      const postgres = named(deployments(deployed), "postgres").spec.template.spec;
      const container = postgres.containers[0];
      const env = Object.fromEntries(container.env.map((e: any) => [e.name, e]));
      expect(env.POSTGRES_USER.value).toBe("postgres");
      expect(deployed.settings.databaseUser).not.toBe("postgres");
      const secrets = kind(deployed, "kubernetes:core/v1:Secret");
      const superuserPassword = named(secrets, env.POSTGRES_PASSWORD.valueFrom.secretKeyRef.name).stringData.POSTGRES_PASSWORD;
      expect(superuserPassword).not.toBe(
        env.APP_PASSWORD && named(secrets, env.APP_PASSWORD.valueFrom.secretKeyRef.name).stringData.APP_PASSWORD,
      );
      const holders = secrets.filter((secret) => Object.values(secret.stringData ?? {}).includes(superuserPassword));
      expect(holders.map((secret) => secret.metadata.name)).toEqual([env.POSTGRES_PASSWORD.valueFrom.secretKeyRef.name]);
      // The script that creates the API's role, executable and mounted where the image runs it.
      const mount = container.volumeMounts.find((m: any) => m.mountPath === "/docker-entrypoint-initdb.d");
      const volume = postgres.volumes.find((v: any) => v.name === mount.name);
      expect([mount.readOnly, volume.configMap.defaultMode]).toEqual([true, 0o555]);
      const script = named(kind(deployed, "kubernetes:core/v1:ConfigMap"), volume.configMap.name).data;
      expect(Object.keys(script)).toEqual(["create-app-role.sh"]);
      expect(script["create-app-role.sh"]).toContain('CREATE ROLE :"app_user" LOGIN NOSUPERUSER');
    });

    it("builds service/Dockerfile from the repository's root unpushed with a content-hash tag, and runs that tag without pulling", () => {
      const images = deployed.resources.filter((r) => r.type === "docker:index/image:Image");
      expect(images).toHaveLength(1);
      const image = unwrap(images[0]!.inputs);
      expect(image.skipPush).toBe(true);
      expect(image.registry).toBeUndefined();
      // The root, which holds the workspaces' one lockfile; absolute (see stack/image.ts).
      expect(image.build.context).toBe(path.resolve(fileURLToPath(new URL("../..", import.meta.url))));
      expect(image.build.dockerfile).toBe(fileURLToPath(new URL("../../service/Dockerfile", import.meta.url)));
      const buildArgs = image.build.args ?? {};
      // For the node's architecture, which the tag covers too: the provider's default is its own.
      expect(image.build.platform).toBe(deployed.cluster.platform);
      expect(image.imageName).toBe(`taskflow-api:${hashBuildContext(imageBuild, buildArgs, deployed.cluster.platform)}`);

      const { container } = apiDeployment(deployed);
      expect(container.image).toBe(image.imageName);
      expect(container.imagePullPolicy).toBe("Never");

      const daemons = deployed.resources.filter((r) => r.type === "pulumi:providers:docker");
      expect(daemons).toHaveLength(1);
      expect(images[0]!.provider).toContain(`pulumi:providers:docker::${daemons[0]!.name}`);
      // Host and certificate directory, both explicit: the provider fills only unset keys from
      // DOCKER_HOST / DOCKER_CERT_PATH, and PEM material would let both of those in.
      expect(unwrap(daemons[0]!.inputs)).toEqual(
        deployed.cluster.daemon.certPath
          ? { host: deployed.cluster.daemon.host, certPath: deployed.cluster.daemon.certPath }
          : { host: deployed.cluster.daemon.host },
      );
    });

    it("deploys every Kubernetes object through the configured context, into the stack's namespace", () => {
      const providers = deployed.resources.filter((r) => r.type === "pulumi:providers:kubernetes");
      expect(providers.map((p) => p.inputs.context)).toEqual([deployed.cluster.kubeContext]);
      for (const { record, object } of kubeObjects(deployed)) {
        expect(record.provider, `${record.type} ${record.name}`).toContain(`pulumi:providers:kubernetes::${providers[0]!.name}`);
        if (record.type !== "kubernetes:core/v1:Namespace") expect(object.metadata.namespace).toBe(deployed.settings.namespace);
      }
    });

    it("admits only API pods to PostgreSQL and Redis", () => {
      const apiLabels = apiDeployment(deployed).deployment.spec.template.metadata.labels;
      const policies = kind(deployed, "kubernetes:networking.k8s.io/v1:NetworkPolicy");
      for (const [name, port] of [
        ["postgres", 5432],
        ["redis", 6379],
      ] as const) {
        const labels = named(deployments(deployed), name).spec.template.metadata.labels;
        const guarding = policies.filter((p) => containsAll(labels, p.spec.podSelector.matchLabels));
        expect(guarding, name).toHaveLength(1);
        const policy = guarding[0];
        expect(policy.spec.policyTypes).toEqual(["Ingress"]);
        for (const rule of policy.spec.ingress) {
          expect(rule.ports).toEqual([{ protocol: "TCP", port }]);
          for (const peer of rule.from) {
            expect(Object.keys(peer)).toEqual(["podSelector"]);
            expect(containsAll(apiLabels, peer.podSelector.matchLabels)).toBe(true);
            for (const other of deployments(deployed).filter((d) => d.metadata.name !== "taskflow-api")) {
              expect(containsAll(other.spec.template.metadata.labels, peer.podSelector.matchLabels)).toBe(false);
            }
          }
        }
      }
    });

    it("rolls the API without losing capacity and stops it within its grace period", () => {
      const { deployment, pod, container } = apiDeployment(deployed);
      expect(deployment.spec.strategy).toEqual({ type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
      const drain = loadConfig({
        DATABASE_HOST: "x",
        DATABASE_PASSWORD: "x",
        SHUTDOWN_GRACE_SECONDS: String(deployed.settings.shutdownGraceSeconds),
      }).SHUTDOWN_GRACE_SECONDS;
      const preStop = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
      expect(preStop).toBe(deployed.settings.preStopSeconds);
      // 10 s after the drain for closing the PostgreSQL pool and Redis before the process exits.
      expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + drain + 10);
      expect(container.volumeMounts.map((m: any) => m.mountPath).sort()).toEqual(["/home/appuser", "/tmp"]);
      const budget = kind(deployed, "kubernetes:policy/v1:PodDisruptionBudget");
      expect(budget).toHaveLength(1);
      expect(budget[0].spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    });

    it("keeps PostgreSQL's data on a claim the stack itself owns, so destroy removes it", () => {
      const claims = kind(deployed, "kubernetes:core/v1:PersistentVolumeClaim");
      expect(claims).toHaveLength(1);
      expect(claims[0].spec.resources.requests.storage).toBe(deployed.settings.postgresStorage);
      const postgres = named(deployments(deployed), "postgres");
      expect(postgres.spec.strategy.type).toBe("Recreate");
      expect(postgres.spec.template.spec.volumes.find((v: any) => v.persistentVolumeClaim).persistentVolumeClaim.claimName).toBe(
        claims[0].metadata.name,
      );
      const pgdata = postgres.spec.template.spec.containers[0].env.find((e: any) => e.name === "PGDATA").value;
      const dataMount = postgres.spec.template.spec.containers[0].volumeMounts.find((m: any) => m.name === "data").mountPath;
      expect(pgdata.startsWith(`${dataMount}/`)).toBe(true);
      expect(deployed.resources.some((r) => r.type.includes("StatefulSet"))).toBe(false);
    });

    it("names each PostgreSQL claim afresh, so a new claim never reuses a directory Minikube left behind", () => {
      const [claim] = kubeObjects(deployed, "kubernetes:core/v1:PersistentVolumeClaim").map(({ record }) => record);
      expect(unwrap(claim!.inputs).metadata.name).toBeUndefined();
      // Create-before-delete: deleting first would wait on the claim's pvc-protection finalizer
      // while the old PostgreSQL pod still mounts it.
      expect(claim!.options.deleteBeforeReplace).toBe(false);
    });

    it("awaits the NodePort Service's endpoints only after the API's rollout", () => {
      const byName = (type: string) => deployed.resources.find((r) => r.type === type && r.name === "taskflow-api")!;
      const service = byName("kubernetes:core/v1:Service");
      expect(service.options.dependencies).toContain(byName("kubernetes:apps/v1:Deployment").urn);
    });

    it("outputs the NodePort URLs, the namespace and a curl line, none of them secret (Grafana's password only as a secret)", () => {
      const host = deployed.cluster.nodeAddress.includes(":") ? `[${deployed.cluster.nodeAddress}]` : deployed.cluster.nodeAddress;
      expect(deployed.outputs.url.value).toBe(`http://${host}:${mockNodePort}`);
      expect(deployed.outputs.namespace.value).toBe(deployed.settings.namespace);
      expect(deployed.outputs.curl.value).toBe(`curl -s "${deployed.outputs.url.value}/tasks?limit=3"`);
      const monitoringOutputs = Object.keys(deployed.outputs).filter((name) => !["url", "namespace", "curl"].includes(name));
      expect(monitoringOutputs.sort()).toEqual(deployed.settings.monitoring ? ["grafanaAdminPassword", "grafanaUrl", "prometheusUrl"] : []);
      if (deployed.settings.monitoring) {
        expect(deployed.outputs.grafanaUrl!.value).toBe(`http://${host}:${mockNodePort}`);
        expect(deployed.outputs.prometheusUrl!.value).toBe(`http://${host}:${mockNodePort}`);
      }
    });
  });

  return () => deployed;
}
