// Minikube discovery against recorded CLI output: docker driver (port-forwarded 127.0.0.1 daemon),
// VM drivers (the VM's own IP on 2376), and the failures a user meets when Minikube is not usable.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { readTlsMaterial, resolveCluster } from "../../stack/cluster.ts";
import { defaults, type Settings } from "../../stack/config.ts";
import {
  discoverDockerEnv,
  discoverNodeAddress,
  MinikubeError,
  nodePortReachable,
  parseDockerEnv,
  parseMinikubeIp,
  type MinikubeRunner,
} from "../../stack/minikube.ts";

const fixture = (name: string) => readFileSync(new URL(`fixtures/minikube/${name}`, import.meta.url), "utf8");

/** A fake CLI: answers `docker-env` and `ip` from fixtures and records what it was asked. */
function recordedMinikube(answers: { dockerEnv?: string; ip?: string; status?: number; stderr?: string }) {
  const calls: string[][] = [];
  const run: MinikubeRunner = (args) => {
    calls.push(args);
    if (answers.status) return { status: answers.status, stdout: "", stderr: answers.stderr ?? "" };
    return { status: 0, stdout: (args.includes("ip") ? answers.ip : answers.dockerEnv) ?? "", stderr: "" };
  };
  return { run, calls };
}

describe("parseDockerEnv", () => {
  it.each([
    ["docker-env.docker-driver.linux.txt", "tcp://127.0.0.1:32771", "/home/dev/.minikube/certs", "minikube"],
    ["docker-env.docker-driver.macos.txt", "tcp://127.0.0.1:57628", "/Users/dev/.minikube/certs", "minikube"],
    ["docker-env.kvm2.linux.txt", "tcp://192.168.39.187:2376", "/home/dev/.minikube/certs", "minikube"],
    ["docker-env.hyperv.windows.txt", "tcp://172.27.218.4:2376", "C:\\Users\\dev\\.minikube\\certs", "demo"],
  ])("reads %s", (file, host, certPath, profile) => {
    expect(parseDockerEnv(fixture(file))).toEqual({ host, tlsVerify: true, certPath, profile });
  });

  it("reads `--shell none` output and a daemon without TLS", () => {
    expect(parseDockerEnv("DOCKER_HOST=unix:///var/run/docker.sock\n")).toEqual({
      host: "unix:///var/run/docker.sock",
      tlsVerify: false,
      certPath: undefined,
      profile: undefined,
    });
  });

  it("rejects output without DOCKER_HOST, or TLS without certificates", () => {
    expect(() => parseDockerEnv("# nothing\n")).toThrow(/no DOCKER_HOST/);
    expect(() => parseDockerEnv('export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="tcp://127.0.0.1:1"\n')).toThrow(
      /no DOCKER_CERT_PATH/,
    );
  });
});

describe("parseMinikubeIp", () => {
  it.each([
    ["ip.docker-driver.txt", "192.168.49.2"],
    ["ip.kvm2.txt", "192.168.39.187"],
    ["ip.hyperv.txt", "172.27.218.4"],
  ])("reads %s", (file, address) => expect(parseMinikubeIp(fixture(file))).toBe(address));

  it("rejects anything else", () => {
    expect(() => parseMinikubeIp("")).toThrow(MinikubeError);
    expect(() => parseMinikubeIp("999.1.1.1\n")).toThrow(/no IP address/);
  });
});

describe("nodePortReachable", () => {
  it("is false only for the docker driver on macOS and Windows", () => {
    expect(nodePortReachable("tcp://127.0.0.1:57628", "darwin")).toBe(false);
    expect(nodePortReachable("tcp://127.0.0.1:57628", "win32")).toBe(false);
    expect(nodePortReachable("tcp://127.0.0.1:32771", "linux")).toBe(true);
    expect(nodePortReachable("tcp://192.168.64.5:2376", "darwin")).toBe(true);
  });
});

