import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { Worker } from "node:worker_threads";
import { jsonContent, errorResponses, validationHook } from "./openapi.ts";

// The CPU burn runs in a worker thread so health probes and other requests keep answering while
// the HPA demo loads the pod. Inline source keeps it one bundle with no extra file to ship.
const burnSource = `
const { parentPort, workerData } = require("node:worker_threads");
const until = Date.now() + workerData.seconds * 1000;
let x = 0, iterations = 0;
while (Date.now() < until) { for (let i = 0; i < 10000; i++) x += Math.sqrt(i * x + 1); iterations += 10000; }
parentPort.postMessage(iterations);
`;

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
  responses: { 200: { description: "Done", ...jsonContent(StressResult) }, ...errorResponses },
});

export function stressRoutes() {
  const app = new OpenAPIHono({ defaultHook: validationHook });
  app.openapi(stressRoute, async (c) => {
    const { duration } = c.req.valid("query");
    const iterations = await burnCpu(duration);
    return c.json({ status: "completed" as const, duration, iterations }, 200);
  });
  return app;
}
