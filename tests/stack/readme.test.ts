// The README against the code: its configuration table is the service's configuration schema
// (service/src/config.ts), and every relative link in the README and docs/*.md leads somewhere.
// Markdown is read by marked's lexer (code spans and blocks hold no links or headings) and
// anchors are made by github-slugger, the algorithm GitHub uses for heading ids.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import GithubSlugger from "github-slugger";
import { lexer, type Token, type Tokens } from "marked";
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

/** Every token, depth first: block tokens, their inline tokens, list items and table cells. */
function* walk(tokens: Token[]): Generator<Token> {
  for (const token of tokens) {
    yield token;
    if ("tokens" in token && token.tokens) yield* walk(token.tokens);
    if (token.type === "list") yield* walk((token as Tokens.List).items);
    if (token.type === "table") {
      const { header, rows } = token as Tokens.Table;
      for (const cell of [...header, ...rows.flat()]) yield* walk(cell.tokens);
    }
  }
}

/** A heading's text as GitHub renders it: markup dropped, code spans' and links' text kept. */
function plainText(tokens: Token[]): string {
  return tokens
    .map((token) => {
      if ("tokens" in token && token.tokens) return plainText(token.tokens);
      return token.type === "html" ? "" : ((token as Tokens.Text).text ?? "");
    })
    .join("");
}

