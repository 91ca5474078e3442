import { Worker } from "node:worker_threads";
import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { ErrorBody } from "../schemas.ts";
import { errorResponses, jsonContent, validationHook } from "./openapi.ts";

// The CPU burn runs in a worker thread so health probes and other requests keep answering while
// the HPA demo loads the pod. Inline source keeps it one bundle with no extra file to ship.
const burnSource = `
const { parentPort, workerData } = require("node:worker_threads");
const until = Date.now() + workerData.seconds * 1000;
let x = 0, iterations = 0;
while (Date.now() < until) { for (let i = 0; i < 10000; i++) x += Math.sqrt(i * x + 1); iterations += 10000; }
parentPort.postMessage(iterations);
`;

/**
 * Burns that may run at once in one process. Each worker thread is a V8 isolate of its own, 11 to
 * 15 MB (docs/memory.md): without a cap, 24 at once took the process past the pod's 256 MiB.
 * One burn already spins a whole core, more than the pod's CPU limit (500m), so one is enough to
 * drive the autoscaler (its target is 50% of a 100m request); two cover a limit of up to two cores
 * and let a new burn start while another is finishing. Fixed rather than os.availableParallelism(),
 * which counts the node's cores, not the pod's CPU limit.
 */
export const MAX_CONCURRENT_BURNS = 2;

// A burn beyond the cap is refused with 429 and Retry-After, as kube-apiserver refuses requests
// beyond --max-requests-inflight (k8s.io/apiserver pkg/server/filters/maxinflight.go): a limit the
// client's concurrency ran into, not a fault of the server, so it stays out of the 5xx ratio the
// stack alerts on (stack/monitoring/alerts.yml) while a burn that fails for real still counts.

function burnCpu(seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(burnSource, { eval: true, workerData: { seconds } });
    worker.once("message", resolve);
    worker.once("error", reject);
  });
}

const StressQuery = z.strictObject({
  duration: z
    .string()
    .regex(/^\d{1,2}$/, "duration must be an integer")
    .transform(Number)
    .pipe(z.number().min(1, "duration must be at least 1").max(10, "duration must be at most 10"))
    .openapi({ param: { name: "duration", in: "query" }, type: "integer", example: 5 }),
});

const StressResult = z
  .object({ status: z.literal("completed"), duration: z.number().int(), iterations: z.number().int() })
  .openapi("StressResult");

const stressRoute = createRoute({
  method: "get",
  path: "/stress",
  summary: "Burn CPU for duration seconds, off the event loop (only when STRESS_ENDPOINT=true)",
  request: { query: StressQuery },
  responses: {
    200: { description: "Done", ...jsonContent(StressResult) },
    400: errorResponses[400],
    429: {
      description: `${MAX_CONCURRENT_BURNS} burns are already running in this process; nothing was started`,
      headers: {
        "Retry-After": {
          description: "Seconds until the first running burn ends",
          schema: { type: "integer", minimum: 1 },
        },
      },
      ...jsonContent(ErrorBody),
    },
  },
});

export function stressRoutes() {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  // When each running burn is due to end (ms since the epoch): their count is the cap's measure,
  // the earliest is the Retry-After.
  const running: number[] = [];
  app.openapi(stressRoute, async (c) => {
    const { duration } = c.req.valid("query");
    if (running.length >= MAX_CONCURRENT_BURNS) {
      const retryAfter = Math.max(1, Math.ceil((Math.min(...running) - Date.now()) / 1000));
      return c.json({ error: `${MAX_CONCURRENT_BURNS} stress burns already running, retry later` }, 429, {
        "Retry-After": String(retryAfter),
      });
    }
    const endsAt = Date.now() + duration * 1000;
    running.push(endsAt);
    try {
      const iterations = await burnCpu(duration);
      return c.json({ status: "completed" as const, duration, iterations }, 200);
    } finally {
      running.splice(running.indexOf(endsAt), 1);
    }
  });
  return app;
}
