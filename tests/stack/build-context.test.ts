// The image tag is a hash of what Docker would send: it must move with every change that reaches
// the image and stay put for everything .dockerignore keeps out (a copy of service/ is edited).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { contextFiles, hashBuildContext, isExcluded, parseDockerignore } from "../../stack/build-context.ts";
import { serviceDirectory } from "../../stack/taskflow.ts";

describe("dockerignore matching", () => {
  const excluded = (rules: string, file: string) => isExcluded(file, parseDockerignore(rules));

  it("follows Docker's rules", () => {
    const allowList = "# only what the build copies\n*\n!package.json\n!src/\n**/*.test.ts\n";
    expect(excluded(allowList, "node_modules/zod/index.js")).toBe(true);
    expect(excluded(allowList, "README.md")).toBe(true);
    expect(excluded(allowList, "package.json")).toBe(false);
    expect(excluded(allowList, "src/app.ts")).toBe(false);
    expect(excluded(allowList, "src/routes/tasks.ts")).toBe(false);
    expect(excluded(allowList, "src/routes/tasks.test.ts")).toBe(true);
    expect(excluded("/dist\n./tmp/\n", "dist/main.mjs")).toBe(true);
    expect(excluded("/dist\n./tmp/\n", "tmp/x")).toBe(true);
    expect(excluded("/dist\n", "src/dist/x")).toBe(false);
    expect(excluded("src/**/fixtures\n", "src/a/b/fixtures/x.json")).toBe(true);
    expect(excluded("src/**/fixtures\n", "src/fixtures/x.json")).toBe(true);
    expect(excluded("*.md\n!README.md\n", "README.md")).toBe(false);
    expect(excluded("!README.md\n*.md\n", "README.md")).toBe(true);
    expect(excluded("file?.txt\n", "file1.txt")).toBe(true);
    expect(excluded("file?.txt\n", "file10.txt")).toBe(false);
    expect(excluded("*.txt\n", "docs/a.txt")).toBe(false);
    expect(excluded("**\n!keep\n", "keep")).toBe(false);
    expect(excluded("a.b\n", "axb")).toBe(false);
  });
});

describe("hashBuildContext on a copy of service/", () => {
  let root: string;
  let copy: string;
  const edit = (file: string, content: string) => {
    mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    writeFileSync(path.join(copy, file), content);
  };

  beforeEach(() => {
    root = mkdtempSync(path.join(tmpdir(), "taskflow-context-"));
    copy = path.join(root, "service");
    cpSync(serviceDirectory, copy, {
      recursive: true,
      filter: (source) => !/^(node_modules|dist)([\\/]|$)/.test(path.relative(serviceDirectory, source)),
    });
    // Stand-ins for what a developer's tree holds and Docker never sees.
    edit("node_modules/zod/index.js", "module.exports = 1;\n");
    edit("dist/main.mjs", "built\n");
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it("hashes the tree Docker would send, wherever it lives", () => {
    const files = contextFiles(copy);
    expect(files).toContain("Dockerfile");
    expect(files).toContain("src/config.ts");
    expect(files).toContain("public/index.html");
    expect(files.some((file) => file.startsWith("node_modules/") || file.startsWith("dist/"))).toBe(false);
    expect(hashBuildContext(copy)).toMatch(/^[0-9a-f]{16}$/);
    expect(hashBuildContext(copy)).toBe(hashBuildContext(serviceDirectory));
  });

  it("changes when a source file, the Dockerfile, a page's file or a build argument changes", () => {
    const before = hashBuildContext(copy);
    const config = path.join(copy, "src/config.ts");
    writeFileSync(config, `${readFileSync(config, "utf8")}\n// edited\n`);
    const edited = hashBuildContext(copy);
    expect(edited).not.toBe(before);

    edit("Dockerfile", `${readFileSync(path.join(copy, "Dockerfile"), "utf8")}\n# edited\n`);
    const dockerfileEdited = hashBuildContext(copy);
    expect(dockerfileEdited).not.toBe(edited);
    edit("public/board.js", `${readFileSync(path.join(copy, "public/board.js"), "utf8")}\n// edited\n`);
    expect(hashBuildContext(copy)).not.toBe(dockerfileEdited);
    expect(hashBuildContext(copy, { NODE_IMAGE: "node:22-bookworm-slim" })).not.toBe(hashBuildContext(copy));
  });

  it("changes when a file is added or renamed", () => {
    const before = hashBuildContext(copy);
    edit("src/extra.ts", "export {};\n");
    const added = hashBuildContext(copy);
    expect(added).not.toBe(before);
    renameSync(path.join(copy, "src/extra.ts"), path.join(copy, "src/renamed.ts"));
    expect(hashBuildContext(copy)).not.toBe(added);
  });

  it("stays put when nothing Docker sends changes", () => {
    const before = hashBuildContext(copy);
    const config = path.join(copy, "src/config.ts");
    writeFileSync(config, readFileSync(config));
    edit("node_modules/zod/index.js", "module.exports = 2;\n");
    edit("dist/main.mjs", "rebuilt\n");
    edit("notes.md", "scratch\n");
    edit("src/config.test.ts", "test\n");
    expect(hashBuildContext(copy)).toBe(before);
  });
});
