// The README against the code: its configuration table is the service's configuration schema
// (service/src/config.ts), and every relative link in the README and docs/*.md leads somewhere.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { envSchema, requiredSettings, type SettingName, settingNames } from "../../service/src/config.ts";

const root = fileURLToPath(new URL("../../", import.meta.url));
const read = (file: string) => readFileSync(path.join(root, file), "utf8");
const markdownFiles = [
  "README.md",
  ...readdirSync(path.join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

/** The lines outside fenced code blocks (``` or ~~~), with their 1-based numbers. */
function proseLines(markdown: string): { line: string; number: number }[] {
  const lines: { line: string; number: number }[] = [];
  let fence: string | undefined;
  markdown.split("\n").forEach((line, index) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (marker && (fence === undefined || (marker[0] === fence[0] && marker.length >= fence.length))) {
      fence = fence === undefined ? marker : undefined;
      return;
    }
    if (fence === undefined) lines.push({ line, number: index + 1 });
  });
  return lines;
}

/** What the README says of each setting: the rows of the table under "## Configuration". */
function configurationRows(readme: string): Map<string, string> {
  const lines = proseLines(readme).map(({ line }) => line);
  const start = lines.findIndex((line) => /^## Configuration\s*$/.test(line));
  expect(start, 'README.md has a "## Configuration" section').toBeGreaterThanOrEqual(0);
  const end = lines.findIndex((line, index) => index > start && /^## /.test(line));
  const rows = new Map<string, string>();
  for (const line of lines.slice(start, end === -1 ? undefined : end)) {
    const cells = /^\|(.*)\|\s*$/
      .exec(line)?.[1]
      ?.split(/(?<!\\)\|/)
      .map((cell) => cell.trim());
    if (!cells || cells[0] === "variable" || /^:?-+:?$/.test(cells[0] ?? "")) continue;
    const name = /^`([A-Z0-9_]+)`$/.exec(cells[0] ?? "")?.[1];
    expect(name, `a configuration row that names no variable: ${line}`).toBeDefined();
    expect(rows.has(name!), `${name} has two rows`).toBe(false);
    rows.set(name!, cells[1] ?? "");
  }
  return rows;
}

/** The default column as the schema would write it: `value`, **required**, or unset. */
function documentedDefault(name: SettingName): string {
  if (requiredSettings.includes(name)) return "**required**";
  const parsed = envSchema.shape[name].safeParse(undefined);
  if (!parsed.success) throw new Error(`${name}: neither required nor defaulted`);
  return parsed.data === undefined ? "unset" : `\`${String(parsed.data)}\``;
}

/** GitHub's heading anchors (github-slugger): lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const { line } of proseLines(markdown)) {
    const heading = /^ {0,3}#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const text = heading
      .replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1") // links and images: their text
      .replace(/<[^>]+>/g, ""); // inline HTML
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, "")
      .replace(/ /g, "-");
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

interface Link {
  file: string;
  line: number;
  target: string;
}

/** Inline links and images, and reference definitions, outside code; absolute URLs left out. */
function relativeLinks(file: string, markdown: string): Link[] {
  const links: Link[] = [];
  for (const { line, number } of proseLines(markdown)) {
    const prose = line.replace(/(`+)[^`]*?\1/g, "");
    const targets = [
      ...[...prose.matchAll(/!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]!),
      ...[...prose.matchAll(/^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+.*)?$/g)].map((m) => m[1]!),
    ];
    for (const target of targets) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith("//")) continue;
      links.push({ file, line: number, target });
    }
  }
  return links;
}

/** Why a link is broken, or undefined when it leads somewhere. */
function brokenLink({ file, target }: Link, readFile: (file: string) => string | undefined): string | undefined {
  const hash = target.indexOf("#");
  const linkPath = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
  const anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  const resolved = linkPath === "" ? file : path.posix.normalize(path.posix.join(path.posix.dirname(file), linkPath));
  if (resolved.startsWith("../")) return `${target} leaves the repository`;
  if (linkPath !== "" && !existsSync(path.join(root, resolved))) return `${target}: ${resolved} does not exist`;
  if (anchor === undefined || !resolved.endsWith(".md")) return undefined;
  const text = readFile(resolved);
  if (text === undefined) return `${target}: ${resolved} cannot be read`;
  return headingAnchors(text).has(anchor) ? undefined : `${target}: ${resolved} has no heading #${anchor}`;
}

