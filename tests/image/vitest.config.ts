import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    root: fileURLToPath(new URL("../..", import.meta.url)),
    include: ["tests/image/**/*.test.ts"],
    // A first run on a new machine starts dockerd, debootstraps the stand-in base and runs npm ci
    // inside the build: minutes, not seconds.
    hookTimeout: 20 * 60_000,
    testTimeout: 10 * 60_000,
    pool: "forks",
  },
});
