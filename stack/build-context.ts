// Content hash of a Docker build context, the image tag: a change to anything Docker would send
// yields a new tag (so the Deployment rolls), and an unchanged tree the same tag (so no diff).
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import path from "node:path";

interface Pattern {
  matches: (path: string) => boolean;
  exception: boolean;
  /** The pattern up to its first wildcard: which directories could hold a match. */
  literalPrefix: string;
}

/**
 * .dockerignore rules as a Linux or macOS Docker client applies them (moby/patternmatcher
 * ignorefile/ignorefile.go ReadAll, patternmatcher.go New, compile and match, which BuildKit's
 * context transfer uses): comments, `!` exceptions, paths cleaned and made relative, `*` and `?`
 * within one segment, `**` across segments, `\` escaping the next character, the last matching
 * line wins, and a pattern that matches a parent directory matches everything below it.
 * tests/stack/build-context.test.ts runs patternmatcher's own test cases against it.
 */
export function parseDockerignore(text: string): Pattern[] {
  const patterns: Pattern[] = [];
  for (const raw of text.replace(/^\uFEFF/, "").split(/\r?\n/)) {
    if (raw.startsWith("#")) continue;
    let line = raw.trim();
    if (!line) continue;
    const exception = line.startsWith("!");
    if (exception) line = line.slice(1).trim();
    if (!line) throw new Error('.dockerignore: illegal exclusion pattern "!"');
    line = path.posix.normalize(line).replace(/(.)\/+$/, "$1");
    if (line.length > 1 && line.startsWith("/")) line = line.slice(1);
    patterns.push({ matches: compile(line), exception, literalPrefix: line.split(/[*?[\\]/)[0]! });
  }
  return patterns;
}

// These need escaping in a regular expression and mean nothing in a pattern; `[`, `]` and `^` pass
// through as they do in patternmatcher (a class, and `^` an anchor that never matches there).
const ESCAPED = new Set(".+()|{}$");

/** patternmatcher's compile and match: exact, prefix (`dir/**`), suffix (`**` + literal) or regexp. */
function compile(pattern: string): (path: string) => boolean {
  let source = "^";
  let type: "exact" | "prefix" | "suffix" | "regexp" = "exact";
  const chars = [...pattern];
  for (let i = 0, step = 0; i < chars.length; i++, step++) {
    const ch = chars[i]!;
    if (ch === "*" && chars[i + 1] === "*") {
      i++;
      if (chars[i + 1] === "/") i++;
      if (i + 1 >= chars.length) {
        if (type === "exact") type = "prefix";
        else {
          source += ".*";
          type = "regexp";
        }
      } else {
        source += "(.*/)?";
        type = "regexp";
      }
      if (step === 0) type = "suffix";
    } else if (ch === "*") {
      source += "[^/]*";
      type = "regexp";
    } else if (ch === "?") {
      source += "[^/]";
      type = "regexp";
    } else if (ESCAPED.has(ch)) {
      source += `\\${ch}`;
    } else if (ch === "\\") {
      if (i + 1 < chars.length) {
        source += `\\${chars[++i]}`;
        type = "regexp";
      } else {
        source += "\\\\";
      }
    } else if (ch === "[" || ch === "]") {
      source += ch;
      type = "regexp";
    } else {
      source += ch;
    }
  }
  switch (type) {
    case "exact":
      return (path) => path === pattern;
    case "prefix":
      return (path) => path.startsWith(pattern.slice(0, -2));
    case "suffix": {
      const suffix = pattern.slice(2);
      return (path) => path.endsWith(suffix) || (suffix.startsWith("/") && path === suffix.slice(1));
    }
    case "regexp": {
      // Without the u flag, which refuses a lone `]` that Go's regexp takes literally. The one
      // difference left: `?` and `[^/]` take one UTF-16 unit where Go takes a code point, so a name
      // with characters outside the BMP can match otherwise.
      const regex = new RegExp(`${source}$`);
      return (path) => regex.test(path);
    }
  }
}

export function isExcluded(relativePath: string, patterns: Pattern[]): boolean {
  const parts = relativePath.split("/");
  const candidates = parts.map((_, i) => parts.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const pattern of patterns) {
    // Docker skips lines that cannot change the verdict so far.
    if (pattern.exception !== excluded) continue;
    if (candidates.some((candidate) => pattern.matches(candidate))) excluded = !pattern.exception;
  }
  return excluded;
}

/** An excluded directory is still walked when an exception could re-include something inside it. */
function mayHoldExceptions(directory: string, patterns: Pattern[]): boolean {
  return patterns.some(
    ({ exception, literalPrefix }) => exception && (literalPrefix.startsWith(`${directory}/`) || `${directory}/`.startsWith(literalPrefix)),
  );
}

export interface BuildInput {
  /** Absolute path of the build context. */
  context: string;
  /** Absolute path of the Dockerfile, inside the context. */
  dockerfile: string;
}

/**
 * The files the Docker provider sends for this build, as sorted slash-separated paths relative to
 * the context. As pulumi-docker's getIgnorePatterns (provider/provider.go:656-684, v5.1.0 to HEAD
 * 237b789) and BuildKit read them: `<Dockerfile>.dockerignore` if it exists, else the context's
 * `.dockerignore`. Then docker/cli's TrimBuildFilesFromExcludes, which the provider calls
 * (provider/image.go:119-148), adds back the context's `.dockerignore` and the Dockerfile.
 */
export function contextFiles({ context, dockerfile }: BuildInput): string[] {
  const relative = path.relative(context, dockerfile);
  // Empty (the context itself), "..", above it, or on another Windows drive (absolute).
  if (!relative || relative === ".." || relative.startsWith(`..${path.sep}`) || path.isAbsolute(relative)) {
    throw new Error(`${dockerfile} is not a file inside the build context ${context}`);
  }
  const relativeDockerfile = relative.split(path.sep).join("/");
  const ignoreFile = [`${dockerfile}.dockerignore`, path.join(context, ".dockerignore")].find((file) => existsSync(file));
  const patterns = ignoreFile ? parseDockerignore(readFileSync(ignoreFile, "utf8")) : [];
  const files: string[] = [];
  const walk = (relativeDir: string) => {
    for (const entry of readdirSync(path.join(context, relativeDir), { withFileTypes: true })) {
      const relative = relativeDir ? `${relativeDir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!isExcluded(relative, patterns) || mayHoldExceptions(relative, patterns)) walk(relative);
      } else if (!isExcluded(relative, patterns)) {
        files.push(relative);
      }
    }
  };
  walk("");
  for (const always of [relativeDockerfile, ".dockerignore"]) {
    if (existsSync(path.join(context, always)) && !files.includes(always)) files.push(always);
  }
  return files.sort();
}

/**
 * A 16-hex-digit digest of the files Docker would send (names, contents, symlink targets, the
 * executable bit) and of the build arguments, which change the image as much as a file does.
 */
export function hashBuildContext(build: BuildInput, buildArgs: Record<string, string> = {}, platform = ""): string {
  const hash = createHash("sha256");
  for (const relative of contextFiles(build)) {
    const absolute = path.join(build.context, relative);
    const stat = lstatSync(absolute);
    const kind = stat.isSymbolicLink() ? "link" : stat.mode & 0o111 ? "exec" : "file";
    const content = stat.isSymbolicLink() ? readlinkSync(absolute) : readFileSync(absolute);
    hash.update(`${relative}\0${kind}\0`).update(createHash("sha256").update(content).digest()).update("\n");
  }
  for (const key of Object.keys(buildArgs).sort()) hash.update(`arg\0${key}\0${buildArgs[key]}\n`);
  if (platform) hash.update(`platform\0${platform}\n`);
  return hash.digest("hex").slice(0, 16);
}
