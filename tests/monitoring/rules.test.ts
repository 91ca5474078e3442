// promtool (Debian's Prometheus 2.42) on exactly what the stack renders into Prometheus'
// ConfigMap, taken from the dev stack with monitoring on under Pulumi's mocks: check config,
// check rules, and the unit tests of every alert (tests/monitoring/alerts.test.yml).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { load } from "js-yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadSettings } from "../../stack/config.ts";
import { alertRules } from "../../stack/monitoring.ts";
import { deployTaskflow } from "../../stack/taskflow.ts";
import { promtool, TASKFLOW_ALERTS } from "../helpers/prometheus.ts";
import { devStackConfig, localCluster, mockStack, settle, unwrap } from "../stack/harness.ts";

const directory = mkdtempSync(path.join(tmpdir(), "taskflow-rules-"));
let rendered: Record<string, string>;

beforeAll(async () => {
  const resources = await mockStack({ ...devStackConfig(), "taskflow:monitoring": "true" });
  const cluster = localCluster;
  await settle(deployTaskflow(loadSettings(), cluster));
  rendered = unwrap(resources.find((r) => r.name === "prometheus-config")!.inputs).data;
  // As the pod mounts them: both files in one directory (rule_files is relative to prometheus.yml).
  for (const [file, text] of Object.entries(rendered)) writeFileSync(path.join(directory, file), text);
});

afterAll(() => rmSync(directory, { recursive: true, force: true }));

const alertNames = (rules: string) =>
  (load(rules) as { groups: Array<{ rules: Array<{ alert: string }> }> }).groups.flatMap((g) => g.rules.map((r) => r.alert));

describe("what the stack renders for Prometheus", () => {
  it("is a valid configuration whose rule file promtool finds and accepts", () => {
    expect(Object.keys(rendered).sort()).toEqual(["alerts.yml", "prometheus.yml"]);
    const output = promtool(["check", "config", path.join(directory, "prometheus.yml")]);
    expect(output).toContain("SUCCESS: 1 rule files found");
    expect(output).toMatch(/SUCCESS: 6 rules found/);
  });

  it("has rules promtool accepts, with and without the autoscaler", () => {
    expect(promtool(["check", "rules", path.join(directory, "alerts.yml")])).toContain("SUCCESS: 6 rules found");
    const fixed = path.join(directory, "alerts-fixed-replicas.yml");
    writeFileSync(fixed, alertRules({}));
    expect(promtool(["check", "rules", fixed])).toContain("SUCCESS: 5 rules found");
  });

  it("passes the unit test of every alert (promtool test rules)", () => {
    const tests = path.join(directory, "alerts.test.yml");
    copyFileSync(new URL("alerts.test.yml", import.meta.url), tests);
    expect(promtool(["test", "rules", tests], directory)).toContain("SUCCESS");

    // Every alert has a case where it fires (the unit tests hold it to its `for` and annotations).
    const cases = load(readFileSync(tests, "utf8")) as {
      tests: Array<{ alert_rule_test?: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
    };
    const firing = new Set(
      cases.tests
        .flatMap((t) => t.alert_rule_test ?? [])
        .filter((t) => t.exp_alerts.length > 0)
        .map((t) => t.alertname),
    );
    const quiet = new Set(
      cases.tests
        .flatMap((t) => t.alert_rule_test ?? [])
        .filter((t) => t.exp_alerts.length === 0)
        .map((t) => t.alertname),
    );
    const names = alertNames(rendered["alerts.yml"]!);
    expect(names.sort()).toEqual(TASKFLOW_ALERTS);
    for (const name of names) {
      expect(firing.has(name), `${name} fires in a test`).toBe(true);
      expect(quiet.has(name), `${name} stays quiet in a test`).toBe(true);
    }
  });
});