describe("the README's configuration table", () => {
  const rows = configurationRows(read("README.md"));

  it("has a row for every setting of the service's schema, with the schema's default", () => {
    for (const name of settingNames) {
      expect(rows.has(name), `README.md's configuration table lacks ${name}`).toBe(true);
      expect(rows.get(name), `README.md's default for ${name}`).toBe(documentedDefault(name));
    }
  });

  it("names no variable the schema does not have", () => {
    const unknown = [...rows.keys()].filter((name) => !(settingNames as string[]).includes(name));
    expect(unknown, "rows in README.md for variables the service does not read").toEqual([]);
  });
});

describe("relative links in README.md and docs/*.md", () => {
  const texts = new Map(markdownFiles.map((file) => [file, read(file)]));
  const readFile = (file: string) => texts.get(file) ?? (existsSync(path.join(root, file)) ? read(file) : undefined);

  it("finds the links it checks", () => {
    const readmeLinks = relativeLinks("README.md", texts.get("README.md")!).map((link) => link.target);
    expect(readmeLinks).toContain("docs/board.png");
    expect(readmeLinks).toContain("#configuration");
  });

  it.each(markdownFiles)("%s: every relative link points at a file that exists, and every #anchor at a heading", (file) => {
    const broken = relativeLinks(file, texts.get(file)!)
      .map((link) => ({ link, why: brokenLink(link, readFile) }))
      .filter(({ why }) => why !== undefined)
      .map(({ link, why }) => `${link.file}:${link.line}: ${why}`);
    expect(broken, `broken links:\n${broken.join("\n")}`).toEqual([]);
  });
});

describe("the checks themselves", () => {
  it("slug headings as GitHub does", () => {
    const anchors = headingAnchors(
      [
        "# Title",
        "## The first `pulumi up`, and later ones",
        "## Alerts (`stack/monitoring/alerts.yml`)",
        "## Repeat",
        "## Repeat",
        "```sh",
        "# not a heading",
        "```",
        "## [A link](x.md) in a heading",
      ].join("\n"),
    );
    expect([...anchors]).toEqual([
      "title",
      "the-first-pulumi-up-and-later-ones",
      "alerts-stackmonitoringalertsyml",
      "repeat",
      "repeat-1",
      "a-link-in-a-heading",
    ]);
  });

  it("catch a missing file, a missing heading and a link out of the repository, and pass a good one", () => {
    const readFile = (file: string) => (file === "README.md" ? "## Configuration\n" : read(file));
    const check = (target: string) => brokenLink({ file: "README.md", line: 1, target }, readFile);
    expect(check("docs/no-such-page.md")).toMatch(/does not exist/);
    expect(check("#no-such-heading")).toMatch(/no heading #no-such-heading/);
    expect(check("docs/deploy.md#no-such-heading")).toMatch(/no heading/);
    expect(check("../outside.md")).toMatch(/leaves the repository/);
    expect(check("#configuration")).toBeUndefined();
    expect(check("docs/deploy.md#configuration")).toBeUndefined();
  });

  it("skip absolute URLs and links inside code", () => {
    const links = relativeLinks("README.md", "[a](https://x.test/a) `[b](nowhere.md)` [c](c.md)\n```\n[d](d.md)\n```\n[e]: e.md\n");
    expect(links.map((link) => link.target)).toEqual(["c.md", "e.md"]);
  });

  it("catch a configuration row for a variable the schema lacks, and a missing or wrong default", () => {
    const table = (rows: string[]) =>
      ["## Configuration", "", "| variable | default | meaning |", "|---|---|---|", ...rows, "", "## Next"].join("\n");
    const rows = configurationRows(table(["| `PORT` | `5000` | HTTP port |", "| `NOT_A_SETTING` | `1` | nothing |"]));
    expect([...rows.keys()]).toEqual(["PORT", "NOT_A_SETTING"]);
    expect(documentedDefault("PORT")).toBe("`5000`");
    expect(documentedDefault("DATABASE_HOST")).toBe("**required**");
    expect(documentedDefault("REDIS_HOST")).toBe("unset");
    expect(documentedDefault("STRESS_ENDPOINT")).toBe("`false`");
  });
});
