// Files served as they are on disk, read once at start-up. Paths are relative to the service
// directory, found as migrate.ts finds the migrations: src/*.ts under tsx and the bundle
// dist/main.mjs both sit one level below it (service/ here, /app in the image).
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";

const serviceDir = new URL("..", import.meta.url);

export interface StaticFile {
  body: Buffer;
  /** A strong validator: the content's hash, so a browser's copy is reused until the file changes. */
  etag: string;
}

/** Throws when the file is missing, so a server without its page never starts. */
export function readStaticFile(relativePath: string): StaticFile {
  const body = readFileSync(new URL(relativePath, serviceDir));
  return { body, etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 27)}"` };
}
