-- Whole-table counts kept by triggers, so a list page's totals and /stats read 16 small rows
-- instead of scanning every task: a miss costs the same on 100 000 tasks as on 1 000.
-- Writers add their deltas to one of 16 slots, chosen by transaction id, so concurrent writes do
-- not queue on a single counter row; readers sum the slots.
CREATE TABLE task_counts (
  slot      smallint PRIMARY KEY,
  total     bigint NOT NULL DEFAULT 0,
  completed bigint NOT NULL DEFAULT 0,
  high      bigint NOT NULL DEFAULT 0,
  medium    bigint NOT NULL DEFAULT 0,
  low       bigint NOT NULL DEFAULT 0
);

CREATE FUNCTION task_counts_apply() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  -- One slot per transaction: a transaction of several writes then locks one counter row, so two
  -- such transactions cannot take slots in opposite orders and deadlock.
  target smallint := mod(txid_current(), 16);
BEGIN
  -- Statement-level with transition tables: a bulk insert (the seed) updates a slot once, and a
  -- statement that changed no row (an update or delete of a missing task) touches none.
  IF TG_OP <> 'INSERT' THEN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
      RETURN NULL;
    END IF;
  END IF;
  IF TG_OP <> 'DELETE' THEN
    UPDATE task_counts c SET total = c.total + d.total, completed = c.completed + d.completed,
           high = c.high + d.high, medium = c.medium + d.medium, low = c.low + d.low
    FROM (SELECT count(*) AS total, count(*) FILTER (WHERE completed) AS completed,
                 count(*) FILTER (WHERE priority = 'high') AS high, count(*) FILTER (WHERE priority = 'medium') AS medium,
                 count(*) FILTER (WHERE priority = 'low') AS low FROM new_rows) d
    WHERE c.slot = target;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    UPDATE task_counts c SET total = c.total - d.total, completed = c.completed - d.completed,
           high = c.high - d.high, medium = c.medium - d.medium, low = c.low - d.low
    FROM (SELECT count(*) AS total, count(*) FILTER (WHERE completed) AS completed,
                 count(*) FILTER (WHERE priority = 'high') AS high, count(*) FILTER (WHERE priority = 'medium') AS medium,
                 count(*) FILTER (WHERE priority = 'low') AS low FROM old_rows) d
    WHERE c.slot = target;
  END IF;
  RETURN NULL;
END $$;

CREATE FUNCTION task_counts_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE task_counts SET total = 0, completed = 0, high = 0, medium = 0, low = 0;
  RETURN NULL;
END $$;

-- The triggers come before the initial counts: creating them locks tasks against writes until
-- this migration commits, so no write can fall between the count and the first trigger.
CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks REFERENCING NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_apply();
CREATE TRIGGER task_counts_update AFTER UPDATE ON tasks REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_apply();
CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_apply();
CREATE TRIGGER task_counts_truncate AFTER TRUNCATE ON tasks
  FOR EACH STATEMENT EXECUTE FUNCTION task_counts_reset();

INSERT INTO task_counts (slot) SELECT generate_series(0, 15);
UPDATE task_counts SET (total, completed, high, medium, low) = (
  SELECT count(*), count(*) FILTER (WHERE completed), count(*) FILTER (WHERE priority = 'high'),
         count(*) FILTER (WHERE priority = 'medium'), count(*) FILTER (WHERE priority = 'low')
  FROM tasks)
WHERE slot = 0;
