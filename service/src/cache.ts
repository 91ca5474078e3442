// The read cache. Off (REDIS_HOST unset): every read goes to PostgreSQL and answers BYPASS.
// On: reads go through Redis and every write invalidates them before it is answered.
import { Redis } from "ioredis";
import type { Config } from "./config.ts";
import type { Logger } from "./logger.ts";

export type CacheOutcome = "HIT" | "MISS" | "BYPASS";
/** connecting: Redis has not answered yet, neither ready nor with an error. */
export type CacheState = "disabled" | "connecting" | "connected" | "unavailable";

export interface Cache {
  readonly state: CacheState;
  /** The state as /ready reports it: connected only if Redis answers a PING within the reads' timeout. */
  check(): Promise<CacheState>;
  /**
   * Returns the JSON text of the cached value for key, or loads the value, stores its JSON text
   * and returns that. Text, not a value: a hit is answered as it comes from Redis, without parsing
   * and serialising it again.
   */
  read(key: string, load: () => Promise<unknown>): Promise<{ json: Buffer; outcome: CacheOutcome }>;
  /** Makes every earlier cached read unreachable; awaited by each write before it answers. */
  invalidate(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How replicas tell each other of a write whose own replica could not bump the generation in Redis
 * (through PostgreSQL: invalidations.ts).
 */
export interface InvalidationChannel {
  /**
   * Starts listening: `invalidate` for each publish of any replica, `lost` when publishes may go
   * unseen from now on, `listening` when they are seen again (also the first time).
   */
  listen(handlers: { invalidate(): void; lost(): void; listening(): void }): void;
  /** Sends one to every listening replica; resolves once PostgreSQL has taken it. */
  publish(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The generation key, shared by every entry format so that a write through a pod of either version
 * in a rolling update invalidates the entries of both; and the prefix of the entries, followed by
 * the generation, ':' and the read's key. The entries' format is in their name (v2: a list page
 * ends in "from_cache":true), so pods of two versions never read each other's entries.
 */
export const cacheKeys = (prefix: string) => ({ generation: `${prefix}:v1:gen`, entries: `${prefix}:v2:g` });

const toJson = (value: unknown) => Buffer.from(JSON.stringify(value));

export const disabledCache: Cache = {
  state: "disabled",
  check: async () => "disabled",
  read: async (_key, load) => ({ json: toJson(await load()), outcome: "BYPASS" }),
  invalidate: async () => {},
  close: async () => {},
};

// Invalidation is by generation: every entry's key holds the generation current when its read
// began, and a write bumps the generation before it answers. A slow read that loaded old rows and
// stores them after a write lands them under the old generation, where no later read looks.
// A missing generation (evicted or flushed) restarts from Redis' clock in microseconds, which is
// past any generation used before, so entries written under an earlier one are never reused.
// One call reads the generation and every entry asked for (ARGV[2..]): {gen, entry or nil, ...}.
const READ = `
local gen = redis.call('GET', KEYS[1])
if not gen then
  local t = redis.call('TIME')
  redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]), 'NX')
  gen = redis.call('GET', KEYS[1])
end
local reply = {gen}
for i = 2, #ARGV do reply[i] = redis.call('GET', ARGV[1] .. gen .. ':' .. ARGV[i]) end
return reply`;

const BUMP = `
if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCR', KEYS[1]) end
local t = redis.call('TIME')
redis.call('SET', KEYS[1], t[1] .. string.format('%06d', t[2]))
return 0`;

type GenerationRedis = Redis & {
  cacheReadBuffer(genKey: string, entryPrefix: string, ...keys: string[]): Promise<[Buffer, ...(Buffer | null)[]]>;
  cacheBump(genKey: string): Promise<number>;
};

// Redis is optional: an unreachable Redis must cost a request little, so commands fail at once
// while disconnected (no offline queue) and time out quickly when Redis stalls.
// 40 ms leaves room for event-loop lag under load while keeping a stalled Redis below the 50 ms a
// request may lose to it.
const COMMAND_TIMEOUT_MS = 40;
// A write's invalidation that failed is retried this often until it lands, reads or not.
const BUMP_RETRY_MS = 200;

export function createRedisCache(
  config: Pick<Config, "REDIS_HOST" | "REDIS_PORT" | "REDIS_PASSWORD" | "CACHE_TTL" | "CACHE_PREFIX">,
  invalidations: InvalidationChannel,
  logger: Logger,
  onOutcome: (outcome: CacheOutcome) => void = () => {},
): Cache {
  const redis = new Redis({
    host: config.REDIS_HOST,
    port: config.REDIS_PORT,
    password: config.REDIS_PASSWORD,
    connectionName: "taskflow-api",
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: COMMAND_TIMEOUT_MS,
    connectTimeout: 1000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  }) as GenerationRedis;
  redis.defineCommand("cacheRead", { numberOfKeys: 1, lua: READ });
  redis.defineCommand("cacheBump", { numberOfKeys: 1, lua: BUMP });

  const { generation: genKey, entries: entryPrefix } = cacheKeys(config.CACHE_PREFIX);
  // A bump this process owes: a write it could not invalidate, a connection to Redis it lost
  // (writes may have gone uninvalidated meanwhile), a write another replica could not invalidate
  // (published through PostgreSQL), or a time it was not listening for those. Until it is repaid
  // this process reads around the cache, and it is retried on a timer: other replicas read through
  // the cache meanwhile. Counted, so a debt incurred while a repayment is in flight is not cleared
  // by it.
  let debt = 0;
  let paid = 0;
  const owed = () => debt > paid;
  let listening = false;
  let closed = false;
  let lastError = "";
  // Until the first "ready" no bump can have been sent, so a dropped connection leaves nothing
  // uninvalidated (each write that failed owes its own bump): with no offline queue, ioredis writes
  // only its handshake and loading-safe commands such as INFO before "ready"
  // (ioredis 6.0.0 built/Redis.js:379-407, sendCommand).
  let reached = false;
  let retry: NodeJS.Timeout | undefined;
  let repaying: Promise<void> | undefined;

  /** `reason`: logged when it starts a debt; none at start, nor for another replica's write, which that replica logs. */
  const incur = (reason?: string) => {
    if (closed) return;
    if (!owed() && reason) logger.warn({ reason }, "cache invalidation owed; reads bypass the cache until Redis answers");
    debt++;
    retry ??= setInterval(() => void repay(), BUMP_RETRY_MS).unref();
  };

  // Reads and the timer share one repayment. A write never joins it: a bump that began before the
  // write committed would not invalidate what a read caches between that bump and the commit.
  // Nor does a bump made while not listening repay anything: a write published after it and
  // before listening again would go unseen.
  const repay = () =>
    (repaying ??= (async () => {
      if (!listening) return;
      const target = debt;
      try {
        await redis.cacheBump(genKey);
        paid = Math.max(paid, target);
        if (!owed()) {
          clearInterval(retry);
          retry = undefined;
        }
      } catch {
        // Still owed: the timer tries again.
      }
    })().finally(() => (repaying = undefined)));

  // Owed from the moment the connection is lost, not from when it is back: ioredis reports
  // "ready" a tick after it can already serve commands.
  redis.on("close", () => {
    if (reached) incur("connection to Redis lost");
  });
  redis.on("ready", () => {
    reached = true;
    logger.info("cache connected");
    lastError = "";
    void repay();
  });
  // Owed from the start: a write published before this process listened never reached it.
  incur();
  invalidations.listen({
    // Bumped at once, not on the timer: until a bump lands, every replica still reading Redis
    // can serve the rows from before that write.
    invalidate: () => {
      incur();
      void repay();
    },
    lost: () => {
      listening = false;
      incur("connection listening for invalidations lost");
    },
    listening: () => {
      listening = true;
      void repay();
    },
  });
  redis.on("error", (error: Error) => {
    // ioredis retries on its own; log each distinct failure once, not every retry.
    if (error.message !== lastError) logger.warn({ reason: error.message }, "cache unavailable");
    lastError = error.message;
  });

  // Reads that arrive in the same turn of the event loop share one round trip: one script call
  // for the generation and every key asked for, readers of one key sharing its entry. This keeps
  // read-your-writes: the call leaves after every read it answers has arrived, so Redis runs it
  // after every bump acknowledged before any of them.
  let batch: { keys: Map<string, number>; reply: Promise<[Buffer, ...(Buffer | null)[]]> } | undefined;
  const lookup = async (key: string) => {
    if (!batch) {
      const keys = new Map<string, number>();
      const reply = new Promise((resolve) => setImmediate(resolve)).then(() => {
        batch = undefined;
        return redis.cacheReadBuffer(genKey, entryPrefix, ...keys.keys());
      });
      batch = { keys, reply };
    }
    const { keys, reply } = batch;
    let index = keys.get(key);
    if (index === undefined) {
      index = keys.size + 1;
      keys.set(key, index);
    }
    const entries = await reply;
    return { gen: entries[0].toString(), cached: entries[index] ?? null };
  };

  const usable = async () => {
    if (closed || redis.status !== "ready") return false;
    if (owed()) await repay();
    return !owed();
  };

  const state = (): CacheState => {
    if (redis.status === "ready") return owed() ? "unavailable" : "connected";
    return reached || lastError ? "unavailable" : "connecting";
  };

  return {
    get state() {
      return state();
    },

    // A stalled Redis (frozen, or a partition dropping packets) leaves ioredis' status "ready".
    // Redis' reachability only: a replica owing a bump (not listening for invalidations, say,
    // while PostgreSQL is away) reads around the cache, but that is not Redis' fault to alert on.
    check: () =>
      redis.status === "ready"
        ? redis.ping().then(
            (): CacheState => "connected",
            (): CacheState => "unavailable",
          )
        : Promise.resolve(state()),

    async read(key, load) {
      if (!(await usable())) {
        onOutcome("BYPASS");
        return { json: toJson(await load()), outcome: "BYPASS" };
      }
      let gen: string;
      try {
        // The Buffer variant: the entry's bytes go to the response as they are, never decoded.
        const found = await lookup(key);
        if (found.cached !== null) {
          onOutcome("HIT");
          return { json: found.cached, outcome: "HIT" };
        }
        gen = found.gen;
      } catch {
        onOutcome("BYPASS");
        return { json: toJson(await load()), outcome: "BYPASS" };
      }
      onOutcome("MISS");
      const json = toJson(await load());
      // Not awaited: the answer does not wait for the cache to be filled.
      redis.set(`${entryPrefix}${gen}:${key}`, json, "EX", config.CACHE_TTL).catch(() => {});
      return { json, outcome: "MISS" };
    },

    async invalidate() {
      if (closed) return;
      try {
        await redis.cacheBump(genKey);
      } catch (error) {
        incur((error as Error).message);
        // Other replicas may still be reading Redis (back from its restart before this one, or on
        // the far side of a partition): each bumps the generation as soon as this reaches it,
        // which is about when this write is answered (docs/cache.md has the figures).
        await invalidations.publish().catch((error: Error) => {
          logger.warn(
            { reason: error.message },
            "cannot publish a cache invalidation; other replicas may serve reads from before this write until this one reaches Redis",
          );
        });
      }
    },

    async close() {
      closed = true;
      clearInterval(retry);
      retry = undefined;
      await Promise.all([redis.quit().catch(() => redis.disconnect()), invalidations.close()]);
    },
  };
}
