// Minikube discovery against recorded CLI output: docker driver (port-forwarded 127.0.0.1 daemon),
// VM drivers (the VM's own IP on 2376), and the failures a user meets when Minikube is not usable.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { resolveCluster } from "../../stack/cluster.ts";
import { defaults, type Settings } from "../../stack/config.ts";
import { askDaemon, checkCredentialStore, type DaemonProbe, type DockerDaemon } from "../../stack/docker-daemon.ts";
import {
  discoverDockerEnv,
  discoverNodeAddress,
  discoverProfile,
  MinikubeError,
  type MinikubeRunner,
  nodePortReachable,
  parseDockerEnv,
  parseMinikubeIp,
  parseProfile,
} from "../../stack/minikube.ts";
import { startFakeDaemon } from "./fake-docker-daemon.ts";

const fixture = (name: string) => readFileSync(new URL(`fixtures/minikube/${name}`, import.meta.url), "utf8");

/** A fake CLI: answers `profile list`, `docker-env` and `ip` from fixtures and records what it was asked. */
function recordedMinikube(answers: { profiles?: string; dockerEnv?: string; ip?: string; status?: number; stderr?: string }) {
  const calls: string[][] = [];
  const run: MinikubeRunner = (args) => {
    calls.push(args);
    if (answers.status) return { status: answers.status, stdout: "", stderr: answers.stderr ?? "" };
    const stdout = args.includes("ip")
      ? answers.ip
      : args.includes("profile")
        ? (answers.profiles ?? fixture("profile-list.json"))
        : answers.dockerEnv;
    return { status: 0, stdout: stdout ?? "", stderr: "" };
  };
  return { run, calls };
}

