// `npm run dev`: the API with nothing installed. PostgreSQL is PGlite, in memory, served over the
// wire protocol by pglite-socket; the cache is off unless REDIS_HOST is set. Development only: the
// production entry (main.ts) never falls back to an embedded database.
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import pretty from "pino-pretty";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { startService } from "./server.ts";

// A bad variable or a PORT in use: one line, as `npm start` prints it; the watcher then waits for
// the next save.
function refuse(error: unknown): never {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

// Checked before PGlite starts, which takes seconds: a bad variable is reported at once. PGlite's
// port is known only once it has started.
let config: Config;
try {
  config = loadConfig({
    SEED_TASKS: "20",
    LOG_LEVEL: "debug",
    STRESS_ENDPOINT: "true",
    ...process.env,
    DATABASE_HOST: "127.0.0.1",
    DATABASE_PORT: undefined,
    DATABASE_NAME: "postgres",
    DATABASE_USER: "postgres",
    DATABASE_PASSWORD: "pglite",
    DATABASE_POOL_MAX: "1",
  });
} catch (error) {
  refuse(error);
}
// Readable lines for a person at a terminal; the production entry keeps JSON lines.
const logger = createLogger(config.LOG_LEVEL, pretty({ ignore: "service", translateTime: "SYS:HH:MM:ss.l", singleLine: true }));

const db = await PGlite.create();
// pglite-socket serves one session at a time; the pool must not open more. The second connection
// is the one the cache listens on for invalidations (with REDIS_HOST set), which runs no
// transaction to interleave with the pool's.
const pg = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 2 });
await pg.start();
const pgPort = Number(new URL(`postgres://${pg.getServerConn()}`).port);

const service = await startService({ ...config, DATABASE_PORT: pgPort }, logger).catch(refuse);
logger.info({ url: service.url, pglite_port: pgPort }, "dev server ready");

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, async () => {
    await service.stop();
    await pg.stop();
    await db.close();
    process.exit(0);
  });
}
