// Redis as a disposable LRU cache (no persistence), password-protected, reachable as Service
// `redis` and only from the pods named in `clients`.
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Resources } from "./config.ts";
import { hardenedPodSpec, scratchDirectories, selectorLabels, workloadLabels } from "./pod.ts";
import { privateService } from "./private-service.ts";

export interface CacheArgs {
  namespace: pulumi.Input<string>;
  /** An official redis Debian image (its redis user is uid 999). */
  image: string;
  password: pulumi.Input<string>;
  maxMemory: string;
  maxMemoryPolicy: string;
  resources: Resources;
  clients: Record<string, string>;
}

const redisUid = 999;
const port = 6379;

/**
 * One redis.conf argument holding exactly `value`: double-quoted, escaped as Redis' own sdscatrepr
 * writes strings for its config parser (sdssplitargs) to read back. `\` and `"` take a backslash;
 * every other byte outside printable ASCII becomes \xHH, so line breaks cannot end the line. Any
 * user-set password then works, spaces, quotes and backslashes included.
 */
export function redisConfigString(value: string): string {
  let quoted = "";
  for (const byte of Buffer.from(value, "utf8")) {
    if (byte === 0x22 || byte === 0x5c) quoted += `\\${String.fromCharCode(byte)}`;
    else if (byte >= 0x20 && byte < 0x7f) quoted += String.fromCharCode(byte);
    else quoted += `\\x${byte.toString(16).padStart(2, "0")}`;
  }
  return `"${quoted}"`;
}

/** The file Redis --includes: the password as its parser reads it back. */
export function redisAuthConf(password: string): string {
  return `requirepass ${redisConfigString(password)}\n`;
}

export class Cache extends pulumi.ComponentResource {
  static readonly host = "redis";
  static readonly port = port;

  constructor(name: string, args: CacheArgs, opts?: pulumi.ComponentResourceOptions) {
    super("taskflow:stack:Cache", name, {}, opts);
    const { namespace } = args;
    const labels = workloadLabels(Cache.host, "cache");
    const selector = selectorLabels(Cache.host);

    // requirepass lives in a mounted file, not in argv, where `ps` and the pod spec would show it.
    const credentials = new k8s.core.v1.Secret(
      `${name}-credentials`,
      {
        metadata: { namespace, labels },
        stringData: {
          "auth.conf": pulumi.output(args.password).apply(redisAuthConf),
          // redis-cli reads REDISCLI_AUTH, which keeps the probe's password out of argv too.
          password: args.password,
        },
      },
      { parent: this },
    );

    const scratch = scratchDirectories({ data: "/data", tmp: "/tmp" });
    new k8s.apps.v1.Deployment(
      name,
      {
        metadata: { name: Cache.host, namespace, labels },
        spec: {
          replicas: 1,
          selector: { matchLabels: selector },
          template: {
            metadata: { labels },
            spec: hardenedPodSpec(redisUid, {
              containers: [
                {
                  name: "redis",
                  image: args.image,
                  imagePullPolicy: "IfNotPresent",
                  args: [
                    "redis-server",
                    "--include",
                    "/etc/redis/auth.conf",
                    "--maxmemory",
                    args.maxMemory,
                    "--maxmemory-policy",
                    args.maxMemoryPolicy,
                    // A cache: nothing to keep across restarts.
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                  ],
                  ports: [{ name: "redis", containerPort: port }],
                  env: [
                    {
                      name: "REDISCLI_AUTH",
                      valueFrom: { secretKeyRef: { name: credentials.metadata.name, key: "password" } },
                    },
                  ],
                  readinessProbe: {
                    exec: { command: ["sh", "-c", '[ "$(redis-cli -h 127.0.0.1 ping)" = PONG ]'] },
                    periodSeconds: 5,
                    timeoutSeconds: 3,
                    failureThreshold: 3,
                  },
                  livenessProbe: { tcpSocket: { port: "redis" }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold: 3 },
                  resources: args.resources,
                  volumeMounts: [{ name: "auth", mountPath: "/etc/redis", readOnly: true }, ...scratch.volumeMounts],
                },
              ],
              volumes: [
                {
                  name: "auth",
                  // Group-readable: the files belong to root and the pod's fsGroup (redis).
                  secret: { secretName: credentials.metadata.name, items: [{ key: "auth.conf", path: "auth.conf" }], defaultMode: 0o440 },
                },
                ...scratch.volumes,
              ],
            }),
          },
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );

    privateService(name, { namespace, host: Cache.host, portName: "redis", port, labels, selector, clients: args.clients }, this);

    this.registerOutputs({});
  }
}
