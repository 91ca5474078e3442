// A stack without autoscaling, pointed at another cluster: its own kube context, a plain local
// Docker socket, an IPv6 node address and no preStop delay.
import { describe, expect, it } from "vitest";
import { deployNamedClusterStack, devStackConfig, unwrap } from "./harness.ts";
import { describeStackInvariants } from "./invariants.ts";

const deployFixedStack = () =>
  deployNamedClusterStack({
    ...devStackConfig(),
    "taskflow:autoscaling": "false",
    "taskflow:apiReplicas": "3",
    "taskflow:preStopSeconds": "0",
    "taskflow:kubeContext": "kind-taskflow",
    "taskflow:dockerHost": "unix:///var/run/docker.sock",
    "taskflow:nodeAddress": "fd00::5",
  });

const stack = describeStackInvariants(deployFixedStack);

describe("a stack without autoscaling on another cluster", () => {
  it("runs a fixed replica count and no autoscaler", () => {
    expect(stack().resources.some((r) => r.type.includes("HorizontalPodAutoscaler"))).toBe(false);
    const api = stack().resources.find((r) => r.type === "kubernetes:apps/v1:Deployment" && r.name === "taskflow-api")!;
    expect(unwrap(api.inputs).spec.replicas).toBe(3);
    expect(unwrap(api.inputs).spec.template.spec.containers[0].lifecycle).toBeUndefined();
  });

  it("builds on the configured daemon without TLS and brackets the IPv6 address in the url", () => {
    const daemon = stack().resources.find((r) => r.type === "pulumi:providers:docker")!.inputs;
    expect(daemon.host).toBe("unix:///var/run/docker.sock");
    expect(daemon.certPath).toBeUndefined();
    expect(stack().outputs.url.value).toBe("http://[fd00::5]:31500");
  });
});