/** What the README says of each setting: variable → default, from the table under "## Configuration". */
function configurationRows(readme: string): Map<string, string> {
  const tokens = lexer(readme);
  const start = tokens.findIndex((token) => token.type === "heading" && token.depth === 2 && token.text === "Configuration");
  expect(start, 'README.md has a "## Configuration" section').toBeGreaterThanOrEqual(0);
  const end = tokens.findIndex((token, index) => index > start && token.type === "heading" && token.depth <= 2);
  const tables = tokens.slice(start, end === -1 ? undefined : end).filter((token): token is Tokens.Table => token.type === "table");
  expect(tables, "one table under ## Configuration").toHaveLength(1);
  const rows = new Map<string, string>();
  for (const [variable, defaultValue] of tables[0]!.rows) {
    const name = /^`([A-Z0-9_]+)`$/.exec(variable!.text.trim())?.[1];
    expect(name, `a configuration row that names no variable: ${variable!.text}`).toBeDefined();
    expect(rows.has(name!), `${name} has two rows`).toBe(false);
    rows.set(name!, defaultValue!.text.trim());
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

function unknownSettings(rows: Map<string, string>): string[] {
  return [...rows.keys()].filter((name) => !(settingNames as string[]).includes(name));
}

function headingAnchors(markdown: string): Set<string> {
  const slugger = new GithubSlugger();
  return new Set(
    [...walk(lexer(markdown))]
      .filter((token): token is Tokens.Heading => token.type === "heading")
      .map((heading) => slugger.slug(plainText(heading.tokens))),
  );
}

/** Link and image targets and reference definitions, absolute URLs left out. */
function relativeLinks(markdown: string): string[] {
  const tokens = lexer(markdown);
  const targets = [
    ...[...walk(tokens)].filter((token) => token.type === "link" || token.type === "image").map((token) => (token as Tokens.Link).href),
    ...Object.values(tokens.links).map((definition) => definition.href),
  ];
  return targets.filter((target) => !/^[a-z][a-z0-9+.-]*:/i.test(target) && !target.startsWith("//"));
}

/** Why a link from `file` is broken, or undefined when it leads somewhere. */
function brokenLink(file: string, target: string, readFile: (file: string) => string | undefined): string | undefined {
  const hash = target.indexOf("#");
  let linkPath: string;
  let anchor: string | undefined;
  try {
    linkPath = decodeURIComponent(hash === -1 ? target : target.slice(0, hash));
    anchor = hash === -1 ? undefined : decodeURIComponent(target.slice(hash + 1));
  } catch {
    return `${target} is not a valid URL path`;
  }
  // GitHub resolves a link starting with / from the repository's root.
  const base = linkPath.startsWith("/") ? "." : path.posix.dirname(file);
  const resolved = linkPath === "" ? file : path.posix.normalize(path.posix.join(base, linkPath));
  if (resolved === ".." || resolved.startsWith("../")) return `${target} leaves the repository`;
  if (linkPath !== "" && !existsSync(path.join(root, resolved))) return `${target}: ${resolved} does not exist`;
  if (anchor === undefined || !resolved.endsWith(".md")) return undefined;
  const text = readFile(resolved);
  if (text === undefined) return `${target}: ${resolved} cannot be read`;
  return headingAnchors(text).has(anchor) ? undefined : `${target}: ${resolved} has no heading #${anchor}`;
}

describe("the README's configuration table", () => {
  it("has a row for every setting of the service's schema, with the schema's default", () => {
    const rows = configurationRows(read("README.md"));
    for (const name of settingNames) {
      expect(rows.has(name), `README.md's configuration table lacks ${name}`).toBe(true);
      expect(rows.get(name), `README.md's default for ${name}`).toBe(documentedDefault(name));
    }
  });

  it("names no variable the schema does not have", () => {
    expect(unknownSettings(configurationRows(read("README.md"))), "rows in README.md for variables the service does not read").toEqual([]);
  });
});

describe("relative links in README.md and docs/*.md", () => {
  const texts = new Map(markdownFiles.map((file) => [file, read(file)]));
  const readFile = (file: string) => texts.get(file) ?? (existsSync(path.join(root, file)) ? read(file) : undefined);

  it("finds the links it checks", () => {
    const readmeLinks = relativeLinks(texts.get("README.md")!);
    expect(readmeLinks).toContain("docs/board.png");
    expect(readmeLinks).toContain("#configuration");
  });

  it.each(markdownFiles)("%s: every relative link points at a file that exists, and every #anchor at a heading", (file) => {
    const broken = relativeLinks(texts.get(file)!)
      .map((target) => brokenLink(file, target, readFile))
      .filter((why) => why !== undefined);
    expect(broken, `broken links in ${file}:\n${broken.join("\n")}`).toEqual([]);
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
    const check = (target: string) => brokenLink("README.md", target, readFile);
    expect(check("docs/no-such-page.md")).toMatch(/does not exist/);
    expect(check("#no-such-heading")).toMatch(/no heading #no-such-heading/);
    expect(check("docs/deploy.md#no-such-heading")).toMatch(/no heading/);
    expect(check("../outside.md")).toMatch(/leaves the repository/);
    expect(check("..")).toMatch(/leaves the repository/);
    expect(check("docs/100%.md")).toMatch(/not a valid URL path/);
    expect(brokenLink("docs/api.md", "/README.md#configuration", readFile)).toBeUndefined();
    expect(check("#configuration")).toBeUndefined();
    expect(check("docs/deploy.md#configuration")).toBeUndefined();
  });

  it("skip absolute URLs and links inside code", () => {
    const links = relativeLinks(
      "[a](https://x.test/a) `[b](nowhere.md)` [c](c.md)\n```\n[d](d.md)\n```\n\n- [f](f.md)\n\n| x |\n|---|\n| [g](g.md) |\n\n[e]: e.md\n",
    );
    expect(links.sort()).toEqual(["c.md", "e.md", "f.md", "g.md"]);
  });

  it("catch a configuration row for a variable the schema lacks, and a missing or wrong default", () => {
    const table = (rows: string[]) =>
      ["## Configuration", "", "| variable | default | meaning |", "|---|---|---|", ...rows, "", "## Next"].join("\n");
    const rows = configurationRows(table(["| `PORT` | `5000` | HTTP port |", "| `NOT_A_SETTING` | `1` | nothing |"]));
    expect([...rows.keys()]).toEqual(["PORT", "NOT_A_SETTING"]);
    expect(unknownSettings(rows)).toEqual(["NOT_A_SETTING"]);
    expect(documentedDefault("PORT")).toBe("`5000`");
    expect(documentedDefault("DATABASE_HOST")).toBe("**required**");
    expect(documentedDefault("REDIS_HOST")).toBe("unset");
    expect(documentedDefault("STRESS_ENDPOINT")).toBe("`false`");
  });
});
