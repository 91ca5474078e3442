// Files served as they are on disk, read once at start-up. Paths are relative to the service
// directory, found as migrate.ts finds the migrations: src/*.ts under tsx and the bundle
// dist/main.mjs both sit one level below it (service/ here, /app in the image).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const serviceDir = new URL("..", import.meta.url);
const resolveModule = createRequire(import.meta.url).resolve;

/**
 * A file of a dependency, where Node's resolution finds it: the repository root's node_modules
 * (npm workspaces hoist the service's dependencies there), /app/node_modules in the image.
 */
export const packageFile = (specifier: string): URL => pathToFileURL(resolveModule(specifier));

export interface StaticFile {
  body: Buffer;
  /** A strong validator: the content's hash, so a browser's copy is reused until the file changes. */
  etag: string;
}

/**
 * A path relative to the service directory, or a packageFile. Throws when the file is missing, so
 * a server without its page never starts.
 */
export function readStaticFile(file: string | URL): StaticFile {
  const body = readFileSync(new URL(file, serviceDir));
  return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}
