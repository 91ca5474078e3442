// The service's configuration contract: every environment variable it reads, with its default and
// validation. The Pulumi stack imports this module to build the ConfigMap and Secret, so the env the
// stack sets and the env the service reads cannot drift apart.
import { z } from "zod";

const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^-?\d+$/, "must be an integer")
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const port = int(1, 65535);
const nonEmpty = z.string().trim().min(1, "must not be empty");
const bool = z.enum(["true", "false"], "must be true or false").transform((v) => v === "true");

// Secrets are kept out of the ConfigMap by the stack and out of every log line by the service.
export const secretSettings = ["DATABASE_PASSWORD", "REDIS_PASSWORD"] as const;

export const envSchema = z.object({
  // 0 asks the OS for a free port (tests, benchmarks); the log line "listening" names it.
  PORT: int(0, 65535).default(5000),
  DATABASE_HOST: nonEmpty,
  DATABASE_PORT: port.default(5432),
  DATABASE_NAME: nonEmpty.default("taskflow_db"),
  DATABASE_USER: nonEmpty.default("taskflow"),
  DATABASE_PASSWORD: z.string().min(1, "must not be empty"),
  DATABASE_POOL_MAX: int(1, 100).default(10),
  // A request's deadline for its database work: past it, 503, and PostgreSQL cancels the statement.
  DATABASE_TIMEOUT_MS: int(100, 60_000).default(5000),
  REDIS_HOST: nonEmpty.optional(),
  REDIS_PORT: port.default(6379),
  REDIS_PASSWORD: z.string().min(1, "must not be empty").optional(),
  CACHE_TTL: int(1, 86_400).default(300),
  CACHE_PREFIX: nonEmpty.default("taskflow"),
  LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"], "must be one of fatal, error, warn, info, debug, trace, silent")
    .default("info"),
  SEED_TASKS: int(0, 1_000_000).default(0),
  STRESS_ENDPOINT: bool.default(false),
  // Below Kubernetes' default terminationGracePeriodSeconds (30 s), which must also cover preStop.
  SHUTDOWN_GRACE_SECONDS: int(1, 300).default(20),
});

export type Config = z.infer<typeof envSchema>;
export type SettingName = keyof typeof envSchema.shape;
export const settingNames = Object.keys(envSchema.shape) as SettingName[];

/** Settings that have no default and must be set: the stack must provide each of them. */
export const requiredSettings = settingNames.filter((name) => !envSchema.shape[name].safeParse(undefined).success);

export class ConfigError extends Error {}

/**
 * Reads the settings from an environment. Throws a ConfigError whose message is one line naming
 * the first bad variable and what is wrong with it. An empty string counts as unset.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input = Object.fromEntries(settingNames.map((name) => [name, env[name] === "" ? undefined : env[name]]));
  const parsed = envSchema.safeParse(input);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const name = String(issue.path[0]);
  const message = input[name] === undefined ? "is required but not set" : issue.message;
  throw new ConfigError(`invalid configuration: ${name} ${message}`);
}
