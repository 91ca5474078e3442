// Proves the restricted-profile checker rejects each control's violations, so a clean result for
// the stack's pods means something.
import { describe, expect, it } from "vitest";
import { checkRestricted } from "./pod-security.ts";

const compliant = () => ({
  securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: "RuntimeDefault" } },
  containers: [
    {
      name: "app",
      image: "app:1",
      ports: [{ containerPort: 5000 }],
      securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
    },
  ],
  volumes: [
    { name: "tmp", emptyDir: {} },
    { name: "data", persistentVolumeClaim: { claimName: "data" } },
  ],
});

type Spec = ReturnType<typeof compliant> & Record<string, any>;
const container = (spec: Spec) => spec.containers[0]! as Record<string, any>;

// Each case breaks a compliant pod (its spec, or with the optional fourth element its metadata).
const cases: Array<[control: string, description: string, mutate: (spec: Spec) => unknown, metadata?: object]> = [
  ["HostProcess", "pod hostProcess", (s) => Object.assign(s.securityContext, { windowsOptions: { hostProcess: true } })],
  ["HostProcess", "container hostProcess", (s) => (container(s).securityContext.windowsOptions = { hostProcess: true })],
  ["Host Namespaces", "hostNetwork", (s) => (s.hostNetwork = true)],
  ["Host Namespaces", "hostPID", (s) => (s.hostPID = true)],
  ["Host Namespaces", "hostIPC", (s) => (s.hostIPC = true)],
  ["Privileged Containers", "privileged", (s) => (container(s).securityContext.privileged = true)],
  ["Capabilities (baseline)", "SYS_ADMIN added", (s) => (container(s).securityContext.capabilities.add = ["SYS_ADMIN"])],
  ["Capabilities", "CHOWN added (baseline allows it, restricted not)", (s) => (container(s).securityContext.capabilities.add = ["CHOWN"])],
  ["Capabilities", "ALL not dropped", (s) => (container(s).securityContext.capabilities.drop = ["NET_RAW"])],
  ["HostPath Volumes", "hostPath volume", (s) => s.volumes.push({ name: "host", hostPath: { path: "/" } } as never)],
  ["Host Ports", "hostPort", (s) => (container(s).ports[0].hostPort = 8080)],
  ["AppArmor", "unconfined profile field", (s) => (container(s).securityContext.appArmorProfile = { type: "Unconfined" })],
  [
    "AppArmor",
    "unconfined annotation",
    () => undefined,
    { annotations: { "container.apparmor.security.beta.kubernetes.io/app": "unconfined" } },
  ],
  ["SELinux", "spc_t type", (s) => Object.assign(s.securityContext, { seLinuxOptions: { type: "spc_t" } })],
  ["SELinux", "custom user", (s) => (container(s).securityContext.seLinuxOptions = { user: "system_u" })],
  ["SELinux", "custom role", (s) => (container(s).securityContext.seLinuxOptions = { role: "sysadm_r" })],
  ["/proc Mount Type", "Unmasked procMount", (s) => (container(s).securityContext.procMount = "Unmasked")],
  ["Seccomp (baseline)", "Unconfined", (s) => (container(s).securityContext.seccompProfile = { type: "Unconfined" })],
  ["Seccomp", "no profile anywhere", (s) => delete (s.securityContext as Record<string, unknown>).seccompProfile],
  ["Sysctls", "unsafe sysctl", (s) => Object.assign(s.securityContext, { sysctls: [{ name: "kernel.msgmax", value: "1" }] })],
  ["Volume Types", "nfs volume", (s) => s.volumes.push({ name: "nfs", nfs: { server: "x", path: "/" } } as never)],
  ["Volume Types", "gitRepo volume", (s) => s.volumes.push({ name: "git", gitRepo: { repository: "x" } } as never)],
  ["Privilege Escalation", "unset", (s) => delete container(s).securityContext.allowPrivilegeEscalation],
  ["Privilege Escalation", "true", (s) => (container(s).securityContext.allowPrivilegeEscalation = true)],
  ["Running as Non-root", "unset everywhere", (s) => delete (s.securityContext as Record<string, unknown>).runAsNonRoot],
  ["Running as Non-root", "container false", (s) => (container(s).securityContext.runAsNonRoot = false)],
  ["Running as Non-root", "pod false", (s) => Object.assign(s.securityContext, { runAsNonRoot: false })],
  ["Running as Non-root user", "pod uid 0", (s) => Object.assign(s.securityContext, { runAsUser: 0 })],
  ["Running as Non-root user", "container uid 0", (s) => (container(s).securityContext.runAsUser = 0)],
  [
    "Privileged Containers",
    "privileged init container",
    (s) =>
      Object.assign(s, {
        initContainers: [
          { ...structuredClone(container(s)), name: "init", securityContext: { ...container(s).securityContext, privileged: true } },
        ],
      }),
  ],
  [
    "Privilege Escalation",
    "ephemeral container without hardening",
    (s) => Object.assign(s, { ephemeralContainers: [{ name: "debug", image: "busybox" }] }),
  ],
];

describe("checkRestricted", () => {
  it("accepts a compliant pod, including NET_BIND_SERVICE and container-level settings", () => {
    expect(checkRestricted(compliant())).toEqual([]);
    const spec: Spec = compliant();
    container(spec).securityContext.capabilities.add = ["NET_BIND_SERVICE"];
    container(spec).securityContext.seccompProfile = { type: "Localhost", localhostProfile: "p.json" };
    container(spec).securityContext.appArmorProfile = { type: "RuntimeDefault" };
    container(spec).securityContext.seLinuxOptions = { type: "container_t", level: "s0:c1,c2" };
    Object.assign(spec.securityContext, { sysctls: [{ name: "net.ipv4.ip_local_port_range", value: "1024 65535" }] });
    expect(checkRestricted(spec, { annotations: { "container.apparmor.security.beta.kubernetes.io/app": "runtime/default" } })).toEqual([]);
  });

  it("accepts runAsNonRoot and seccomp set on every container instead of the pod", () => {
    const spec: Spec = compliant();
    spec.securityContext = { runAsUser: 1000 } as never;
    Object.assign(container(spec).securityContext, { runAsNonRoot: true, seccompProfile: { type: "RuntimeDefault" } });
    expect(checkRestricted(spec)).toEqual([]);
  });

  it.each(cases)("flags %s: %s", (control, _description, mutate, metadata) => {
    const spec: Spec = compliant();
    mutate(spec);
    expect(checkRestricted(spec, metadata).map((v) => v.control)).toContain(control);
  });
});
