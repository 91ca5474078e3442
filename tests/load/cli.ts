// npm run load -- <base-url> [seconds]: drives /stress and cached reads for a bounded time, so the
// autoscaler (and Grafana's "API pods" panel) has something to react to.
import { parseArgs } from "node:util";
import { parseBaseUrl } from "../smoke/smoke.ts";
import { checkTarget, describeCounts, loadLimits, runLoad } from "./load.ts";

const usage =
  "usage: npm run load -- <base-url> [seconds] [--stressers N] [--readers N] [--stress-seconds N]\n" +
  '       (e.g. npm run load -- "$(pulumi stack output url)" 300)';

function integer(name: string, value: string | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const number = Number(value);
  if (!Number.isInteger(number) || number < min || number > max) throw new Error(`${name} must be an integer from ${min} to ${max}`);
  return number;
}

let options: Parameters<typeof runLoad>[0];
try {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { stressers: { type: "string" }, readers: { type: "string" }, "stress-seconds": { type: "string" } },
  });
  if (positionals.length < 1 || positionals.length > 2)
    throw new Error(`expected a URL and optionally seconds, got ${positionals.length} arguments`);
  options = {
    url: parseBaseUrl(positionals[0]),
    seconds: integer("seconds", positionals[1], 180, loadLimits.seconds.min, loadLimits.seconds.max),
    stressers: integer("--stressers", values.stressers, 4, 0, loadLimits.concurrency.max),
    readers: integer("--readers", values.readers, 8, 0, loadLimits.concurrency.max),
    stressSeconds: integer("--stress-seconds", values["stress-seconds"], 5, loadLimits.stressSeconds.min, loadLimits.stressSeconds.max),
  };
} catch (error) {
  console.error(`load: ${(error as Error).message}\n${usage}`);
  process.exit(2);
}

try {
  await checkTarget(options.url);
} catch (error) {
  console.error(`load: ${(error as Error).message}`);
  process.exit(1);
}
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
console.log(
  `load: ${options.url} for ${options.seconds} s: ${options.stressers} × GET /stress?duration=${options.stressSeconds}, ` +
    `${options.readers} × reads (a write in 20); Ctrl-C stops it`,
);
const counts = await runLoad({ ...options, signal: stop.signal }, (sofar, elapsed) =>
  console.log(`load: ${elapsed} s: ${describeCounts(sofar)}`),
);
console.log(`load: done: ${describeCounts(counts)}`);
