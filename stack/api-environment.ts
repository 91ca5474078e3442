// The API's plain (non-secret) environment as the stack sets it, from the stack's settings and
// where PostgreSQL and Redis listen. Pure, so the image test runs the container with exactly what
// the Deployment's ConfigMap holds, pointed at this machine's servers instead of the Services.
import type { SettingName, secretSettings } from "../service/src/config.ts";
import type { Settings } from "./config.ts";

export type SecretSetting = (typeof secretSettings)[number];
type PlainSetting = Exclude<SettingName, SecretSetting>;

/** Every plain setting the service reads; undefined leaves the service's own default. */
export type ApiEnvironment = { [K in PlainSetting]: string | undefined };

export interface Endpoint {
  host: string;
  port: number;
}

/** The image EXPOSEs it, and the Service publishes the same number. */
const apiPort = 5000;

export function apiEnvironment(
  settings: Pick<
    Settings,
    | "databaseName"
    | "databaseUser"
    | "databasePoolMax"
    | "cacheTtlSeconds"
    | "logLevel"
    | "seedTasks"
    | "stressEndpoint"
    | "shutdownGraceSeconds"
  >,
  endpoints: { database: Endpoint; cache: Endpoint },
): ApiEnvironment {
  return {
    PORT: String(apiPort),
    DATABASE_HOST: endpoints.database.host,
    DATABASE_PORT: String(endpoints.database.port),
    DATABASE_NAME: settings.databaseName,
    DATABASE_USER: settings.databaseUser,
    DATABASE_POOL_MAX: String(settings.databasePoolMax),
    // The service's own default (5 s).
    DATABASE_TIMEOUT_MS: undefined,
    REDIS_HOST: endpoints.cache.host,
    REDIS_PORT: String(endpoints.cache.port),
    CACHE_TTL: String(settings.cacheTtlSeconds),
    // One stack, one key space: the service's default prefix is enough.
    CACHE_PREFIX: undefined,
    LOG_LEVEL: settings.logLevel,
    SEED_TASKS: String(settings.seedTasks),
    STRESS_ENDPOINT: String(settings.stressEndpoint),
    SHUTDOWN_GRACE_SECONDS: String(settings.shutdownGraceSeconds),
  };
}
