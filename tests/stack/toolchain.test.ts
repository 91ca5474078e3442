// The toolchain: one install for the two packages, and the Node.js versions the repository admits
// (the Pulumi program needs `--import`, Pulumi.yaml's nodeargs, which Node gained in 20.6; .nvmrc
// names the major the image runs).
import { existsSync, readFileSync } from "node:fs";
import { load } from "js-yaml";
import { describe, expect, it } from "vitest";

const read = (file: string) => readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");
const minimum = (range: string) => /^>=(\d+)\.(\d+)\.(\d+)$/.exec(range)!.slice(1).map(Number);

describe("the Node.js toolchain", () => {
  it("admits no Node.js that cannot --import the program's loader", () => {
    const pulumi = load(read("Pulumi.yaml")) as { runtime: { options: { nodeargs: string } } };
    expect(pulumi.runtime.options.nodeargs).toBe("--import tsx");
    for (const file of ["package.json", "service/package.json"]) {
      const [major, minor] = minimum(JSON.parse(read(file)).engines.node);
      expect(major! > 20 || (major === 20 && minor! >= 6), `${file} engines.node`).toBe(true);
    }
  });

  it("pins in .nvmrc the major the image runs", () => {
    const image = /^ARG NODE_IMAGE=node:(\d+)-/m.exec(read("service/Dockerfile"))![1];
    expect(read(".nvmrc").trim()).toBe(image);
  });

  it("installs everything with one npm ci: the service is a workspace of the root, under one lockfile", () => {
    const root = JSON.parse(read("package.json"));
    expect(root.workspaces).toEqual(["service"]);
    // An install script would be skipped silently under --ignore-scripts (the old postinstall was).
    for (const file of ["package.json", "service/package.json"]) {
      const { scripts = {} } = JSON.parse(read(file));
      expect(
        Object.keys(scripts).filter((name) => /^(pre|post)?install$|^prepare$/.test(name)),
        file,
      ).toEqual([]);
    }
    expect(existsSync(new URL("../../service/package-lock.json", import.meta.url))).toBe(false);
    const lock = JSON.parse(read("package-lock.json"));
    expect(lock.packages["node_modules/taskflow-service"]).toEqual({ resolved: "service", link: true });
    const service = JSON.parse(read("service/package.json"));
    expect(lock.packages.service.dependencies).toEqual(service.dependencies);
    expect(lock.packages.service.devDependencies).toEqual(service.devDependencies);
  });

  it("decides for every dependency's install script, so npm ci neither lists them nor, from npm 12, skips one we need", () => {
    const { allowScripts } = JSON.parse(read("package.json"));
    const withScripts = Object.entries(JSON.parse(read("package-lock.json")).packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([location]) => location.slice(location.lastIndexOf("node_modules/") + "node_modules/".length));
    expect(withScripts.length).toBeGreaterThan(0);
    expect(Object.keys(allowScripts).sort()).toEqual([...new Set(withScripts)].sort());
  });
});
