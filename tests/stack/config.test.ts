// Bad settings stop `pulumi preview` with one line naming the setting, before anything is created.
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { loadSettings } from "../../stack/config.ts";
import { deployTaskflow } from "../../stack/taskflow.ts";
import { devStackConfig, localCluster, mockStack, project } from "./harness.ts";

const settingsWith = (overrides: Record<string, string>) => {
  pulumi.runtime.setAllConfig({ ...devStackConfig(), ...overrides });
  return loadSettings(new pulumi.Config(project));
};

describe("loadSettings", () => {
  it("uses the defaults when the stack sets nothing", () => {
    pulumi.runtime.setAllConfig({});
    const bare = loadSettings(new pulumi.Config(project));
    expect({ ...bare, postgresPassword: undefined, redisPassword: undefined }).toEqual({
      ...settingsWith({}),
      postgresPassword: undefined,
      redisPassword: undefined,
    });
    expect(bare.kubeContext).toBe("minikube");
  });

  it.each([
    [{ "taskflow:hpaMinReplicas": "11" }, /^invalid configuration: taskflow:hpaMinReplicas must not exceed taskflow:hpaMaxReplicas$/],
    [{ "taskflow:apiReplicas": "1.5" }, /taskflow:apiReplicas must be an integer from 1 to 50/],
    [{ "taskflow:seedTasks": "-1" }, /taskflow:seedTasks must be an integer/],
    [
      { "taskflow:databasePoolMax": "10" },
      /taskflow:databasePoolMax plus the cache's listening connection, times the most API pods \(10\)/,
    ],
    [{ "taskflow:databasePoolMax": "9" }, /taskflow:databasePoolMax plus the cache's listening connection, times the most API pods \(10\)/],
    [
      { "taskflow:apiResources": JSON.stringify({ requests: { cpu: "lots", memory: "1Gi" }, limits: { cpu: "1", memory: "1Gi" } }) },
      /taskflow:apiResources needs requests.cpu/,
    ],
    [{ "taskflow:postgresStorage": "two gigs" }, /taskflow:postgresStorage must be a Kubernetes quantity/],
    [{ "taskflow:dockerCertPath": "/certs" }, /taskflow:dockerCertPath needs taskflow:dockerHost/],
    [
      { "taskflow:databaseUser": "postgres" },
      /^invalid configuration: taskflow:databaseUser must not be postgres, PostgreSQL's own superuser$/,
    ],
    [{ "taskflow:autoscaling": "maybe" }, /autoscaling/],
  ])("rejects %j", (overrides, message) => {
    expect(() => settingsWith(overrides)).toThrow(message);
  });

  it("rejects a value the service itself would reject, with the service's message", async () => {
    await mockStack({ ...devStackConfig(), "taskflow:logLevel": "loud" });
    const settings = loadSettings();
    const cluster = localCluster;
    expect(() => deployTaskflow(settings, cluster)).toThrow(
      /^taskflow-api invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent$/,
    );
  });
});
