// Stale cached reads across Redis restarts (docs/cache.md): two replicas of the built service on
// a throwaway redis-server, one task written again and again through either replica while readers
// read it through both, and Redis killed and started again RESTARTS times. A read is stale when
// the task it returns is older than the last write answered before the read was sent. Then how
// far a NOTIFY's delivery leads PostgreSQL's answer to it.
//   npm run build && npx tsx bench/cache-restart.ts
//   RESTARTS=10 BENCH_SERVICE=/path/to/dist/main.mjs npx tsx bench/cache-restart.ts
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTestDatabase } from "../tests/helpers/postgres.ts";
import { RedisServer } from "../tests/helpers/redis.ts";
import { runId } from "./infra.ts";
import { type RunningServer, SERVICE_ENTRY, startService } from "./server.ts";

const RESTARTS = Number(process.env.RESTARTS ?? 5);
// Each restart: Redis down this long, then up for the rest of the cycle.
const DOWN_MS = 300;
const CYCLE_MS = 3000;
const READERS_PER_REPLICA = 2;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const logs = mkdtempSync(join(tmpdir(), "taskflow-cache-restart-"));
const db = await createTestDatabase(`${runId}_restart`);
const redis = await new RedisServer().start();
const replicas: RunningServer[] = [];
try {
  const env = { ...db.env, REDIS_HOST: "127.0.0.1", REDIS_PORT: String(redis.port), CACHE_PREFIX: runId, LOG_LEVEL: "warn" };
  for (const name of ["a", "b"]) replicas.push(await startService(name, env, join(logs, `${name}.log`)));
  const version = (title: string) => Number(title.slice(1));
  const create = await fetch(`${replicas[0]!.url}/tasks`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "v0" }),
  });
  const { id } = (await create.json()) as { id: number };

  let answered = 0;
  let running = true;
  const reads = { HIT: 0, MISS: 0, BYPASS: 0, failed: 0 };
  const stale = { HIT: 0, MISS: 0, BYPASS: 0 };
  let worstLagMs = 0;
  const answeredAt = new Map<number, number>();

  const writer = (async () => {
    for (let n = 1; running; n++) {
      const replica = replicas[n % 2]!;
      const res = await fetch(`${replica.url}/tasks/${id}`, {
        method: "PATCH",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ title: `v${n}` }),
      }).catch(() => undefined);
      await res?.body?.cancel();
      if (res?.status === 200) {
        answered = n;
        answeredAt.set(n, performance.now());
      }
      await sleep(5);
    }
  })();
  const reader = async (replica: RunningServer) => {
    while (running) {
      const floor = answered;
      const res = await fetch(`${replica.url}/tasks/${id}`).catch(() => undefined);
      if (res?.status !== 200) {
        await res?.body?.cancel();
        reads.failed++;
        continue;
      }
      const outcome = res.headers.get("x-cache") as keyof typeof stale;
      reads[outcome]++;
      const seen = version(((await res.json()) as { title: string }).title);
      if (seen < floor) {
        stale[outcome]++;
        // How long after the first write it missed was answered.
        worstLagMs = Math.max(worstLagMs, performance.now() - answeredAt.get(seen + 1)!);
      }
    }
  };
  const readers = replicas.flatMap((replica) => Array.from({ length: READERS_PER_REPLICA }, () => reader(replica)));

  await sleep(1000);
  for (let i = 0; i < RESTARTS; i++) {
    await redis.stop();
    await sleep(DOWN_MS);
    await redis.start();
    await sleep(CYCLE_MS - DOWN_MS);
  }
  running = false;
  await Promise.all([writer, ...readers]);

  const total = reads.HIT + reads.MISS + reads.BYPASS;
  console.log(`service: ${SERVICE_ENTRY}`);
  console.log(
    `${RESTARTS} restarts of Redis (down ${DOWN_MS} ms each), ${answered} writes answered, ${total} reads answered (${reads.failed} failed)`,
  );
  console.log(`reads: ${reads.HIT} HIT, ${reads.MISS} MISS, ${reads.BYPASS} BYPASS`);
  console.log(
    `stale reads: ${stale.HIT} HIT, ${stale.MISS} MISS, ${stale.BYPASS} BYPASS; the latest ${worstLagMs.toFixed(0)} ms after the write it missed was answered`,
  );
  console.log(`server logs: ${logs}`);

  // The window left: a notification has to reach the other replicas before the write's answer
  // reaches a client and that client's next read reaches them. Here both go to one process: how
  // long before (negative: after) PostgreSQL answers a NOTIFY its notification arrives.
  const leads: number[] = [];
  let arrived: (() => void) | undefined;
  await db.sql.listen("taskflow_bench_lead", () => arrived?.());
  for (let i = 0; i < 1000; i++) {
    let arrivedAt = 0;
    const notified = new Promise<void>((resolve) => {
      arrived = () => {
        arrivedAt = performance.now();
        resolve();
      };
    });
    await db.sql.notify("taskflow_bench_lead", "");
    const answeredAt = performance.now();
    await notified;
    leads.push(answeredAt - arrivedAt);
  }
  leads.sort((x, y) => x - y);
  const at = (q: number) => leads[Math.min(leads.length - 1, Math.floor(q * leads.length))]!.toFixed(3);
  console.log(
    `NOTIFY lead over its answer, ms: min ${at(0)}, median ${at(0.5)}, p99 ${at(0.99)}, max ${at(1)}; arrived after the answer: ${leads.filter((l) => l < 0).length} of ${leads.length}`,
  );
} finally {
  await Promise.all(replicas.map((r) => r.stop()));
  await redis.stop();
  await db.drop();
}
