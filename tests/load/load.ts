// Load for the autoscaling demo: CPU through GET /stress and cached reads (with a write now and
// then, so the cache misses too), for a bounded time. Every request opens its own connection, so a
// Kubernetes Service spreads the load over every pod, the new ones included (a kept-alive
// connection would stay on the pod it first reached).
import http from "node:http";
import https from "node:https";
import { setTimeout as sleep } from "node:timers/promises";

export interface LoadOptions {
  /** Base URL of the API, without a trailing slash. */
  url: string;
  /** How long the load runs, in seconds. */
  seconds: number;
  /** Concurrent loops of GET /stress?duration=stressSeconds. */
  stressers: number;
  /** Concurrent loops of reads (and one write in 20). */
  readers: number;
  stressSeconds: number;
  /** Ends the load early. */
  signal?: AbortSignal;
}

export interface LoadCounts {
  requests: number;
  /** Answers by status class ("2xx", "4xx", "5xx"). */
  statuses: Record<string, number>;
  /** X-Cache answers of cached reads. */
  xCache: Record<string, number>;
  /** Requests that got no answer (refused, reset). */
  errors: number;
}

export const loadLimits = { seconds: { min: 1, max: 1800 }, concurrency: { max: 64 }, stressSeconds: { min: 1, max: 10 } };

interface Answer {
  status: number;
  xCache?: string;
  retryAfter?: string;
  body: string;
}

function send(url: string, method = "GET", body?: string, signal?: AbortSignal): Promise<Answer> {
  const target = new URL(url);
  const client = target.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.request(
      target,
      // agent: false: a connection of its own, closed after the answer.
      { method, agent: false, headers: body ? { "content-type": "application/json" } : {}, timeout: 30_000, signal },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () =>
          resolve({
            status: response.statusCode ?? 0,
            xCache: response.headers["x-cache"] as string | undefined,
            retryAfter: response.headers["retry-after"],
            body: text,
          }),
        );
        response.on("error", reject);
      },
    );
    request.on("timeout", () => request.destroy(new Error("no answer within 30 s")));
    request.on("error", reject);
    request.end(body);
  });
}

/** Fails with a sentence a user can act on when the API is unreachable or /stress is off. */
export async function checkTarget(url: string): Promise<void> {
  let answer: Answer;
  try {
    answer = await send(`${url}/health`);
  } catch (error) {
    throw new Error(`${url}/health did not answer: ${(error as Error).message}`);
  }
  if (answer.status !== 200) throw new Error(`${url}/health answered ${answer.status}, not 200: is this TaskFlow?`);
  const stress = await send(`${url}/stress?duration=1`);
  if (stress.status === 404) throw new Error(`${url}/stress is off: set taskflow:stressEndpoint true (STRESS_ENDPOINT=true)`);
  // 429: on, with its burns all taken (by another load, say).
  if (stress.status !== 200 && stress.status !== 429) throw new Error(`${url}/stress?duration=1 answered ${stress.status}`);
}

export async function runLoad(options: LoadOptions, onTick?: (counts: LoadCounts, elapsedSeconds: number) => void): Promise<LoadCounts> {
  const { url } = options;
  const counts: LoadCounts = { requests: 0, statuses: {}, xCache: {}, errors: 0 };
  const started = Date.now();
  const deadline = started + options.seconds * 1000;
  const running = () => Date.now() < deadline && !options.signal?.aborted;
  const record = (answer: Answer) => {
    counts.requests++;
    const kind = `${Math.floor(answer.status / 100)}xx`;
    counts.statuses[kind] = (counts.statuses[kind] ?? 0) + 1;
    if (answer.xCache) counts.xCache[answer.xCache] = (counts.xCache[answer.xCache] ?? 0) + 1;
    return answer;
  };
  const attempt = async (path: string, method?: string, body?: string): Promise<Answer | undefined> => {
    try {
      return record(await send(`${url}${path}`, method, body, options.signal));
    } catch {
      if (options.signal?.aborted) return undefined;
      counts.errors++;
      // A refused connection answers at once: without a pause the loop would spin.
      await new Promise((r) => setTimeout(r, 200));
      return undefined;
    }
  };

  const stresser = async () => {
    while (running()) {
      const answer = await attempt(`/stress?duration=${options.stressSeconds}`);
      // A pod already running its most burns answers 429 at once: wait as it asks instead of
      // spinning (the next try may reach another pod, a new one included).
      if (answer?.status === 429) {
        const wait = Math.min((Number(answer.retryAfter) || 1) * 1000, deadline - Date.now());
        await sleep(Math.max(wait, 0), undefined, { signal: options.signal }).catch(() => undefined);
      }
    }
  };
  const reader = async () => {
    for (let i = 0; running(); i++) {
      await attempt("/tasks?limit=20");
      await attempt(`/tasks/${1 + Math.floor(Math.random() * 1000)}`);
      await attempt("/stats");
      if (i % 20 === 19) {
        const created = await attempt("/tasks", "POST", JSON.stringify({ title: "load test", priority: "low" }));
        const id = created?.status === 201 ? (JSON.parse(created.body) as { id: number }).id : undefined;
        if (id !== undefined) await attempt(`/tasks/${id}`, "DELETE");
      }
    }
  };
  const ticker = onTick ? setInterval(() => onTick(counts, Math.round((Date.now() - started) / 1000)), 10_000) : undefined;
  try {
    await Promise.all([...Array.from({ length: options.stressers }, stresser), ...Array.from({ length: options.readers }, reader)]);
  } finally {
    clearInterval(ticker);
  }
  return counts;
}

export function describeCounts(counts: LoadCounts): string {
  const join = (record: Record<string, number>) =>
    Object.entries(record)
      .sort()
      .map(([key, value]) => `${key}=${value}`)
      .join(" ") || "none";
  return `${counts.requests} answers (${join(counts.statuses)}), X-Cache ${join(counts.xCache)}, ${counts.errors} without answer`;
}