describe("discovery through the minikube CLI", () => {
  it("asks the named profile, in bash syntax, and returns its daemon and node address", () => {
    const cli = recordedMinikube({ dockerEnv: fixture("docker-env.kvm2.linux.txt"), ip: fixture("ip.kvm2.txt") });
    expect(discoverDockerEnv("minikube", cli.run).host).toBe("tcp://192.168.39.187:2376");
    expect(discoverNodeAddress("minikube", cli.run)).toBe("192.168.39.187");
    expect(cli.calls).toEqual([
      ["-p", "minikube", "docker-env", "--shell", "bash"],
      ["-p", "minikube", "ip"],
    ]);
  });

  it.each([
    ["stopped.stderr.txt", 89, /^Minikube profile "minikube" is not running \(The control-plane node minikube host is not running: state=Stopped\); start it with `minikube start -p minikube --container-runtime=docker`$/],
    ["stopped-with-warning.stderr.txt", 89, /^Minikube profile "minikube" is not running \(The control-plane node minikube host is not running: state=Stopped\)/],
    ["profile-not-found.stderr.txt", 85, /^Minikube profile "minikube" is not running \(Profile "minikube" not found\./],
    ["containerd-runtime.stderr.txt", 14, /^Minikube profile "minikube" cannot lend its Docker daemon \(Exiting due to MK_USAGE: .*--container-runtime=docker/],
  ])("fails with one clear line when %s", (file, status, message) => {
    const cli = recordedMinikube({ status, stderr: fixture(file) });
    const error = (() => {
      try {
        discoverDockerEnv("minikube", cli.run);
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error).toBeInstanceOf(MinikubeError);
    expect(error!.message).toMatch(message);
    expect(error!.message).not.toContain("\n");
  });

  it("says so when minikube is not installed", () => {
    const enoent = Object.assign(new Error("spawnSync minikube ENOENT"), { code: "ENOENT" });
    expect(() => discoverDockerEnv("minikube", () => ({ status: null, stdout: "", stderr: "", error: enoent }))).toThrow(
      /^minikube is not installed or not on PATH/,
    );
  });

  it("refuses a daemon it cannot drive and output for another profile", () => {
    const ssh = recordedMinikube({ dockerEnv: 'export DOCKER_HOST="ssh://docker@127.0.0.1:32772"\n' });
    expect(() => discoverDockerEnv("minikube", ssh.run)).toThrow(/--container-runtime=docker/);
    const other = recordedMinikube({ dockerEnv: fixture("docker-env.hyperv.windows.txt") });
    expect(() => discoverDockerEnv("minikube", other.run)).toThrow(/describes profile "demo"/);
  });
});

describe("resolveCluster", () => {
  const settings = (overrides: Partial<Settings> = {}): Settings => ({ ...defaults, kubeContext: "minikube", ...overrides });
  const certs = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "taskflow-certs-"));
    for (const file of ["ca.pem", "cert.pem", "key.pem"]) writeFileSync(path.join(dir, file), `${file} content`);
    return dir;
  };

  it("loads the TLS material named by docker-env", () => {
    const certPath = certs();
    const env = fixture("docker-env.docker-driver.linux.txt").replace("/home/dev/.minikube/certs", certPath);
    const cli = recordedMinikube({ dockerEnv: env, ip: fixture("ip.docker-driver.txt") });
    expect(resolveCluster(settings(), cli.run)).toEqual({
      kubeContext: "minikube",
      daemon: { host: "tcp://127.0.0.1:32771", tls: { ca: "ca.pem content", cert: "cert.pem content", key: "key.pem content" } },
      nodeAddress: "192.168.49.2",
      nodePortReachable: nodePortReachable("tcp://127.0.0.1:32771", process.platform),
    });
  });

  it("asks Minikube nothing when the config overrides it", () => {
    const cli = recordedMinikube({});
    const target = resolveCluster(
      settings({ dockerHost: "unix:///var/run/docker.sock", nodeAddress: "10.0.0.5", kubeContext: "kind-dev" }),
      cli.run,
    );
    expect(cli.calls).toEqual([]);
    expect(target).toMatchObject({ kubeContext: "kind-dev", daemon: { host: "unix:///var/run/docker.sock" }, nodeAddress: "10.0.0.5" });
    expect(target.daemon.tls).toBeUndefined();
  });

  it("turns discovery failures into a Pulumi RunError, which Pulumi prints without a stack trace", () => {
    const cli = recordedMinikube({ status: 89, stderr: fixture("stopped.stderr.txt") });
    expect(() => resolveCluster(settings(), cli.run)).toThrow(pulumi.RunError);
  });

  it("names a missing certificate file", () => {
    expect(() => readTlsMaterial("/nonexistent/certs")).toThrow(/cannot read Docker TLS material .*ca\.pem/);
  });
});
