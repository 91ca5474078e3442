// Runs the real service in-process on a free port, with its JSON log lines captured.
import { loadConfig } from "../../service/src/config.ts";
import { createLogger } from "../../service/src/logger.ts";
import { type RunningService, startService } from "../../service/src/server.ts";

export interface TestService extends RunningService {
  logs: string[];
  /** fetch relative to the service URL. */
  request(path: string, init?: RequestInit): Promise<Response>;
  json(path: string, body: unknown, method?: string): Promise<Response>;
}

export async function startTestService(env: Record<string, string>): Promise<TestService> {
  const logs: string[] = [];
  const config = loadConfig({ PORT: "0", LOG_LEVEL: "info", ...env });
  const logger = createLogger(config.LOG_LEVEL, { write: (line: string) => void logs.push(line) });
  const running = await startService(config, logger);
  const request = (path: string, init?: RequestInit) => fetch(`${running.url}${path}`, init);
  return {
    ...running,
    logs,
    request,
    json: (path, body, method = "POST") =>
      request(path, { method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) }),
  };
}
