// Prometheus and Grafana beside the API (taskflow:monitoring): Prometheus scrapes every API pod,
// found through a headless Service's DNS records, so no pod here holds a Kubernetes API token;
// Grafana shows the TaskFlow dashboard from stack/monitoring/. Both are reached through NodePorts,
// like the API, and may talk only to what they need (NetworkPolicy egress).
import { readFileSync } from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { dump, load } from "js-yaml";
import { hardenedPodSpec, scratchDirectories, selectorLabels, workloadLabels } from "./pod.ts";

const file = (name: string) => readFileSync(new URL(`monitoring/${name}`, import.meta.url), "utf8");

/** The Prometheus job, and so the `job` label every rule and dashboard query selects. */
export const scrapeJob = "taskflow-api";
/** Headless Service whose DNS name resolves to every API pod's address. */
export const apiPodsHost = "taskflow-api-pods";
const prometheusPort = 9090;
const grafanaPort = 3000;
// prom/prometheus runs as `nobody` (Dockerfile:21 at v2.53.4, `USER nobody`; 65534 in its busybox
// base) and keeps its TSDB in /prometheus (Dockerfile:17 and :23, WORKDIR and VOLUME).
const prometheusUid = 65534;
// grafana/grafana runs as uid 472 (its Dockerfile at 78515af: `ARG GF_UID="472"`, then
// `USER "$GF_UID"` before `ENTRYPOINT [ "/run.sh" ]`).
const grafanaUid = 472;
const configDirectory = "/etc/prometheus/taskflow";
const dashboardsDirectory = "/etc/grafana/dashboards";
const adminPasswordDirectory = "/etc/grafana/secrets";
export const scrapeInterval = "15s";
// Bounded twice: Prometheus deletes blocks past either limit, and the emptyDir's sizeLimit (above
// both, as the WAL and head block sit outside retention.size) has the kubelet evict the pod
// rather than fill the node's disk.
export const retention = { time: "3d", size: "512MB", volume: "1Gi" };

export interface PrometheusConfigArgs {
  /** Namespace of the API pods, for the headless Service's DNS name. */
  namespace: string;
  apiPort: number;
}

/** prometheus.yml as the stack renders it; the tests check this exact text with promtool. */
export function prometheusConfig(args: PrometheusConfigArgs): string {
  return dump({
    global: { scrape_interval: scrapeInterval, scrape_timeout: "10s", evaluation_interval: scrapeInterval },
    // Relative to this file's directory (Prometheus resolves it so), where the ConfigMap puts both.
    rule_files: ["alerts.yml"],
    scrape_configs: [
      {
        job_name: scrapeJob,
        metrics_path: "/metrics",
        // One A record per pod (headless Service), re-resolved as pods come and go: each pod is a
        // target of its own, where the API's ClusterIP Service would answer from one at a time.
        dns_sd_configs: [
          { names: [`${apiPodsHost}.${args.namespace}.svc`], type: "A", port: args.apiPort, refresh_interval: scrapeInterval },
        ],
      },
    ],
  });
}

interface RuleFile {
  groups: Array<{ name: string; rules: Array<{ alert?: string; expr: string }> }>;
}

/**
 * alerts.yml as the stack renders it: the autoscaler's maximum in place of HPA_MAX_REPLICAS, or
 * without that rule when there is no autoscaler.
 */
export function alertRules(args: { hpaMaxReplicas?: number }): string {
  const rules = load(file("alerts.yml")) as RuleFile;
  for (const group of rules.groups) {
    group.rules = group.rules.flatMap((rule) => {
      if (!rule.expr.includes("HPA_MAX_REPLICAS")) return [rule];
      return args.hpaMaxReplicas === undefined
        ? []
        : [{ ...rule, expr: rule.expr.replace("HPA_MAX_REPLICAS", String(args.hpaMaxReplicas)) }];
    });
  }
  return dump(rules);
}

/** The dashboard Grafana provisions, as it is in the repository. */
export const dashboardJson = () => file("taskflow-dashboard.json");

