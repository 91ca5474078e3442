// PostgreSQL: one pod on a Pulumi-managed volume claim (so `pulumi destroy` deletes the data too),
// reachable as Service `postgres` and only from the pods named in `clients`, which log in as a role
// without superuser.
import { readFileSync } from "node:fs";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import type { Resources } from "./config.ts";
import { hardenedPodSpec, scratchDirectories, selectorLabels, workloadLabels } from "./pod.ts";
import { privateService } from "./private-service.ts";

export interface DatabaseArgs {
  namespace: pulumi.Input<string>;
  /** An official postgres Debian image (its postgres user is uid 999); the major is the data format. */
  image: string;
  storage: string;
  storageClass?: string;
  databaseName: string;
  /** The clients' login role: it owns the database, and is no superuser. */
  user: string;
  password: pulumi.Input<string>;
  /** PostgreSQL's own superuser's, needed only to initialise the data directory. */
  superuserPassword: pulumi.Input<string>;
  resources: Resources;
  /** Labels of the only pods allowed to connect. */
  clients: Record<string, string>;
}

const postgresUid = 999;
/** The official image's default superuser (docker-entrypoint.sh: file_env 'POSTGRES_USER' 'postgres'). */
export const superuser = "postgres";
const initScripts = "/docker-entrypoint-initdb.d";
const createAppRole = readFileSync(new URL("postgres/create-app-role.sh", import.meta.url), "utf8");
const port = 5432;
// The image's default PGDATA moved with major 18 (/var/lib/postgresql/18/docker); naming it here
// keeps the data where the claim is mounted whatever the major. A subdirectory, because initdb
// wants an empty directory it owns and a volume root may hold lost+found.
const mountPath = "/var/lib/postgresql/data";
const pgdata = `${mountPath}/pgdata`;

export class Database extends pulumi.ComponentResource {
  /** Stable Service name, so the API's DATABASE_HOST is known before anything exists. */
  static readonly host = "postgres";
  static readonly port = port;

  constructor(name: string, args: DatabaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("taskflow:stack:Database", name, {}, opts);
    const { namespace } = args;
    const labels = workloadLabels(Database.host, "database");
    const selector = selectorLabels(Database.host);

    const credentials = new k8s.core.v1.Secret(
      `${name}-credentials`,
      { metadata: { namespace, labels }, stringData: { POSTGRES_PASSWORD: args.superuserPassword, APP_PASSWORD: args.password } },
      { parent: this },
    );
    const initialisation = new k8s.core.v1.ConfigMap(
      `${name}-init`,
      { metadata: { namespace, labels }, data: { "create-app-role.sh": createAppRole } },
      { parent: this },
    );

    // Auto-named (postgres-data-<random>): Minikube's provisioner keeps each volume at
    // <pvDir>/<namespace>/<claim name> and, after a restart gives it a new identity, leaves the old
    // directory behind on delete (kubernetes/minikube pkg/storage/storage_provisioner.go; #16140).
    // A fixed name would land the next stack's claim in that old data directory: PostgreSQL skips
    // initdb and refuses the new password. Create-before-delete then works on a replacement too;
    // deleteBeforeReplace would wait on the old claim's pvc-protection finalizer while the old pod
    // still mounts it, before the new Deployment that would release it exists.
    const claim = new k8s.core.v1.PersistentVolumeClaim(
      `${name}-data`,
      {
        metadata: { namespace, labels },
        spec: {
          accessModes: ["ReadWriteOnce"],
          storageClassName: args.storageClass,
          resources: { requests: { storage: args.storage } },
        },
      },
      { parent: this },
    );

    const ready = ["pg_isready", "-h", "127.0.0.1", "-p", String(port), "-U", args.user, "-d", args.databaseName];
    const scratch = scratchDirectories({ "run-postgresql": "/var/run/postgresql", tmp: "/tmp" });
    new k8s.apps.v1.Deployment(
      name,
      {
        metadata: { name: Database.host, namespace, labels },
        spec: {
          replicas: 1,
          // A ReadWriteOnce volume and one data directory: never two servers at once.
          strategy: { type: "Recreate" },
          selector: { matchLabels: selector },
          template: {
            metadata: { labels },
            spec: hardenedPodSpec(postgresUid, {
              containers: [
                {
                  name: "postgres",
                  image: args.image,
                  imagePullPolicy: "IfNotPresent",
                  ports: [{ name: "postgres", containerPort: port }],
                  env: [
                    { name: "POSTGRES_USER", value: superuser },
                    { name: "POSTGRES_DB", value: args.databaseName },
                    ...(["POSTGRES_PASSWORD", "APP_PASSWORD"] as const).map((key) => ({
                      name: key,
                      valueFrom: { secretKeyRef: { name: credentials.metadata.name, key } },
                    })),
                    { name: "APP_USER", value: args.user },
                    { name: "PGDATA", value: pgdata },
                  ],
                  // The first start runs initdb behind a socket-only server, so TCP answers late.
                  startupProbe: { exec: { command: ready }, periodSeconds: 5, failureThreshold: 60 },
                  readinessProbe: { exec: { command: ready }, periodSeconds: 5, timeoutSeconds: 3, failureThreshold: 3 },
                  livenessProbe: { exec: { command: ready }, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 },
                  resources: args.resources,
                  volumeMounts: [
                    { name: "data", mountPath },
                    { name: "init", mountPath: initScripts, readOnly: true },
                    // Parallel queries allocate dynamic shared memory here; the runtime's 64 MiB default is tight.
                    { name: "shm", mountPath: "/dev/shm" },
                    ...scratch.volumeMounts,
                  ],
                },
              ],
              volumes: [
                { name: "data", persistentVolumeClaim: { claimName: claim.metadata.name } },
                // Executable, so the entrypoint runs it rather than sourcing it into its own shell.
                { name: "init", configMap: { name: initialisation.metadata.name, defaultMode: 0o555 } },
                { name: "shm", emptyDir: { medium: "Memory", sizeLimit: "128Mi" } },
                ...scratch.volumes,
              ],
            }),
          },
        },
      },
      { parent: this, deleteBeforeReplace: true },
    );

    privateService(name, { namespace, host: Database.host, portName: "postgres", port, labels, selector, clients: args.clients }, this);

    this.registerOutputs({});
  }
}
