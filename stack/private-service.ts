// A backing service's network face: a ClusterIP Service under a stable name, and a NetworkPolicy
// that admits only the client pods to its port.
import * as k8s from "@pulumi/kubernetes";
import type * as pulumi from "@pulumi/pulumi";

export interface PrivateServiceArgs {
  namespace: pulumi.Input<string>;
  /** The Service's name, which clients use as host name; also its port's name on the pod. */
  host: string;
  portName: string;
  port: number;
  labels: Record<string, string>;
  selector: Record<string, string>;
  /** Labels of the only pods allowed to connect. */
  clients: Record<string, string>;
}

export function privateService(name: string, args: PrivateServiceArgs, parent: pulumi.Resource): void {
  const { namespace, host, port, labels, selector } = args;
  new k8s.core.v1.Service(
    name,
    {
      metadata: { name: host, namespace, labels },
      spec: { selector, ports: [{ name: args.portName, port, targetPort: args.portName, protocol: "TCP" }] },
    },
    { parent, deleteBeforeReplace: true },
  );
  new k8s.networking.v1.NetworkPolicy(
    `${name}-clients`,
    {
      metadata: { name: `${host}-clients`, namespace, labels },
      spec: {
        podSelector: { matchLabels: selector },
        policyTypes: ["Ingress"],
        ingress: [{ from: [{ podSelector: { matchLabels: args.clients } }], ports: [{ protocol: "TCP", port }] }],
      },
    },
    { parent, deleteBeforeReplace: true },
  );
}
