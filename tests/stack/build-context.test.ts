// The image tag is a hash of what Docker would send: it must move with every change that reaches
// the image and stay put for everything the ignore file keeps out (a copy of the repository is
// edited).
import { cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { contextFiles, hashBuildContext, isExcluded, parseDockerignore } from "../../stack/build-context.ts";
import { imageBuild } from "../../stack/taskflow.ts";

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

// moby/patternmatcher's own cases (patternmatcher_test.go, TestMatches, at 5a6d842; the Linux
// ones): [pattern or patterns, path, excluded]. Its MatchesOrParentMatches is what BuildKit's
// context transfer applies.
const PATTERNMATCHER_CASES: [string | string[], string, boolean][] = [
  ["**", "file", true],
  ["**", "file/", true],
  ["**/", "file", true],
  ["**/", "file/", true],
  ["**", "/", true],
  ["**/", "/", true],
  ["**", "dir/file", true],
  ["**/", "dir/file", true],
  ["**", "dir/file/", true],
  ["**/", "dir/file/", true],
  ["**/**", "dir/file", true],
  ["**/**", "dir/file/", true],
  ["dir/**", "dir/file", true],
  ["dir/**", "dir/file/", true],
  ["dir/**", "dir/dir2/file", true],
  ["dir/**", "dir/dir2/file/", true],
  ["**/dir", "dir", true],
  ["**/dir", "dir/file", true],
  ["**/dir2/*", "dir/dir2/file", true],
  ["**/dir2/*", "dir/dir2/file/", true],
  ["**/dir2/**", "dir/dir2/dir3/file", true],
  ["**/dir2/**", "dir/dir2/dir3/file/", true],
  ["**file", "file", true],
  ["**file", "dir/file", true],
  ["**/file", "dir/file", true],
  ["**file", "dir/dir/file", true],
  ["**/file", "dir/dir/file", true],
  ["**/file*", "dir/dir/file", true],
  ["**/file*", "dir/dir/file.txt", true],
  ["**/file*txt", "dir/dir/file.txt", true],
  ["**/file*.txt", "dir/dir/file.txt", true],
  ["**/file*.txt*", "dir/dir/file.txt", true],
  ["**/**/*.txt", "dir/dir/file.txt", true],
  ["**/**/*.txt2", "dir/dir/file.txt", false],
  ["**/*.txt", "file.txt", true],
  ["**/**/*.txt", "file.txt", true],
  ["a**/*.txt", "a/file.txt", true],
  ["a**/*.txt", "a/dir/file.txt", true],
  ["a**/*.txt", "a/dir/dir/file.txt", true],
  ["a/*.txt", "a/dir/file.txt", false],
  ["a/*.txt", "a/file.txt", true],
  ["a/*.txt**", "a/file.txt", true],
  ["a[b-d]e", "ae", false],
  ["a[b-d]e", "ace", true],
  ["a[b-d]e", "aae", false],
  ["a[^b-d]e", "aze", true],
  [".*", ".foo", true],
  [".*", "foo", false],
  ["abc.def", "abcdef", false],
  ["abc.def", "abc.def", true],
  ["abc.def", "abcZdef", false],
  ["abc?def", "abcZdef", true],
  ["abc?def", "abcdef", false],
  ["a\\\\", "a\\", true],
  ["**/foo/bar", "foo/bar", true],
  ["**/foo/bar", "dir/foo/bar", true],
  ["**/foo/bar", "dir/dir2/foo/bar", true],
  ["abc/**", "abc", false],
  ["abc/**", "abc/def", true],
  ["abc/**", "abc/def/ghi", true],
  ["**/.foo", ".foo", true],
  ["**/.foo", "bar.foo", false],
  ["a(b)c/def", "a(b)c/def", true],
  ["a(b)c/def", "a(b)c/xyz", false],
  ["a.|)$(}+{bc", "a.|)$(}+{bc", true],
  ["dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  ["dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true],
  [["**", "!util/docker/web"], "util/docker/web/foo", false],
  [["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", true],
  [["**", "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  [["**", "!dist/*.whl"], "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false],
  ["a\\*b", "a*b", true],
];

describe("dockerignore matching against Docker's own cases", () => {
  it.each(PATTERNMATCHER_CASES)("%j on %j: excluded %s", (patterns, file, expected) => {
    const rules = (typeof patterns === "string" ? [patterns] : patterns).join("\n");
    expect(isExcluded(file, parseDockerignore(rules))).toBe(expected);
  });

  it("reads the file as ignorefile.ReadAll does, and matches as patternmatcher's compile does", () => {
    const excluded = (rules: string, file: string) => isExcluded(file, parseDockerignore(rules));
    // ignorefile_test.go TestReadAll: a leading slash is dropped, also after "! ".
    expect(excluded("/test2\n", "test2")).toBe(true);
    expect(excluded("*\n! /inverted/abs/path\n", "inverted/abs/path")).toBe(false);
    // A lone "!" makes Docker refuse the file (patternmatcher.New: illegal exclusion pattern).
    expect(() => parseDockerignore("*\n!\n")).toThrow('illegal exclusion pattern "!"');
    // compile: a leading ** followed by literals is a suffix match (strings.HasSuffix).
    expect(excluded("**file\n", "xfile")).toBe(true);
    // A class goes to Go's regexp as written: [!b] is "! or b", not a negation. ^ is not escaped:
    // compared as text in a pattern without wildcards, an anchor that never matches in one with.
    expect(excluded("a[!b]c\n", "a!c")).toBe(true);
    expect(excluded("a[!b]c\n", "axc")).toBe(false);
    expect(excluded("a^b\n", "a^b")).toBe(true);
    expect(excluded("a^*\n", "a^b")).toBe(false);
    // A backslash escapes on Linux and macOS; it is not a path separator.
    expect(excluded("a\\\\b\n", "a\\b")).toBe(true);
    expect(excluded("a\\\\b\n", "a/b")).toBe(false);
  });
});

describe("hashBuildContext on a copy of the repository", () => {
  let copy: string;
  let build: { context: string; dockerfile: string };
  const edit = (file: string, content: string) => {
    mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    writeFileSync(path.join(copy, file), content);
  };
  const append = (file: string, text: string) => edit(file, `${readFileSync(path.join(copy, file), "utf8")}${text}`);

  beforeEach(() => {
    copy = mkdtempSync(path.join(tmpdir(), "taskflow-context-"));
    build = { context: copy, dockerfile: path.join(copy, path.relative(imageBuild.context, imageBuild.dockerfile)) };
    cpSync(imageBuild.context, copy, {
      recursive: true,
      filter: (source) => !/(^|[\\/])(node_modules|dist|\.git|artifacts)$/.test(path.relative(imageBuild.context, source)),
    });
    // Stand-ins for what a developer's tree holds and Docker never sees.
    edit("node_modules/zod/index.js", "module.exports = 1;\n");
    edit("service/dist/main.mjs", "built\n");
  });
  afterEach(() => rmSync(copy, { recursive: true, force: true }));

  it("hashes the tree Docker would send, wherever it lives", () => {
    const files = contextFiles(build);
    for (const file of [
      "package.json",
      "package-lock.json",
      "service/package.json",
      "service/Dockerfile",
      "service/src/config.ts",
      "service/public/index.html",
    ]) {
      expect(files).toContain(file);
    }
    expect(files.filter((file) => !file.startsWith("service/") && !file.startsWith("package"))).toEqual([]);
    expect(files.some((file) => /(^|\/)(node_modules|dist)\//.test(file))).toBe(false);
    expect(hashBuildContext(build)).toMatch(/^[0-9a-f]{16}$/);
    expect(hashBuildContext(build)).toBe(hashBuildContext(imageBuild));
  });

  it("changes when a source file, the Dockerfile, the lockfile, a page's file or a build argument changes", () => {
    const seen = new Set([hashBuildContext(build)]);
    const changed = () => {
      const hash = hashBuildContext(build);
      expect(seen.has(hash)).toBe(false);
      seen.add(hash);
    };
    append("service/src/config.ts", "\n// edited\n");
    changed();
    append("service/Dockerfile", "\n# edited\n");
    changed();
    append("package-lock.json", "\n");
    changed();
    append("service/public/board.js", "\n// edited\n");
    changed();
    expect(hashBuildContext(build, { NODE_IMAGE: "node:22-bookworm-slim" })).not.toBe(hashBuildContext(build));
  });

  it("changes when a file is added or renamed", () => {
    const before = hashBuildContext(build);
    edit("service/src/extra.ts", "export {};\n");
    const added = hashBuildContext(build);
    expect(added).not.toBe(before);
    renameSync(path.join(copy, "service/src/extra.ts"), path.join(copy, "service/src/renamed.ts"));
    expect(hashBuildContext(build)).not.toBe(added);
  });

  it("stays put when nothing Docker sends changes: the stack, the tests, the docs, builds", () => {
    const before = hashBuildContext(build);
    const config = path.join(copy, "service/src/config.ts");
    writeFileSync(config, readFileSync(config));
    edit("node_modules/zod/index.js", "module.exports = 2;\n");
    edit("service/dist/main.mjs", "rebuilt\n");
    edit("service/notes.md", "scratch\n");
    edit("service/src/config.test.ts", "test\n");
    append("stack/index.ts", "\n// edited\n");
    append("tests/stack/harness.ts", "\n// edited\n");
    append("README.md", "\nedited\n");
    append("service/Dockerfile.dockerignore", "\n# a comment\n");
    expect(hashBuildContext(build)).toBe(before);
  });

  it("reads the Dockerfile's own ignore file before the context's, which Docker sends regardless", () => {
    const before = contextFiles(build);
    edit(".dockerignore", "# lets everything through, but service/Dockerfile.dockerignore is read instead\n");
    expect(contextFiles(build)).toEqual([...before, ".dockerignore"].sort());
    rmSync(path.join(copy, "service/Dockerfile.dockerignore"));
    expect(contextFiles(build)).toContain("stack/index.ts");
  });

  it("refuses a Dockerfile outside the context, or the context itself", () => {
    const service = path.join(copy, "service");
    for (const dockerfile of [path.join(copy, "Dockerfile"), copy, service]) {
      expect(() => contextFiles({ context: service, dockerfile })).toThrow(/is not a file inside the build context/);
    }
  });
});
