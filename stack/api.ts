// The TaskFlow API: its environment built from the service's own config schema (ConfigMap for the
// plain settings, Secret for the secret ones), the hardened Deployment, the NodePort Service, and
// the autoscaler and disruption budget around it.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, loadConfig, secretSettings } from "../service/src/config.ts";
import type { ApiEnvironment, SecretSetting } from "./api-environment.ts";
import type { Resources, Settings } from "./config.ts";
import { hardenedPodSpec, scratchDirectories, workloadLabels } from "./pod.ts";

export interface ApiArgs {
  namespace: pulumi.Input<string>;
  image: pulumi.Input<string>;
  /** Selector labels; the database and cache admit exactly these pods. */
  selector: Record<string, string>;
  environment: ApiEnvironment;
  secrets: { [K in SecretSetting]: pulumi.Input<string> };
  settings: Pick<Settings, "apiReplicas" | "autoscaling" | "hpaMinReplicas" | "hpaMaxReplicas" | "hpaCpuUtilization" | "preStopSeconds"> & {
    resources: Resources;
  };
}

const apiUid = 1000;

export class Api extends pulumi.ComponentResource {
  readonly nodePort: pulumi.Output<number>;
  /** The port the pods serve HTTP (and /metrics) on. */
  readonly port: number;

  constructor(name: string, args: ApiArgs, opts?: pulumi.ComponentResourceOptions) {
    super("taskflow:stack:Api", name, {}, opts);
    const { namespace, settings } = args;
    const labels = { ...workloadLabels(name, "api"), ...args.selector };
    const plain = Object.fromEntries(Object.entries(args.environment).filter((entry): entry is [string, string] => entry[1] !== undefined));

    // The service's own parser, run at preview: a bad value fails here with the message the pod
    // would otherwise crash-loop on, and the defaults it fills in are the ones the pod will use.
    let parsed: ReturnType<typeof loadConfig>;
    try {
      parsed = loadConfig({ ...plain, ...Object.fromEntries(secretSettings.map((key) => [key, "placeholder"])) });
    } catch (error) {
      if (error instanceof ConfigError) throw new pulumi.RunError(`taskflow-api ${error.message}`);
      throw error;
    }

    this.port = parsed.PORT;

    // Auto-named: a changed setting yields a new name, which rolls the Deployment.
    const config = new k8s.core.v1.ConfigMap(`${name}-config`, { metadata: { namespace, labels }, data: plain }, { parent: this });
    const secret = new k8s.core.v1.Secret(
      `${name}-secrets`,
      { metadata: { namespace, labels }, stringData: args.secrets },
      { parent: this },
    );
    const env: k8s.types.input.core.v1.EnvVar[] = [
      ...Object.keys(plain).map((key) => ({ name: key, valueFrom: { configMapKeyRef: { name: config.metadata.name, key } } })),
      ...secretSettings.map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: secret.metadata.name, key } } })),
    ];

    const scratch = scratchDirectories({ tmp: "/tmp", home: "/home/appuser" });
    const deployment = new k8s.apps.v1.Deployment(
      name,
      {
        metadata: { name, namespace, labels },
        spec: {
          // With autoscaling the HPA owns the count; a count here would reset it on every update.
          replicas: settings.autoscaling ? undefined : settings.apiReplicas,
          selector: { matchLabels: args.selector },
          strategy: { type: "RollingUpdate", rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
          template: {
            metadata: { labels },
            spec: hardenedPodSpec(apiUid, {
              // preStop runs first, then SIGTERM starts the service's drain. After the drain it still
              // closes the PostgreSQL pool (up to 2 s) and Redis before it exits: 10 s leaves room for
              // that, so SIGKILL never lands in the middle of a clean close.
              terminationGracePeriodSeconds: settings.preStopSeconds + parsed.SHUTDOWN_GRACE_SECONDS + 10,
              containers: [
                {
                  name: "api",
                  image: args.image,
                  // Built inside the node's Docker daemon and never pushed: no registry to ask.
                  imagePullPolicy: "Never",
                  ports: [{ name: "http", containerPort: parsed.PORT, protocol: "TCP" }],
                  env,
                  // Migrations and seeding run before the server listens.
                  startupProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 2, failureThreshold: 90 },
                  livenessProbe: { httpGet: { path: "/health", port: "http" }, periodSeconds: 10, timeoutSeconds: 2, failureThreshold: 3 },
                  readinessProbe: { httpGet: { path: "/ready", port: "http" }, periodSeconds: 5, timeoutSeconds: 2, failureThreshold: 2 },
                  // Endpoints are removed asynchronously: keep serving until kube-proxy has caught up.
                  // The sleep action needs Kubernetes 1.30 or later (PodLifecycleSleepAction: alpha and
                  // off by default in 1.29, beta and on by default from 1.30, GA in 1.34; KEP-3960).
                  // Omitted when 0 rather than sleeping 0 s, which Kubernetes accepts only from 1.33.
                  lifecycle: settings.preStopSeconds > 0 ? { preStop: { sleep: { seconds: settings.preStopSeconds } } } : undefined,
                  resources: settings.resources,
                  volumeMounts: scratch.volumeMounts,
                },
              ],
              volumes: scratch.volumes,
            }),
          },
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );

    const nodePortService = new k8s.core.v1.Service(
      name,
      {
        metadata: { name, namespace, labels },
        spec: {
          type: "NodePort",
          selector: args.selector,
          ports: [{ name: "http", port: parsed.PORT, targetPort: "http", protocol: "TCP" }],
        },
      },
      // The provider waits for a selector Service to have ready endpoints, within its 10-minute
      // create timeout. Started beside the Deployment, that clock would also run through the image
      // build, the database's first start and seeding; after the rollout, endpoints are there.
      { parent: this, deleteBeforeReplace: true, dependsOn: [deployment] },
    );
    this.nodePort = nodePortService.spec.ports.apply((ports) => ports[0]!.nodePort);

    if (settings.autoscaling) {
      new k8s.autoscaling.v2.HorizontalPodAutoscaler(
        name,
        {
          metadata: { name, namespace, labels },
          spec: {
            scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: deployment.metadata.name },
            minReplicas: settings.hpaMinReplicas,
            maxReplicas: settings.hpaMaxReplicas,
            metrics: [
              {
                type: "Resource",
                resource: { name: "cpu", target: { type: "Utilization", averageUtilization: settings.hpaCpuUtilization } },
              },
            ],
            // Up as fast as Kubernetes allows; down after two quiet minutes, half at a time, so a
            // load demo shows both directions without flapping.
            behavior: {
              scaleUp: {
                stabilizationWindowSeconds: 0,
                policies: [
                  { type: "Percent", value: 100, periodSeconds: 15 },
                  { type: "Pods", value: 4, periodSeconds: 15 },
                ],
                selectPolicy: "Max",
              },
              scaleDown: {
                stabilizationWindowSeconds: 120,
                policies: [{ type: "Percent", value: 50, periodSeconds: 60 }],
                selectPolicy: "Min",
              },
            },
          },
        },
        { parent: this, deleteBeforeReplace: true },
      );
    }

    // maxUnavailable rather than minAvailable: a single replica must not block a node drain.
    new k8s.policy.v1.PodDisruptionBudget(
      name,
      { metadata: { name, namespace, labels }, spec: { maxUnavailable: 1, selector: { matchLabels: args.selector } } },
      { parent: this, deleteBeforeReplace: true },
    );

    this.registerOutputs({ nodePort: this.nodePort });
  }
}
