// npm run smoke -- <base-url>: one PASS/FAIL line per step; the exit code is 0 only if all passed.
import { parseBaseUrl, runSmoke } from "./smoke.ts";

const usage = "usage: npm run smoke -- <base-url>   (e.g. npm run smoke -- http://127.0.0.1:5000)";

let base: string;
try {
  if (process.argv.length > 3) throw new Error(`expected one argument, got ${process.argv.length - 2}`);
  base = parseBaseUrl(process.argv[2]);
} catch (error) {
  console.error(`smoke: ${(error as Error).message}. ${usage}`);
  process.exit(2);
}

console.log(`smoke: ${base}`);
const result = await runSmoke(base, (line) => console.log(line));
const failed = result.steps.filter((s) => !s.ok);
console.log(
  failed.length === 0
    ? `smoke: all ${result.steps.length} steps passed`
    : `smoke: ${failed.length} of ${result.steps.length} steps failed: ${failed.map((s) => s.step).join(", ")}`,
);
process.exitCode = failed.length === 0 ? 0 : 1;
