// The read cache seam. With REDIS_HOST unset the cache is off: every read goes to PostgreSQL and
// answers X-Cache: BYPASS.
export type CacheOutcome = "HIT" | "MISS" | "BYPASS";
export type CacheState = "disabled" | "connected" | "unavailable";

export interface Cache {
  readonly state: CacheState;
  /** Returns the cached value for key, or loads, stores and returns it. */
  read<T>(key: string, load: () => Promise<T>): Promise<{ value: T; outcome: CacheOutcome }>;
  /** Makes every earlier cached read unreachable; called after each write. */
  invalidate(): Promise<void>;
  close(): Promise<void>;
}

export const disabledCache: Cache = {
  state: "disabled",
  read: async (_key, load) => ({ value: await load(), outcome: "BYPASS" }),
  invalidate: async () => {},
  close: async () => {},
};
