import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { secretSettings } from "../../service/src/config.ts";
import { createLogger, requestLogger } from "../../service/src/logger.ts";

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as Record<string, unknown>);
      done();
    },
  });
  return { lines, logger: createLogger("info", destination) };
}

describe("logs", () => {
  it("redact every secret setting and password, at the top level and one level down", () => {
    const { lines, logger } = capture();
    for (const name of secretSettings) {
      logger.info({ [name]: "s3cret", config: { [name]: "s3cret" } }, "config");
    }
    logger.warn({ err: { message: "refused", password: "s3cret" }, password: "s3cret" }, "failure");
    expect(lines).toHaveLength(secretSettings.length + 1);
    expect(JSON.stringify(lines)).not.toContain("s3cret");
    expect(lines.at(-1)).toMatchObject({ err: { message: "refused", password: "[redacted]" }, password: "[redacted]", level: "warn" });
  });

  it("write the request line as given, unredacted: only fields that cannot hold a secret go to it", () => {
    const { lines, logger } = capture();
    requestLogger(logger).info({ path: "/tasks?password=visible", password: "visible" }, "request");
    expect(lines[0]).toMatchObject({ path: "/tasks?password=visible", password: "visible" });
  });

  it("write the request line as given, with the logger's level, time and service", () => {
    const { lines, logger } = capture();
    requestLogger(logger).info({ method: "GET", path: "/tasks/7", route: "/tasks/:id", status: 200, duration_ms: 0.5 }, "request");
    expect(lines).toEqual([
      {
        level: "info",
        time: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
        service: "taskflow-api",
        method: "GET",
        path: "/tasks/7",
        route: "/tasks/:id",
        status: 200,
        duration_ms: 0.5,
        msg: "request",
      },
    ]);
  });
});
