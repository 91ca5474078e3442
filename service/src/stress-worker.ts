// Runs in a worker thread so the CPU burn of GET /stress never blocks the event loop that answers
// health probes and other requests.
import { parentPort, workerData } from "node:worker_threads";

const { seconds } = workerData as { seconds: number };
const until = Date.now() + seconds * 1000;
let iterations = 0;
let x = 0;
while (Date.now() < until) {
  for (let i = 0; i < 10_000; i++) x += Math.sqrt(i * x + 1);
  iterations += 10_000;
}
parentPort?.postMessage({ iterations, checksum: Number.isFinite(x) });
