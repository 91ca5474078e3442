// Runs the stack under Pulumi's unit-test mocks and records every resource it registers. Each test
// file is one stack (vitest gives each file its own process, and Pulumi's runtime is global).
import { readFileSync } from "node:fs";
import * as pulumi from "@pulumi/pulumi";
import { load } from "js-yaml";
import { type ClusterTarget, resolveCluster } from "../../stack/cluster.ts";
import { loadSettings } from "../../stack/config.ts";
import { deployTaskflow } from "../../stack/taskflow.ts";
import type { Deployed } from "./invariants.ts";

export interface Recorded {
  type: string;
  name: string;
  /** Inputs as the engine received them; secret values stay wrapped (see isSecretWrapper). */
  inputs: Record<string, any>;
  /** What the mock provider returned, e.g. Kubernetes' generated names. */
  state: Record<string, any>;
  /** `urn::id` of the explicit provider, if any. */
  provider?: string;
  urn: string;
  /** Resource options as the engine receives them; mocks do not see them, so they are read off the request. */
  options: { deleteBeforeReplace: boolean; dependencies: string[] };
}

export const project = "taskflow";
export const mockNodePort = 31500;

// Pulumi's wire marker for a secret value: { [sigKey]: secretSig, value } (runtime/rpc.ts).
const sigKey = pulumi.runtime.specialSigKey;
const secretSig = pulumi.runtime.specialSecretSig;

export function isSecretWrapper(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[sigKey] === secretSig;
}

/** The plain value with every secret wrapper removed, as Kubernetes would receive it. */
export function unwrap(value: any): any {
  if (isSecretWrapper(value)) return unwrap(value.value);
  if (Array.isArray(value)) return value.map(unwrap);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, unwrap(inner)]));
  }
  return value;
}

/** Pulumi.dev.yaml's config, as the engine hands it to the program: strings, objects as JSON. */
export function devStackConfig(): Record<string, string> {
  const file = load(readFileSync(new URL("../../Pulumi.dev.yaml", import.meta.url), "utf8")) as {
    config: Record<string, unknown>;
  };
  return Object.fromEntries(
    Object.entries(file.config).map(([key, value]) => [key, typeof value === "object" ? JSON.stringify(value) : String(value)]),
  );
}

/** What a provider would report back: Kubernetes auto-names and allocates node ports. */
function mockState({ type, name, inputs }: pulumi.runtime.MockResourceArgs): Record<string, any> {
  if (type === "random:index/randomPassword:RandomPassword") return { ...inputs, result: `generated-${name}-Qm7xKz2Lp9` };
  if (!type.startsWith("kubernetes:")) return inputs;
  const metadata = { ...inputs.metadata, name: inputs.metadata?.name ?? `${name}-5f3c9e1a` };
  if (type === "kubernetes:core/v1:Service" && inputs.spec?.type === "NodePort") {
    const ports = inputs.spec.ports.map((port: object, i: number) => ({ ...port, nodePort: mockNodePort + i }));
    return { ...inputs, metadata, spec: { ...inputs.spec, ports } };
  }
  return { ...inputs, metadata };
}

/** Installs mocks and config (`secrets` as secret config); returns the list the mocks fill. */
export async function mockStack(config: Record<string, string>, secrets: Record<string, string> = {}): Promise<Recorded[]> {
  const resources: Recorded[] = [];
  const options = new Map<string, Recorded["options"]>();
  pulumi.runtime.setAllConfig({ ...config, ...secrets }, Object.keys(secrets));
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const state = mockState(args);
        const urn = `urn:pulumi:dev::${project}::${args.type}::${args.name}`;
        resources.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs,
          state,
          provider: args.provider,
          urn,
          options: options.get(urn)!,
        });
        return { id: `${args.name}-id`, state };
      },
      call: (args) => args.inputs,
    },
    project,
    "dev",
    false,
  );
  // The mock monitor hands newResource no options (runtime/mocks.js, registerResource), so they are
  // taken off the RegisterResourceRequest on its way in; URNs drop the parent chain, as the mocks' do not.
  const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: any, callback: unknown): void };
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    options.set(`urn:pulumi:dev::${project}::${req.getType()}::${req.getName()}`, {
      deleteBeforeReplace: req.getDeletebeforereplace(),
      dependencies: req.getDependenciesList().map(shortUrn),
    });
    register(req, callback);
  };
  return resources;
}

/** `type::name` of a URN, whatever its parent chain. */
export function shortUrn(urn: string): string {
  const [, , qualifiedType, name] = urn.split("::");
  return `urn:pulumi:dev::${project}::${qualifiedType!.split("$").at(-1)}::${name}`;
}

export interface Settled {
  value: string;
  secret: boolean;
}

/** The monitoring ones only with taskflow:monitoring (undefined otherwise, which Pulumi does not export). */
export type StackOutputs = Record<"url" | "namespace" | "curl", pulumi.Output<string>> &
  Partial<Record<"grafanaUrl" | "prometheusUrl" | "grafanaAdminPassword", pulumi.Output<string>>>;

export type SettledOutputs = Record<"url" | "namespace" | "curl", Settled> &
  Partial<Record<"grafanaUrl" | "prometheusUrl" | "grafanaAdminPassword", Settled>>;

/** Resolves the stack outputs, then waits for every pending registration so the record is complete. */
export async function settle(outputs: StackOutputs): Promise<SettledOutputs> {
  const entries = await Promise.all(
    Object.entries(outputs)
      .filter((entry): entry is [string, pulumi.Output<string>] => entry[1] !== undefined)
      .map(async ([key, output]) => {
        const value = await new Promise<string>((resolve) => output.apply(resolve));
        return [key, { value, secret: await pulumi.isSecret(output) }] as const;
      }),
  );
  await pulumi.runtime.disconnect();
  return Object.fromEntries(entries) as SettledOutputs;
}

/** A cluster as a config would name it: a plain local Docker socket for linux/amd64, the node on loopback. */
export const localCluster: ClusterTarget = {
  kubeContext: "minikube",
  daemon: { host: "unix:///var/run/docker.sock" },
  platform: "linux/amd64",
  nodeAddress: "127.0.0.1",
  nodePortReachable: true,
};

/**
 * Deploys, under mocks, a stack whose config names its cluster (`dockerHost`, `nodeAddress`), as
 * `pulumi up` would: Minikube must not be asked, and the daemon answers linux/amd64.
 */
export async function deployNamedClusterStack(config: Record<string, string>): Promise<Deployed> {
  const resources = await mockStack(config);
  const settings = loadSettings();
  const cluster = await resolveCluster(
    settings,
    () => {
      throw new Error("minikube must not be asked when the config names the cluster");
    },
    async () => ({ Os: "linux", Arch: "amd64" }),
    {},
  );
  const outputs = await settle(deployTaskflow(settings, cluster));
  const generated = resources.filter((r) => r.type === "random:index/randomPassword:RandomPassword").map((r) => r.state.result);
  return { resources, outputs, settings, cluster, secretValues: generated };
}
