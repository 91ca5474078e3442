// Cache invalidations carried through PostgreSQL, for a write whose replica could not bump the
// generation in Redis: it NOTIFYs before answering, and every replica LISTENs on a connection of
// its own and bumps the generation for it (cache.ts). PostgreSQL took the write, so it is the one
// path every replica shares with the writer when Redis is out of the writer's reach.
import type { InvalidationChannel } from "./cache.ts";
import type { Config } from "./config.ts";
import { createSql, type Sql } from "./db.ts";
import type { Logger } from "./logger.ts";

const CHANNEL = "taskflow_cache_invalidate";

/** `sql`: the serving pool, which publishes; listening takes a connection of its own. */
export function createInvalidationChannel(config: Config, logger: Logger, sql: Sql): InvalidationChannel {
  let onLost = () => {};
  const listener = createSql(config, logger, { listenerClosed: () => onLost() });
  return {
    listen({ invalidate, lost, listening }) {
      onLost = lost;
      // postgres.js runs LISTEN on a connection of its own (no idle timeout, no maximum lifetime),
      // LISTENs again whenever that connection closes and calls onlisten after each LISTEN that
      // succeeded (node_modules/postgres/src/index.js:147-182). A LISTEN that fails to connect
      // closes the connection again, so it is retried, after postgres.js' backoff
      // (connection.js:436-457, 361-363): only the first attempt's failure reaches this catch.
      listener.listen(CHANNEL, invalidate, listening).catch((error: Error) => {
        logger.warn({ reason: error.message }, "cannot listen for cache invalidations yet; reads bypass the cache until it can");
      });
    },
    async publish() {
      // PostgreSQL wakes every listener's backend as this commits, before it answers; each sends
      // the notification on as soon as it runs (src/backend/commands/async.c, SignalBackends).
      await sql.notify(CHANNEL, "");
    },
    close: () => listener.end({ timeout: 1 }),
  };
}
