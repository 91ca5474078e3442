// Bundles the service into dist/main.mjs so the image needs no node_modules.
import { build } from "esbuild";

await build({
  entryPoints: { main: "src/main.ts" },
  outdir: "dist",
  outExtension: { ".js": ".mjs" },
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node20",
  // White space and syntax only. Identifiers keep their names, so classes and functions keep
  // theirs for error names and stack traces (dependencies test e.constructor.name) without
  // esbuild's keepNames, which wraps every named arrow function in an Object.defineProperty call:
  // Hono's Context has about twenty, defined on each request, an eighth of a cached read's CPU.
  minifyWhitespace: true,
  minifySyntax: true,
  // dist/main.mjs.map, read by `node --enable-source-maps` (npm start, the image's CMD) so a stack
  // names src/*.ts and node_modules lines, never a position in the minified bundle. Without the
  // sources' text: a stack needs only the mappings, and the image stays small.
  sourcemap: true,
  sourcesContent: false,
  legalComments: "none",
  // Bundled CommonJS dependencies (ioredis, pino, ...) still call require() for Node built-ins.
  banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  logLevel: "warning",
});
