// Production entry: configured only by the environment; never falls back to an embedded database.
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { createLogger } from "./logger.ts";
import { startService } from "./server.ts";

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
}

const logger = createLogger(config.LOG_LEVEL);
const starting = new AbortController();
let stop: (() => Promise<void>) | undefined;

let signalled = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  // process.on, not once: after once, a second signal meets Node's default action and kills the
  // process mid-drain, before in-flight writes have invalidated the cache. A repeat changes nothing;
  // the hard stop is Kubernetes' SIGKILL after terminationGracePeriodSeconds.
  process.on(signal, () => {
    if (signalled) {
      logger.warn({ signal }, "signal received again: still shutting down");
      return;
    }
    signalled = true;
    logger.info({ signal }, "signal received");
    if (!stop) {
      starting.abort();
      return;
    }
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  });
}

try {
  ({ stop } = await startService(config, logger, { signal: starting.signal }));
  // A signal that came after migrations and seeding, while the server was being set up: stop now
  // that there is a server to stop. One before that has ended start-up at once (server.ts).
  if (starting.signal.aborted) {
    await stop();
    process.exit(0);
  }
} catch (error) {
  // A setting the process cannot run with (PORT in use): one line, as for a bad variable.
  if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`);
    process.exit(1);
  }
  if ((error as Error).name === "AbortError") {
    logger.info("stopped before start-up finished");
    process.exit(0);
  }
  logger.fatal({ err: error }, "start-up failed");
  process.exit(1);
}
