import { type Logger, pino } from "pino";
import { type Config, secretSettings } from "./config.ts";

export type { Logger };

// pino.stdTimeFunctions.isoTime formats a Date per line, a tenth of a request line's cost under
// load; lines within one millisecond share the text.
let lastMs = 0;
let lastTime = "";
const isoTime = () => {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
};

// JSON lines on stdout. Secret settings are redacted by name wherever they appear in a log object.
// Written asynchronously: a synchronous write per request line stalls the event loop under load;
// pino flushes what is pending when the process exits (https://getpino.io/#/docs/asynchronous).
export function createLogger(level: Config["LOG_LEVEL"], destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: "taskflow-api" },
      timestamp: isoTime,
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
