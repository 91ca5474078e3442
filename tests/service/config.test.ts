import { describe, expect, it } from "vitest";
import { loadConfig, requiredSettings, secretSettings, settingNames } from "../../service/src/config.ts";

const minimal = { DATABASE_HOST: "db", DATABASE_PASSWORD: "pw" };

describe("the configuration schema", () => {
  it("applies the documented defaults", () => {
    expect(loadConfig(minimal)).toEqual({
      PORT: 5000,
      DATABASE_HOST: "db",
      DATABASE_PORT: 5432,
      DATABASE_NAME: "taskflow_db",
      DATABASE_USER: "taskflow",
      DATABASE_PASSWORD: "pw",
      DATABASE_POOL_MAX: 10,
      DATABASE_TIMEOUT_MS: 5000,
      REDIS_PORT: 6379,
      CACHE_TTL: 300,
      CACHE_PREFIX: "taskflow",
      LOG_LEVEL: "info",
      SEED_TASKS: 0,
      STRESS_ENDPOINT: false,
      SHUTDOWN_GRACE_SECONDS: 20,
    });
  });

  it("names what must be set and what is secret", () => {
    expect(requiredSettings).toEqual(["DATABASE_HOST", "DATABASE_PASSWORD"]);
    expect([...secretSettings]).toEqual(["DATABASE_PASSWORD", "REDIS_PASSWORD"]);
    for (const name of secretSettings) expect(settingNames).toContain(name);
  });

  it("parses every setting it is given", () => {
    const config = loadConfig({
      ...minimal,
      PORT: "8080",
      DATABASE_PORT: "6543",
      DATABASE_NAME: "n",
      DATABASE_USER: "u",
      DATABASE_POOL_MAX: "3",
      DATABASE_TIMEOUT_MS: "2500",
      REDIS_HOST: "cache",
      REDIS_PORT: "6380",
      REDIS_PASSWORD: "rp",
      CACHE_TTL: "60",
      CACHE_PREFIX: "p",
      LOG_LEVEL: "warn",
      SEED_TASKS: "1000",
      STRESS_ENDPOINT: "true",
      SHUTDOWN_GRACE_SECONDS: "5",
    });
    expect(config).toMatchObject({
      PORT: 8080,
      REDIS_HOST: "cache",
      REDIS_PASSWORD: "rp",
      CACHE_TTL: 60,
      STRESS_ENDPOINT: true,
      DATABASE_TIMEOUT_MS: 2500,
    });
  });

  it("ignores variables it does not define", () => {
    expect(loadConfig({ ...minimal, HOME: "/root", UNRELATED: "x" })).not.toHaveProperty("UNRELATED");
  });

  it("treats an empty value as unset", () => {
    expect(loadConfig({ ...minimal, PORT: "", REDIS_HOST: "" })).toMatchObject({ PORT: 5000, REDIS_HOST: undefined });
  });

  it.each([
    [{ DATABASE_PASSWORD: "pw" }, "invalid configuration: DATABASE_HOST is required but not set"],
    [{ DATABASE_HOST: "db" }, "invalid configuration: DATABASE_PASSWORD is required but not set"],
    [{ ...minimal, PORT: "http" }, "invalid configuration: PORT must be an integer"],
    [{ ...minimal, PORT: "70000" }, "invalid configuration: PORT must be at most 65535"],
    [{ ...minimal, DATABASE_PORT: "0" }, "invalid configuration: DATABASE_PORT must be at least 1"],
    [{ ...minimal, CACHE_TTL: "0" }, "invalid configuration: CACHE_TTL must be at least 1"],
    [{ ...minimal, CACHE_TTL: "1.5" }, "invalid configuration: CACHE_TTL must be an integer"],
    [{ ...minimal, DATABASE_TIMEOUT_MS: "50" }, "invalid configuration: DATABASE_TIMEOUT_MS must be at least 100"],
    [{ ...minimal, DATABASE_TIMEOUT_MS: "60001" }, "invalid configuration: DATABASE_TIMEOUT_MS must be at most 60000"],
    [{ ...minimal, SEED_TASKS: "-1" }, "invalid configuration: SEED_TASKS must be at least 0"],
    [{ ...minimal, STRESS_ENDPOINT: "yes" }, "invalid configuration: STRESS_ENDPOINT must be true or false"],
    [{ ...minimal, LOG_LEVEL: "loud" }, "invalid configuration: LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent"],
  ])("refuses %o with one line naming the variable", (env, message) => {
    expect(() => loadConfig(env)).toThrow(message);
    try {
      loadConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain("\n");
    }
  });

  it("never echoes a secret value in its message", () => {
    expect(() => loadConfig({ DATABASE_HOST: "db", DATABASE_PASSWORD: "hunter2", REDIS_PASSWORD: "" })).not.toThrow();
    try {
      loadConfig({ DATABASE_HOST: "", DATABASE_PASSWORD: "hunter2" });
    } catch (error) {
      expect((error as Error).message).not.toContain("hunter2");
    }
  });
});
