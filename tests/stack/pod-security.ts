// Kubernetes Pod Security Standards, "restricted" profile (which includes "baseline"), as listed at
// https://kubernetes.io/docs/concepts/security/pod-security-standards/ for the latest version.
// Each control checks what the standard restricts, not just the fields our stack happens to set.

// Specs arrive as plain JSON from the mocks, and violating specs in tests must be expressible.
type Json = any;

export interface Violation {
  control: string;
  path: string;
  message: string;
}

const baselineCapabilities = new Set([
  "AUDIT_WRITE",
  "CHOWN",
  "DAC_OVERRIDE",
  "FOWNER",
  "FSETID",
  "KILL",
  "MKNOD",
  "NET_BIND_SERVICE",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_CHROOT",
]);
const safeSysctls = new Set([
  "kernel.shm_rmid_forced",
  "net.ipv4.ip_local_port_range",
  "net.ipv4.ip_unprivileged_port_start",
  "net.ipv4.tcp_syncookies",
  "net.ipv4.ping_group_range",
  "net.ipv4.ip_local_reserved_ports",
  "net.ipv4.tcp_keepalive_time",
  "net.ipv4.tcp_fin_timeout",
  "net.ipv4.tcp_keepalive_intvl",
  "net.ipv4.tcp_keepalive_probes",
]);
const seLinuxTypes = new Set(["", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"]);
const restrictedVolumeTypes = new Set([
  "configMap",
  "csi",
  "downwardAPI",
  "emptyDir",
  "ephemeral",
  "persistentVolumeClaim",
  "projected",
  "secret",
]);

function containersOf(spec: Json): Array<{ path: string; container: Json }> {
  return (["initContainers", "containers", "ephemeralContainers"] as const).flatMap((field) =>
    (spec?.[field] ?? []).map((container: Json, i: number) => ({ path: `spec.${field}[${i}]`, container })),
  );
}

/** Every violation of the restricted profile in one pod (spec plus metadata, for annotations). */
export function checkRestricted(spec: Json, metadata: Json = {}): Violation[] {
  const violations: Violation[] = [];
  const fail = (control: string, path: string, message: string) => violations.push({ control, path, message });
  const pod = spec?.securityContext ?? {};
  const containers = containersOf(spec);
  const contexts = [
    { path: "spec.securityContext", context: pod },
    ...containers.map(({ path, container }) => ({ path: `${path}.securityContext`, context: container.securityContext ?? {} })),
  ];

  // ---- baseline ----
  for (const { path, context } of contexts) {
    if (context.windowsOptions?.hostProcess === true) fail("HostProcess", `${path}.windowsOptions.hostProcess`, "must not be true");
  }
  for (const field of ["hostNetwork", "hostPID", "hostIPC"]) {
    if (spec?.[field] === true) fail("Host Namespaces", `spec.${field}`, "must not be true");
  }
  for (const { path, container } of containers) {
    const context = container.securityContext ?? {};
    if (context.privileged === true) fail("Privileged Containers", `${path}.securityContext.privileged`, "must not be true");
    for (const capability of context.capabilities?.add ?? []) {
      if (!baselineCapabilities.has(capability)) {
        fail("Capabilities (baseline)", `${path}.securityContext.capabilities.add`, `${capability} is not in the baseline set`);
      }
    }
    for (const [i, port] of (container.ports ?? []).entries()) {
      if (port.hostPort !== undefined && port.hostPort !== 0) fail("Host Ports", `${path}.ports[${i}].hostPort`, "must be unset or 0");
    }
    if (context.procMount !== undefined && context.procMount !== "Default") {
      fail("/proc Mount Type", `${path}.securityContext.procMount`, "must be unset or Default");
    }
  }
  for (const [i, volume] of (spec?.volumes ?? []).entries()) {
    if (volume.hostPath !== undefined) fail("HostPath Volumes", `spec.volumes[${i}].hostPath`, "must not be used");
  }
  for (const { path, context } of contexts) {
    const appArmor = context.appArmorProfile?.type;
    if (appArmor !== undefined && appArmor !== "RuntimeDefault" && appArmor !== "Localhost") {
      fail("AppArmor", `${path}.appArmorProfile.type`, `${appArmor} is not RuntimeDefault or Localhost`);
    }
    const seLinux = context.seLinuxOptions ?? {};
    if (seLinux.type !== undefined && !seLinuxTypes.has(seLinux.type)) {
      fail("SELinux", `${path}.seLinuxOptions.type`, `${seLinux.type} is not an allowed type`);
    }
    for (const field of ["user", "role"]) {
      if (seLinux[field] !== undefined && seLinux[field] !== "") fail("SELinux", `${path}.seLinuxOptions.${field}`, "must be unset");
    }
    if (context.seccompProfile?.type === "Unconfined") fail("Seccomp (baseline)", `${path}.seccompProfile.type`, "must not be Unconfined");
  }
  for (const [key, value] of Object.entries<string>(metadata?.annotations ?? {})) {
    if (
      key.startsWith("container.apparmor.security.beta.kubernetes.io/") &&
      value !== "runtime/default" &&
      !value.startsWith("localhost/")
    ) {
      fail("AppArmor", `metadata.annotations["${key}"]`, `${value} is not runtime/default or localhost/*`);
    }
  }
  for (const [i, sysctl] of (pod.sysctls ?? []).entries()) {
    if (!safeSysctls.has(sysctl.name)) fail("Sysctls", `spec.securityContext.sysctls[${i}]`, `${sysctl.name} is not a safe sysctl`);
  }

  // ---- restricted ----
  for (const [i, volume] of (spec?.volumes ?? []).entries()) {
    const types = Object.keys(volume).filter((key) => key !== "name");
    for (const type of types) {
      if (!restrictedVolumeTypes.has(type)) fail("Volume Types", `spec.volumes[${i}].${type}`, `${type} volumes are not allowed`);
    }
  }
  for (const { path, container } of containers) {
    const context = container.securityContext ?? {};
    if (context.allowPrivilegeEscalation !== false) {
      fail("Privilege Escalation", `${path}.securityContext.allowPrivilegeEscalation`, "must be false");
    }
    if (context.runAsNonRoot === false || (context.runAsNonRoot !== true && pod.runAsNonRoot !== true)) {
      fail("Running as Non-root", `${path}.securityContext.runAsNonRoot`, "must be true here or at pod level, and never false");
    }
    const seccomp = context.seccompProfile?.type ?? pod.seccompProfile?.type;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost") {
      fail("Seccomp", `${path}.securityContext.seccompProfile.type`, "must be RuntimeDefault or Localhost here or at pod level");
    }
    if (!(context.capabilities?.drop ?? []).includes("ALL")) {
      fail("Capabilities", `${path}.securityContext.capabilities.drop`, "must include ALL");
    }
    for (const capability of context.capabilities?.add ?? []) {
      if (capability !== "NET_BIND_SERVICE")
        fail("Capabilities", `${path}.securityContext.capabilities.add`, `${capability} may not be added`);
    }
  }
  if (pod.runAsNonRoot === false) fail("Running as Non-root", "spec.securityContext.runAsNonRoot", "must not be false");
  for (const { path, context } of contexts) {
    if (context.runAsUser === 0) fail("Running as Non-root user", `${path}.runAsUser`, "must not be 0");
  }
  return violations;
}
