// The Node.js versions the repository admits: the Pulumi program needs `--import` (Pulumi.yaml's
// nodeargs), which Node gained in 20.6; .nvmrc names the major the image runs.
import { readFileSync } from "node:fs";
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
});
