// Pod building blocks every workload shares: labels and the hardening that keeps each pod within
// the Pod Security Standards "restricted" profile, which the namespace also enforces.
import type * as k8s from "@pulumi/kubernetes";

type PodSpec = k8s.types.input.core.v1.PodSpec;
type Container = k8s.types.input.core.v1.Container;
type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;
type SecurityContext = k8s.types.input.core.v1.SecurityContext;
type Volume = k8s.types.input.core.v1.Volume;
type VolumeMount = k8s.types.input.core.v1.VolumeMount;

/** The selector labels of one workload; also what NetworkPolicies use to name its pods. */
export function selectorLabels(name: string): Record<string, string> {
  return { "app.kubernetes.io/name": name, "app.kubernetes.io/part-of": "taskflow" };
}

export function workloadLabels(name: string, component: string): Record<string, string> {
  return { ...selectorLabels(name), "app.kubernetes.io/component": component, "app.kubernetes.io/managed-by": "pulumi" };
}

/** Pod-level context for an image whose process runs as `uid` (its own numeric user). */
function podSecurityContext(uid: number): PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    // The kubelet hands volumes that support ownership management (emptyDir, Secret, block
    // devices, CSI volumes whose driver's fsGroupPolicy allows it) to this group, writable ones
    // group-writable. It never does so for hostPath-backed volumes (kubernetes/kubernetes#138411):
    // PostgreSQL's fresh claim is writable on Minikube only because its storage-provisioner
    // creates each hostPath PV with mode 0777. A root init container to chown it would break the
    // restricted profile; on a cluster whose default class hands out root-owned hostPath PVs, set
    // taskflow:postgresStorageClass to a class whose volumes honour fsGroup.
    fsGroup: uid,
    fsGroupChangePolicy: "OnRootMismatch",
    seccompProfile: { type: "RuntimeDefault" },
  };
}

const containerSecurityContext: SecurityContext = {
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  capabilities: { drop: ["ALL"] },
  seccompProfile: { type: "RuntimeDefault" },
};

/** Settings every pod shares; no workload here talks to the Kubernetes API. */
const podDefaults = {
  automountServiceAccountToken: false,
  // Service links would inject e.g. REDIS_PORT=tcp://10.96.0.7:6379, clashing with app settings.
  enableServiceLinks: false,
} satisfies Partial<PodSpec>;

/**
 * A pod spec within the restricted profile, for an image whose process runs as `uid`: the shared
 * defaults, the pod security context, and the hardened context on every container.
 */
export function hardenedPodSpec(uid: number, spec: Omit<PodSpec, "containers"> & { containers: Container[] }): PodSpec {
  return {
    ...podDefaults,
    securityContext: podSecurityContext(uid),
    ...spec,
    containers: spec.containers.map((container) => ({ ...container, securityContext: containerSecurityContext })),
  };
}

/** Writable emptyDirs over a read-only root file system, one per path: `{ name: mountPath }`. */
export function scratchDirectories(mounts: Record<string, string>) {
  const entries = Object.entries(mounts);
  return {
    volumes: entries.map(([name]): Volume => ({ name, emptyDir: {} })),
    volumeMounts: entries.map(([name, mountPath]): VolumeMount => ({ name, mountPath })),
  };
}