export function grafanaDatasources(): string {
  return dump({
    apiVersion: 1,
    datasources: [
      {
        name: "Prometheus",
        // The dashboard's panels name this uid.
        uid: "prometheus",
        type: "prometheus",
        access: "proxy",
        url: `http://prometheus:${prometheusPort}`,
        isDefault: true,
        editable: false,
        // Grafana sizes $__rate_interval from the scrape interval.
        jsonData: { timeInterval: scrapeInterval },
      },
    ],
  });
}

function grafanaDashboardProviders(): string {
  return dump({
    apiVersion: 1,
    providers: [
      {
        name: "taskflow",
        type: "file",
        disableDeletion: true,
        allowUiUpdates: false,
        options: { path: dashboardsDirectory },
      },
    ],
  });
}

export interface MonitoringArgs {
  namespace: pulumi.Input<string>;
  /** The namespace's name, known before it exists (the scrape config names the DNS records in it). */
  namespaceName: string;
  /** Selector labels of the API pods, and the port their /metrics is served on. */
  api: { selector: Record<string, string>; port: number };
  /** The autoscaler's maximum; unset when autoscaling is off. */
  hpaMaxReplicas?: number;
  prometheusImage: string;
  grafanaImage: string;
  /** Grafana's admin password, a secret. */
  grafanaPassword: pulumi.Input<string>;
}

// CoreDNS, which both resolve names through (Minikube and kubeadm label it k8s-app=kube-dns).
const dnsEgress: k8s.types.input.networking.v1.NetworkPolicyEgressRule = {
  to: [
    {
      namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "kube-system" } },
      podSelector: { matchLabels: { "k8s-app": "kube-dns" } },
    },
  ],
  ports: [
    { protocol: "UDP", port: 53 },
    { protocol: "TCP", port: 53 },
  ],
};

export class Monitoring extends pulumi.ComponentResource {
  readonly prometheusNodePort: pulumi.Output<number>;
  readonly grafanaNodePort: pulumi.Output<number>;
  /** Grafana's admin password, a Pulumi secret. */
  readonly grafanaAdminPassword: pulumi.Output<string>;

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("taskflow:stack:Monitoring", name, {}, opts);
    const { namespace } = args;

