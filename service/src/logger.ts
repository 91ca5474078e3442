import { pino, type Logger } from "pino";
import { secretSettings, type Config } from "./config.ts";

export type { Logger };

// JSON lines on stdout. Secret settings are redacted by name wherever they appear in a log object.
// Written asynchronously: a synchronous write per request line stalls the event loop under load;
// pino flushes what is pending when the process exits (https://getpino.io/#/docs/asynchronous).
export function createLogger(level: Config["LOG_LEVEL"], destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "taskflow-api" },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: secretSettings.flatMap((name) => [name, `*.${name}`, "password", "*.password"]), censor: "[redacted]" },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

/**
 * The per-request line's logger: its fields (method, path, route, status, duration) never hold a
 * secret, and skipping the redaction paths halves what each line costs.
 */
export const requestLogger = (logger: Logger): Logger => logger.child({}, { redact: [] });