describe("parseDockerEnv", () => {
  it.each([
    ["docker-env.docker-driver.linux.txt", "tcp://192.168.49.2:2376", "/home/dev/.minikube/certs", "minikube"],
    ["docker-env.docker-driver.linux-rootless.txt", "tcp://127.0.0.1:32771", "/home/dev/.minikube/certs", "minikube"],
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
    expect(() => parseDockerEnv('export DOCKER_TLS_VERIFY="1"\nexport DOCKER_HOST="tcp://127.0.0.1:1"\n')).toThrow(/no DOCKER_CERT_PATH/);
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
  it("is true only where docker-env names the node's own IP, whatever this machine's OS", () => {
    expect(nodePortReachable(parseDockerEnv(fixture("docker-env.docker-driver.linux.txt")).host, "192.168.49.2")).toBe(true);
    expect(nodePortReachable(parseDockerEnv(fixture("docker-env.kvm2.linux.txt")).host, "192.168.39.187")).toBe(true);
    expect(nodePortReachable(parseDockerEnv(fixture("docker-env.hyperv.windows.txt")).host, "172.27.218.4")).toBe(true);
    // Port-forwarded: macOS, rootless Docker or Docker Desktop on Linux, WSL.
    expect(nodePortReachable(parseDockerEnv(fixture("docker-env.docker-driver.linux-rootless.txt")).host, "192.168.49.2")).toBe(false);
    expect(nodePortReachable(parseDockerEnv(fixture("docker-env.docker-driver.macos.txt")).host, "192.168.49.2")).toBe(false);
    expect(nodePortReachable("tcp://[fd00::2]:2376", "fd00::2")).toBe(true);
  });
});

describe("parseProfile", () => {
  it("reads the driver and runtime of the named profile", () => {
    expect(parseProfile(fixture("profile-list.json"), "minikube")).toEqual({ driver: "docker", runtime: "docker" });
    expect(parseProfile(fixture("profile-list.json"), "demo")).toEqual({ driver: "kvm2", runtime: "containerd" });
    expect(parseProfile(fixture("profile-list.json"), "other")).toBeUndefined();
    expect(parseProfile('{"invalid":[],"valid":[]}', "minikube")).toBeUndefined();
    expect(() => parseProfile("nothing", "minikube")).toThrow(/printed no JSON/);
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

  it("refuses a containerd profile before docker-env could start nerdctld and an ssh-agent for it", () => {
    const cli = recordedMinikube({ profiles: fixture("profile-list.containerd.json") });
    expect(() => discoverProfile("minikube", cli.run)).toThrow(
      /^Minikube profile "minikube" cannot lend its Docker daemon \(it runs the containerd container runtime\); recreate it with `minikube delete -p minikube && minikube start -p minikube --container-runtime=docker`/,
    );
    expect(cli.calls).toEqual([["-p", "minikube", "profile", "list", "-o", "json", "--light"]]);
    expect(() => discoverProfile("absent", cli.run)).toThrow(
      /^Minikube profile "absent" does not exist; start it with `minikube start -p absent --container-runtime=docker`$/,
    );
  });

  it.each([
    [
      "stopped.stderr.txt",
      89,
      /^Minikube profile "minikube" is not running \(The control-plane node minikube host is not running: state=Stopped\); start it with `minikube start -p minikube --container-runtime=docker`$/,
    ],
    [
      "stopped-with-warning.stderr.txt",
      89,
      /^Minikube profile "minikube" is not running \(The control-plane node minikube host is not running: state=Stopped\)/,
    ],
    ["profile-not-found.stderr.txt", 85, /^Minikube profile "minikube" is not running \(Profile "minikube" not found\./],
    [
      "containerd-runtime.stderr.txt",
      14,
      /^Minikube profile "minikube" cannot lend its Docker daemon \(Exiting due to MK_USAGE: .*--container-runtime=docker/,
    ],
    [
      "containerd-runtime.vm-driver.stderr.txt",
      14,
      /^Minikube profile "minikube" cannot lend its Docker daemon \(Exiting due to MK_USAGE: the docker-env command only supports the containerd runtime with the docker driver\); recreate it/,
    ],
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
    const ssh = recordedMinikube({ dockerEnv: fixture("docker-env.containerd.docker-driver.txt") });
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
  const arm64: DaemonProbe = async () => ({ Os: "linux", Arch: "arm64" });
  const noDockerConfig = { DOCKER_CONFIG: mkdtempSync(path.join(tmpdir(), "taskflow-docker-config-")), PATH: "" };
  const minikubeWith = (certPath: string, dockerEnv = "docker-env.docker-driver.linux.txt") =>
    recordedMinikube({ dockerEnv: fixture(dockerEnv).replace("/home/dev/.minikube/certs", certPath), ip: fixture("ip.docker-driver.txt") });

  it("hands over the daemon and certificate directory named by docker-env, and the daemon's own platform", async () => {
    const certPath = certs();
    const cli = minikubeWith(certPath);
    const asked: DockerDaemon[] = [];
    const target = await resolveCluster(
      settings(),
      cli.run,
      async (daemon) => {
        asked.push(daemon);
        return { Os: "linux", Arch: "arm64" };
      },
      noDockerConfig,
    );
    expect(target).toEqual({
      kubeContext: "minikube",
      daemon: { host: "tcp://192.168.49.2:2376", certPath },
      platform: "linux/arm64",
      nodeAddress: "192.168.49.2",
      nodePortReachable: true,
    });
    expect(asked).toEqual([target.daemon]);
    expect(cli.calls.map((args) => args[2])).toEqual(["profile", "docker-env", "ip"]);
  });

  it("reads nothing from DOCKER_HOST, DOCKER_CERT_PATH or DOCKER_TLS_VERIFY", async () => {
    const certPath = certs();
    const clean = await resolveCluster(settings(), minikubeWith(certPath).run, arm64, noDockerConfig);
    for (const shell of [
      { DOCKER_HOST: "tcp://127.0.0.1:1", DOCKER_CERT_PATH: certs(), DOCKER_TLS_VERIFY: "1" },
      { DOCKER_HOST: "unix:///run/user/1000/docker.sock", DOCKER_CERT_PATH: "/nonexistent", DOCKER_TLS_VERIFY: "" },
    ]) {
      expect(await resolveCluster(settings(), minikubeWith(certPath).run, arm64, { ...noDockerConfig, ...shell })).toEqual(clean);
    }
  });

  it("says when NodePorts are behind Minikube's port forward", async () => {
    const target = await resolveCluster(
      settings(),
      minikubeWith(certs(), "docker-env.docker-driver.linux-rootless.txt").run,
      arm64,
      noDockerConfig,
    );
    expect(target.nodePortReachable).toBe(false);
  });

  it("asks Minikube nothing when the config overrides it", async () => {
    const cli = recordedMinikube({});
    const target = await resolveCluster(
      settings({ dockerHost: "unix:///var/run/docker.sock", nodeAddress: "10.0.0.5", kubeContext: "kind-dev" }),
      cli.run,
      arm64,
      noDockerConfig,
    );
    expect(cli.calls).toEqual([]);
    expect(target).toEqual({
      kubeContext: "kind-dev",
      daemon: { host: "unix:///var/run/docker.sock" },
      platform: "linux/arm64",
      nodeAddress: "10.0.0.5",
      nodePortReachable: true,
    });
  });

  it("refuses a daemon without TLS while the shell holds Docker TLS variables the provider would apply to it", async () => {
    const plain = settings({ dockerHost: "unix:///var/run/docker.sock", nodeAddress: "10.0.0.5" });
    await expect(
      resolveCluster(plain, recordedMinikube({}).run, arm64, {
        ...noDockerConfig,
        DOCKER_CERT_PATH: "/home/dev/.minikube/certs",
        DOCKER_TLS_VERIFY: "1",
      }),
    ).rejects.toThrow(
      /^DOCKER_CERT_PATH and DOCKER_TLS_VERIFY are set in this shell \(e\.g\. by `eval \$\(minikube docker-env\)`\) and the Docker provider would use them for unix:\/\/\/var\/run\/docker\.sock: run `eval \$\(minikube docker-env --unset\)` or unset DOCKER_CERT_PATH DOCKER_TLS_VERIFY$/,
    );
  });

  it("refuses a DOCKER_API_VERSION the daemon does not serve, which the provider would speak without negotiating", async () => {
    const plain = settings({ dockerHost: "unix:///var/run/docker.sock", nodeAddress: "10.0.0.5" });
    // What Docker Engine 29 announces.
    const engine29: DaemonProbe = async () => ({ Os: "linux", Arch: "arm64", ApiVersion: "1.52", MinAPIVersion: "1.44" });
    const resolve = (DOCKER_API_VERSION: string | undefined, probe = engine29) =>
      resolveCluster(plain, recordedMinikube({}).run, probe, { ...noDockerConfig, DOCKER_API_VERSION });
    for (const requested of ["1.41", "1.53", "v1.60", "1.43.9"]) {
      await expect(resolve(requested)).rejects.toThrow(
        new RegExp(
          `^DOCKER_API_VERSION=${requested} is set in this shell and the Docker provider would speak only that version, ` +
            "which the Docker daemon at unix:///var/run/docker\\.sock does not serve \\(it serves 1\\.44 to 1\\.52\\): unset DOCKER_API_VERSION$",
        ),
      );
    }
    // What moby's client would send as it is (it strips only a leading "v"), and the daemon refuse.
    for (const requested of ["latest", "1.x", " 1.44"]) {
      await expect(resolve(requested)).rejects.toThrow(
        new RegExp(`^DOCKER_API_VERSION=${requested} is set .*, which is not an API version: unset DOCKER_API_VERSION$`),
      );
    }
    // Compared as the daemon compares them: dotted numbers, a missing part being 0.
    for (const accepted of [undefined, "", "1.44", "1.44.0", "1.47", "v1.52"]) {
      expect((await resolve(accepted)).platform).toBe("linux/arm64");
    }
    // A daemon that announces no range is given the benefit of the doubt.
    expect((await resolve("1.41", arm64)).platform).toBe("linux/arm64");
  });

  it("turns discovery failures into a Pulumi RunError, which Pulumi prints without a stack trace", async () => {
    const cli = recordedMinikube({ status: 89, stderr: fixture("stopped.stderr.txt") });
    await expect(resolveCluster(settings(), cli.run, arm64, noDockerConfig)).rejects.toThrow(pulumi.RunError);
  });

  it("names a missing certificate file", async () => {
    const certPath = certs();
    rmSync(path.join(certPath, "key.pem"));
    await expect(resolveCluster(settings(), minikubeWith(certPath).run, arm64, noDockerConfig)).rejects.toThrow(
      new RegExp(`^Docker TLS directory ${certPath} lacks key\\.pem$`),
    );
  });

  it("names a daemon that does not answer, or is not Linux", async () => {
    const refused: DaemonProbe = async () => {
      throw new Error("connect ECONNREFUSED 192.168.49.2:2376");
    };
    await expect(resolveCluster(settings(), minikubeWith(certs()).run, refused, noDockerConfig)).rejects.toThrow(
      /^cannot reach the Docker daemon at tcp:\/\/192\.168\.49\.2:2376: connect ECONNREFUSED/,
    );
    const windows: DaemonProbe = async () => ({ Os: "windows", Arch: "amd64" });
    await expect(resolveCluster(settings(), minikubeWith(certs()).run, windows, noDockerConfig)).rejects.toThrow(
      /runs windows\/amd64; the image needs a Linux daemon/,
    );
  });
});

describe("the Docker client configuration", () => {
  const configDir = (content: object) => {
    const dir = mkdtempSync(path.join(tmpdir(), "taskflow-docker-config-"));
    writeFileSync(path.join(dir, "config.json"), JSON.stringify(content));
    return dir;
  };
  const helperDir = () => {
    const dir = mkdtempSync(path.join(tmpdir(), "taskflow-bin-"));
    writeFileSync(path.join(dir, "docker-credential-desktop"), "#!/bin/sh\n", { mode: 0o755 });
    return dir;
  };

  it("refuses a credsStore whose helper is not on PATH, in one line saying what to do", () => {
    const DOCKER_CONFIG = configDir({ auths: {}, credsStore: "desktop" });
    expect(() => checkCredentialStore({ DOCKER_CONFIG, PATH: "/nonexistent" })).toThrow(
      new RegExp(
        `^${DOCKER_CONFIG}/config\\.json sets "credsStore": "desktop" but docker-credential-desktop is not on PATH, .*: install it, or remove the "credsStore" line$`,
      ),
    );
  });

  it("accepts a helper on PATH, no credsStore, or no config at all", () => {
    expect(() => checkCredentialStore({ DOCKER_CONFIG: configDir({ credsStore: "desktop" }), PATH: helperDir() })).not.toThrow();
    expect(() => checkCredentialStore({ DOCKER_CONFIG: configDir({ credHelpers: { "gcr.io": "gcloud" } }), PATH: "" })).not.toThrow();
    expect(() => checkCredentialStore({ DOCKER_CONFIG: mkdtempSync(path.join(tmpdir(), "taskflow-empty-")), PATH: "" })).not.toThrow();
  });
});

describe("probeDaemon", () => {
  it("asks a TLS daemon for its version with the client certificate, as Docker's client does", async () => {
    const daemon = await startFakeDaemon({ Os: "linux", Arch: "arm64" });
    try {
      expect(await askDaemon({ host: daemon.host, certPath: daemon.certPath })).toMatchObject({ Os: "linux", Arch: "arm64" });
      expect(daemon.requests).toEqual(["/version"]);
      // Without the client certificate the daemon refuses the handshake.
      await expect(askDaemon({ host: daemon.host })).rejects.toThrow(/^cannot reach the Docker daemon at tcp:\/\/127\.0\.0\.1:\d+: /);
    } finally {
      await daemon.close();
    }
  });
});