    // Every API pod, ready or not: a pod that lost PostgreSQL is unready yet still answers
    // /metrics, and its 503s are what the PostgreSQL alert counts.
    new k8s.core.v1.Service(
      apiPodsHost,
      {
        metadata: { name: apiPodsHost, namespace, labels: workloadLabels(apiPodsHost, "monitoring") },
        spec: {
          clusterIP: "None",
          publishNotReadyAddresses: true,
          selector: args.api.selector,
          ports: [{ name: "http", port: args.api.port, targetPort: "http", protocol: "TCP" }],
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );

    const prometheus = this.prometheus(args);
    const grafana = this.grafana(args, prometheus.selector);
    this.prometheusNodePort = prometheus.nodePort;
    this.grafanaNodePort = grafana.nodePort;
    this.grafanaAdminPassword = grafana.password;
    this.registerOutputs({ prometheusNodePort: this.prometheusNodePort, grafanaNodePort: this.grafanaNodePort });
  }

  private prometheus(args: MonitoringArgs) {
    const { namespace } = args;
    const labels = workloadLabels("prometheus", "monitoring");
    const selector = selectorLabels("prometheus");
    // Auto-named: a changed config or rule gets a new name, which rolls the Deployment.
    const config = new k8s.core.v1.ConfigMap(
      "prometheus-config",
      {
        metadata: { namespace, labels },
        data: {
          "prometheus.yml": prometheusConfig({ namespace: args.namespaceName, apiPort: args.api.port }),
          "alerts.yml": alertRules({ hpaMaxReplicas: args.hpaMaxReplicas }),
        },
      },
      { parent: this },
    );
    const data = scratchDirectories({ data: "/prometheus" });
    new k8s.apps.v1.Deployment(
      "prometheus",
      {
        metadata: { name: "prometheus", namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          // One TSDB writer at a time on the pod's volume.
          strategy: { type: "Recreate" },
          template: {
            metadata: { labels },
            spec: hardenedPodSpec(prometheusUid, {
              containers: [
                {
                  name: "prometheus",
                  image: args.prometheusImage,
                  imagePullPolicy: "IfNotPresent",
                  // The image's ENTRYPOINT is /bin/prometheus (Dockerfile:24); these replace its CMD.
                  args: [
                    `--config.file=${configDirectory}/prometheus.yml`,
                    "--storage.tsdb.path=/prometheus",
                    `--storage.tsdb.retention.time=${retention.time}`,
                    `--storage.tsdb.retention.size=${retention.size}`,
                    `--web.listen-address=:${prometheusPort}`,
                  ],
                  ports: [{ name: "http", containerPort: prometheusPort, protocol: "TCP" }],
                  readinessProbe: { httpGet: { path: "/-/ready", port: "http" }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
                  livenessProbe: {
                    httpGet: { path: "/-/healthy", port: "http" },
                    periodSeconds: 10,
                    timeoutSeconds: 3,
                    failureThreshold: 6,
                  },
                  resources: { requests: { cpu: "100m", memory: "256Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
                  volumeMounts: [{ name: "config", mountPath: configDirectory, readOnly: true }, ...data.volumeMounts],
                },
              ],
              volumes: [
                { name: "config", configMap: { name: config.metadata.name } },
                { name: "data", emptyDir: { sizeLimit: retention.volume } },
              ],
            }),
          },
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    const nodePort = this.exposed("prometheus", {
      namespace,
      labels,
      selector,
      port: prometheusPort,
      // The API pods' port, and DNS to find them.
      reaches: { podSelector: args.api.selector, port: args.api.port },
    });
    return { selector, nodePort };
  }

  private grafana(args: MonitoringArgs, prometheusSelector: Record<string, string>) {
    const { namespace } = args;
    const labels = workloadLabels("grafana", "monitoring");
    const selector = selectorLabels("grafana");
    const password = pulumi.secret(args.grafanaPassword);
    const admin = new k8s.core.v1.Secret("grafana-admin", { metadata: { namespace, labels }, stringData: { password } }, { parent: this });
    const provisioning = new k8s.core.v1.ConfigMap(
      "grafana-provisioning",
      {
        metadata: { namespace, labels },
        data: {
          "datasources.yaml": grafanaDatasources(),
          "dashboards.yaml": grafanaDashboardProviders(),
          "taskflow.json": dashboardJson(),
        },
      },
      { parent: this },
    );
    const fromProvisioning = (volume: string, key: string, path: string): k8s.types.input.core.v1.Volume => ({
      name: volume,
      configMap: { name: provisioning.metadata.name, items: [{ key, path }] },
    });
    // What Grafana writes, each an emptyDir over the read-only root: its database and plugins
    // (GF_PATHS_DATA=/var/lib/grafana and GF_PATHS_PLUGINS beneath it, in the Dockerfile's ENV
    // block; run.sh:26-28 mkdirs the plugins folder), GF_PATHS_LOGS=/var/log/grafana, and /tmp,
    // the temporary directory Grafana uses whatever TMPDIR says since 12.4 (grafana/grafana#113412).
    const scratch = scratchDirectories({ data: "/var/lib/grafana", logs: "/var/log/grafana", tmp: "/tmp" });
    new k8s.apps.v1.Deployment(
      "grafana",
      {
        metadata: { name: "grafana", namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels },
            spec: hardenedPodSpec(grafanaUid, {
              containers: [
                {
                  name: "grafana",
                  image: args.grafanaImage,
                  imagePullPolicy: "IfNotPresent",
                  ports: [{ name: "http", containerPort: grafanaPort, protocol: "TCP" }],
                  env: [
                    { name: "GF_SECURITY_ADMIN_USER", value: "admin" },
                    // The image's /run.sh reads every GF_*__FILE variable's file into GF_* before it
                    // starts Grafana (packaging/docker/run.sh:56-70 at 0775453, the `__FILE` loop),
                    // so the password is in no pod spec. Its database is an emptyDir, so every start applies it afresh.
                    { name: "GF_SECURITY_ADMIN_PASSWORD__FILE", value: `${adminPasswordDirectory}/password` },
                    // Anyone who reaches the NodePort may look (the demo); editing needs the admin.
                    { name: "GF_AUTH_ANONYMOUS_ENABLED", value: "true" },
                    { name: "GF_AUTH_ANONYMOUS_ORG_ROLE", value: "Viewer" },
                    { name: "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH", value: `${dashboardsDirectory}/taskflow.json` },
                    // No calls out of the cluster, which the NetworkPolicy would drop anyway: from
                    // 12 on Grafana otherwise installs plugins from grafana.com at every start.
                    { name: "GF_PLUGINS_PREINSTALL_DISABLED", value: "true" },
                    { name: "GF_ANALYTICS_REPORTING_ENABLED", value: "false" },
                    { name: "GF_ANALYTICS_CHECK_FOR_UPDATES", value: "false" },
                    { name: "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES", value: "false" },
                    { name: "GF_NEWS_NEWS_FEED_ENABLED", value: "false" },
                  ],
                  readinessProbe: {
                    httpGet: { path: "/api/health", port: "http" },
                    periodSeconds: 5,
                    timeoutSeconds: 3,
                    failureThreshold: 3,
                  },
                  livenessProbe: {
                    httpGet: { path: "/api/health", port: "http" },
                    // Its first start migrates a fresh database.
                    initialDelaySeconds: 30,
                    periodSeconds: 10,
                    timeoutSeconds: 3,
                    failureThreshold: 6,
                  },
                  resources: { requests: { cpu: "50m", memory: "128Mi" }, limits: { cpu: "500m", memory: "512Mi" } },
                  volumeMounts: [
                    // Into the image's provisioning tree (GF_PATHS_PROVISIONING), beside its other folders.
                    { name: "datasources", mountPath: "/etc/grafana/provisioning/datasources", readOnly: true },
                    { name: "dashboard-providers", mountPath: "/etc/grafana/provisioning/dashboards", readOnly: true },
                    { name: "dashboards", mountPath: dashboardsDirectory, readOnly: true },
                    { name: "admin", mountPath: adminPasswordDirectory, readOnly: true },
                    ...scratch.volumeMounts,
                  ],
                },
              ],
              volumes: [
                fromProvisioning("datasources", "datasources.yaml", "datasources.yaml"),
                fromProvisioning("dashboard-providers", "dashboards.yaml", "dashboards.yaml"),
                fromProvisioning("dashboards", "taskflow.json", "taskflow.json"),
                // Group-readable: the file belongs to root and the pod's fsGroup (Grafana's uid).
                { name: "admin", secret: { secretName: admin.metadata.name, defaultMode: 0o440 } },
                ...scratch.volumes,
              ],
            }),
          },
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    const nodePort = this.exposed("grafana", {
      namespace,
      labels,
      selector,
      port: grafanaPort,
      // Prometheus, and DNS to find it; nothing else.
      reaches: { podSelector: prometheusSelector, port: prometheusPort },
    });
    return { password, nodePort };
  }

  /**
   * A NodePort Service for one workload's UI and API, and the policy around its pods: its port open
   * to anyone (the NodePort, and Grafana for Prometheus), and out only to `reaches` and DNS.
   */
  private exposed(
    name: string,
    args: {
      namespace: pulumi.Input<string>;
      labels: Record<string, string>;
      selector: Record<string, string>;
      port: number;
      reaches: { podSelector: Record<string, string>; port: number };
    },
  ): pulumi.Output<number> {
    const { namespace, labels, selector, port, reaches } = args;
    const service = new k8s.core.v1.Service(
      name,
      {
        metadata: { name, namespace, labels },
        spec: { type: "NodePort", selector, ports: [{ name: "http", port, targetPort: "http", protocol: "TCP" }] },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    new k8s.networking.v1.NetworkPolicy(
      name,
      {
        metadata: { name, namespace, labels },
        spec: {
          podSelector: { matchLabels: selector },
          policyTypes: ["Ingress", "Egress"],
          ingress: [{ ports: [{ protocol: "TCP", port }] }],
          egress: [
            { to: [{ podSelector: { matchLabels: reaches.podSelector } }], ports: [{ protocol: "TCP", port: reaches.port }] },
            dnsEgress,
          ],
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );
    return service.spec.ports.apply((ports) => ports[0]!.nodePort);
  }
}
