// The task board at / and the API reference at /docs: static files, read once at start-up, that
// use only the public API. Not in /openapi.json: they are pages, not API.
import { Hono } from "hono";
import { packageFile, readStaticFile } from "../static-files.ts";

// Scripts, styles, fetches and images from this origin only: no inline script or style, no CDN.
// default-src does not cover base-uri, form-action or frame-ancestors, so each is set.
const PAGE_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'";
// Swagger UI's stylesheet draws its icons as data: images (swagger-ui.css); nothing else differs.
const DOCS_POLICY =
  "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors 'none'";

const HTML = "text/html; charset=utf-8";
const CSS = "text/css; charset=utf-8";
const JS = "text/javascript; charset=utf-8";

// A function, so a package file that cannot be resolved fails start-up (logged by main.ts) rather
// than the import of this module.
const files = (): { path: string; file: string | URL; type: string; policy?: string }[] => [
  { path: "/", file: "public/index.html", type: HTML, policy: PAGE_POLICY },
  { path: "/board.css", file: "public/board.css", type: CSS },
  { path: "/board.js", file: "public/board.js", type: JS },
  { path: "/docs", file: "public/docs.html", type: HTML, policy: DOCS_POLICY },
  { path: "/docs/docs.css", file: "public/docs.css", type: CSS },
  { path: "/docs/docs.js", file: "public/docs.js", type: JS },
  { path: "/docs/swagger-ui.css", file: packageFile("swagger-ui-dist/swagger-ui.css"), type: CSS },
  { path: "/docs/swagger-ui-bundle.js", file: packageFile("swagger-ui-dist/swagger-ui-bundle.js"), type: JS },
];

export function boardRoutes() {
  const app = new Hono();
  for (const { path, file, type, policy } of files()) {
    const { body, etag } = readStaticFile(file);
    // These replace the API's Cache-Control: no-store and CSP, set on the Node response by
    // server.ts: @hono/node-server passes a Response's headers to writeHead
    // (node_modules/@hono/node-server/dist/index.mjs:982), and those win over setHeader's
    // (https://nodejs.org/api/http.html#responsewriteheadstatuscode-statusmessage-headers).
    // no-cache, not a max-age: the browser keeps its copy but asks each time (a 304 without a body
    // when unchanged), so a page and its script never come from two different deployments.
    const headers: Record<string, string> = { "Cache-Control": "no-cache", ETag: etag };
    if (policy) headers["Content-Security-Policy"] = policy;
    app.get(path, (c) =>
      c.req.header("If-None-Match") === etag
        ? new Response(null, { status: 304, headers })
        : new Response(body as Uint8Array<ArrayBuffer>, { headers: { ...headers, "Content-Type": type } }),
    );
  }
  return app;
}
