import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // The image test needs a Docker engine and has its own command (npm run test:image).
    exclude: ["tests/image/**", "node_modules/**"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // expect.poll's defaults (1 s, every 50 ms) are too short for a service starting on a loaded
    // machine; vi.waitFor takes its own per call.
    expect: { poll: { timeout: 10_000, interval: 100 } },
  },
});
