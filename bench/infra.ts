// The bench's own Redis key prefixes, unique to this run and never shared with a test run or a
// deployment. Its databases come from the tests' createTestDatabase.
import { randomBytes } from "node:crypto";
import { Redis } from "ioredis";
import { SHARED_REDIS, sharedRedisEnv } from "../tests/helpers/redis.ts";

/** Names every database and key prefix of this run, so the clean-up can find them all. */
export const runId = `taskflow_bench_${randomBytes(4).toString("hex")}`;

export const redisEnv = (prefix: string): Record<string, string> => ({
  ...sharedRedisEnv(),
  CACHE_PREFIX: prefix,
});

/** Deletes every key under prefix and returns how many there were. */
export async function deleteKeys(prefix: string): Promise<number> {
  const redis = new Redis({ ...SHARED_REDIS, lazyConnect: true, maxRetriesPerRequest: 1 });
  let deleted = 0;
  try {
    await redis.connect();
    for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) deleted += await redis.del(...keys);
    }
  } finally {
    redis.disconnect();
  }
  return deleted;
}
