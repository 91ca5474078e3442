// The dev stack with taskflow:monitoring turned on: every invariant of any stack, and what the
// Monitoring component must add: Prometheus scraping each API pod through DNS (no API token),
// Grafana provisioned from the repository, bounded storage, and NetworkPolicies that let each reach
// only what it needs.
import { readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";
import { alertRules, dashboardJson, grafanaDatasources, prometheusConfig, retention } from "../../stack/monitoring.ts";
import { deployNamedClusterStack, devStackConfig, unwrap } from "./harness.ts";
import { describeStackInvariants } from "./invariants.ts";

const deployMonitoringStack = () =>
  deployNamedClusterStack({
    ...devStackConfig(),
    "taskflow:monitoring": "true",
    "taskflow:dockerHost": "unix:///var/run/docker.sock",
    "taskflow:nodeAddress": "192.168.49.2",
  });

const stack = describeStackInvariants(deployMonitoringStack);

const objects = (type: string) =>
  stack()
    .resources.filter((r) => r.type === type)
    .map((r) => ({ ...unwrap(r.inputs), metadata: unwrap(r.state.metadata) }));
const named = (type: string, name: string) => objects(type).find((o) => o.metadata.name === name);
const deployment = (name: string) => named("kubernetes:apps/v1:Deployment", name);
const pod = (name: string) => deployment(name).spec.template.spec;
const configMapOf = (volumeOwner: string, volume: string) => {
  const source = pod(volumeOwner).volumes.find((v: any) => v.name === volume).configMap;
  return named("kubernetes:core/v1:ConfigMap", source.name).data;
};
const mountPaths = (name: string) =>
  Object.fromEntries(
    pod(name).containers[0].volumeMounts.map((m: any) => [m.mountPath, pod(name).volumes.find((v: any) => v.name === m.name)]),
  );
const apiSelector = () => deployment("taskflow-api").spec.selector.matchLabels;

describe("the dev stack with monitoring", () => {
  // tests/stack/dev-stack.test.ts lists every resource of the same stack without monitoring.
  it("adds exactly the Monitoring component's resources", () => {
    const added = stack()
      .resources.filter(
        (r) =>
          r.type === "taskflow:stack:Monitoring" ||
          r.name.startsWith("grafana") ||
          r.name.startsWith("prometheus") ||
          r.name === "taskflow-api-pods",
      )
      .map((r) => `${r.type} ${r.name}`)
      .sort();
    expect(added).toEqual(
      [
        "taskflow:stack:Monitoring monitoring",
        "random:index/randomPassword:RandomPassword grafana-admin-password",
        "kubernetes:core/v1:Service taskflow-api-pods",
        "kubernetes:core/v1:ConfigMap prometheus-config",
        "kubernetes:apps/v1:Deployment prometheus",
        "kubernetes:core/v1:Service prometheus",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy prometheus",
        "kubernetes:core/v1:Secret grafana-admin",
        "kubernetes:core/v1:ConfigMap grafana-provisioning",
        "kubernetes:apps/v1:Deployment grafana",
        "kubernetes:core/v1:Service grafana",
        "kubernetes:networking.k8s.io/v1:NetworkPolicy grafana",
      ].sort(),
    );
  });

  it("discovers every API pod, ready or not, through a headless Service's DNS records", () => {
    const headless = named("kubernetes:core/v1:Service", "taskflow-api-pods");
    expect(headless.spec).toMatchObject({ clusterIP: "None", publishNotReadyAddresses: true, selector: apiSelector() });
    const apiPort = deployment("taskflow-api").spec.template.spec.containers[0].ports[0].containerPort;
    expect(headless.spec.ports).toEqual([{ name: "http", port: apiPort, targetPort: "http", protocol: "TCP" }]);

    const rendered = configMapOf("prometheus", "config");
    expect(rendered["prometheus.yml"]).toBe(prometheusConfig({ namespace: "taskflow", apiPort }));
    const config = load(rendered["prometheus.yml"]) as any;
    expect(config.scrape_configs).toHaveLength(1);
    const [job] = config.scrape_configs;
    expect(job.job_name).toBe("taskflow-api");
    expect(job.kubernetes_sd_configs).toBeUndefined();
    expect(job.dns_sd_configs).toEqual([{ names: ["taskflow-api-pods.taskflow.svc"], type: "A", port: apiPort, refresh_interval: "15s" }]);
    // No pod in the namespace holds a Kubernetes API token (the invariants check every pod's automount too).
    expect(stack().resources.some((r) => /ServiceAccount|Role/.test(r.type))).toBe(false);
  });

  it("loads the rules with the autoscaler's maximum from the stack's settings", () => {
    const rendered = configMapOf("prometheus", "config");
    expect(rendered["alerts.yml"]).toBe(alertRules({ hpaMaxReplicas: 10 }));
    expect(rendered["alerts.yml"]).toContain('count(up{job="taskflow-api"}) >= 10');
    expect(alertRules({})).not.toContain("TaskflowAutoscalerAtMaximum");
    expect(alertRules({})).not.toContain("HPA_MAX_REPLICAS");
  });

  it("bounds Prometheus' storage by time and size on an emptyDir with a size limit", () => {
    const container = pod("prometheus").containers[0];
    expect(container.args).toEqual(
      expect.arrayContaining([
        `--storage.tsdb.retention.time=${retention.time}`,
        `--storage.tsdb.retention.size=${retention.size}`,
        "--storage.tsdb.path=/prometheus",
        "--config.file=/etc/prometheus/taskflow/prometheus.yml",
      ]),
    );
    expect(mountPaths("prometheus")["/prometheus"]).toEqual({ name: "data", emptyDir: { sizeLimit: retention.volume } });
    expect(mountPaths("prometheus")["/etc/prometheus/taskflow"].configMap).toBeDefined();
    expect(pod("prometheus").securityContext).toMatchObject({ runAsUser: 65534, fsGroup: 65534 });
  });

  it("gives every path the images write an emptyDir, over a read-only root", () => {
    const written: Array<[string, string[]]> = [
      ["prometheus", ["/prometheus"]],
      ["grafana", ["/var/lib/grafana", "/var/log/grafana", "/tmp"]],
    ];
    for (const [name, writable] of written) {
      const mounts = mountPaths(name);
      for (const path of writable) expect(mounts[path]?.emptyDir, `${name} ${path}`).toBeDefined();
      for (const mount of pod(name).containers[0].volumeMounts) {
        if (!writable.includes(mount.mountPath)) expect(mount.readOnly, `${name} ${mount.mountPath}`).toBe(true);
      }
      expect(pod(name).containers[0].resources.limits).toBeDefined();
    }
  });

  it("provisions Grafana's data source and the repository's dashboard, byte for byte", () => {
    expect(configMapOf("grafana", "dashboards")["taskflow.json"]).toBe(
      readFileSync(new URL("../../stack/monitoring/taskflow-dashboard.json", import.meta.url), "utf8"),
    );
    expect(configMapOf("grafana", "dashboards")["taskflow.json"]).toBe(dashboardJson());
    const datasources = configMapOf("grafana", "datasources")["datasources.yaml"];
    expect(datasources).toBe(grafanaDatasources());
    const [source] = (load(datasources) as any).datasources;
    const prometheusService = named("kubernetes:core/v1:Service", "prometheus");
    expect(source.url).toBe(`http://${prometheusService.metadata.name}:${prometheusService.spec.ports[0].port}`);
    const dashboard = JSON.parse(dashboardJson());
    for (const panel of dashboard.panels) expect(panel.datasource.uid, panel.title).toBe(source.uid);

    const providers = (load(configMapOf("grafana", "dashboard-providers")["dashboards.yaml"]) as any).providers;
    expect(mountPaths("grafana")[providers[0].options.path].configMap.items).toEqual([{ key: "taskflow.json", path: "taskflow.json" }]);
    expect(Object.keys(mountPaths("grafana"))).toEqual(
      expect.arrayContaining(["/etc/grafana/provisioning/datasources", "/etc/grafana/provisioning/dashboards"]),
    );
    expect(pod("grafana").securityContext).toMatchObject({ runAsUser: 472, fsGroup: 472 });
  });

  it("keeps Grafana's admin password in its Secret, read from a file, and lets anonymous visitors only view", () => {
    const env = Object.fromEntries(pod("grafana").containers[0].env.map((e: any) => [e.name, e.value]));
    expect(Object.keys(env).filter((name) => /PASSWORD/.test(name))).toEqual(["GF_SECURITY_ADMIN_PASSWORD__FILE"]);
    const file = env.GF_SECURITY_ADMIN_PASSWORD__FILE as string;
    const directory = file.slice(0, file.lastIndexOf("/"));
    const volume = mountPaths("grafana")[directory];
    const secret = named("kubernetes:core/v1:Secret", volume.secret.secretName);
    const password = stack().resources.find((r) => r.name === "grafana-admin-password")!.state.result;
    expect(secret.stringData[file.slice(directory.length + 1)]).toBe(password);
    expect([env.GF_AUTH_ANONYMOUS_ENABLED, env.GF_AUTH_ANONYMOUS_ORG_ROLE]).toEqual(["true", "Viewer"]);
    expect(env.GF_PLUGINS_PREINSTALL_DISABLED).toBe("true");
    expect(stack().outputs.grafanaAdminPassword).toEqual({ value: password, secret: true });
  });

  it("lets Prometheus reach only the API pods' port and Grafana only Prometheus (and both DNS)", () => {
    const dns = {
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
    const policy = (name: string) => named("kubernetes:networking.k8s.io/v1:NetworkPolicy", name).spec;
    const prometheus = policy("prometheus");
    expect(prometheus.podSelector.matchLabels).toEqual(deployment("prometheus").spec.selector.matchLabels);
    expect(prometheus.policyTypes).toEqual(["Ingress", "Egress"]);
    expect(prometheus.ingress).toEqual([{ ports: [{ protocol: "TCP", port: 9090 }] }]);
    expect(prometheus.egress).toEqual([
      { to: [{ podSelector: { matchLabels: apiSelector() } }], ports: [{ protocol: "TCP", port: 5000 }] },
      dns,
    ]);
    const grafana = policy("grafana");
    expect(grafana.podSelector.matchLabels).toEqual(deployment("grafana").spec.selector.matchLabels);
    expect(grafana.ingress).toEqual([{ ports: [{ protocol: "TCP", port: 3000 }] }]);
    expect(grafana.egress).toEqual([
      {
        to: [{ podSelector: { matchLabels: deployment("prometheus").spec.selector.matchLabels } }],
        ports: [{ protocol: "TCP", port: 9090 }],
      },
      dns,
    ]);
    // The API pods themselves get no new policy: their NodePort stays open as before.
    const policies = objects("kubernetes:networking.k8s.io/v1:NetworkPolicy")
      .map((p) => p.metadata.name)
      .sort();
    expect(policies).toEqual(["grafana", "postgres-clients", "prometheus", "redis-clients"]);
  });

  it("reaches Grafana and Prometheus through NodePorts, like the API", () => {
    for (const [name, port] of [
      ["grafana", 3000],
      ["prometheus", 9090],
    ] as const) {
      const service = named("kubernetes:core/v1:Service", name);
      expect(service.spec.type).toBe("NodePort");
      expect(service.spec.ports).toEqual([{ name: "http", port, targetPort: "http", protocol: "TCP" }]);
    }
    expect(stack().outputs.grafanaUrl).toEqual({ value: "http://192.168.49.2:31500", secret: false });
    expect(stack().outputs.prometheusUrl).toEqual({ value: "http://192.168.49.2:31500", secret: false });
  });
});
