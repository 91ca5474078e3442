CREATE TABLE tasks (
  id          serial PRIMARY KEY,
  title       varchar(255) NOT NULL CHECK (char_length(title) >= 1),
  description text,
  completed   boolean NOT NULL DEFAULT false,
  priority    varchar(6) NOT NULL DEFAULT 'medium'
              CONSTRAINT tasks_priority_check CHECK (priority IN ('low', 'medium', 'high')),
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The list is read newest first, optionally filtered by priority or completed; each index serves
-- one of those shapes without a sort.
CREATE INDEX tasks_newest_idx ON tasks (created_at DESC, id DESC);
CREATE INDEX tasks_priority_newest_idx ON tasks (priority, created_at DESC, id DESC);
CREATE INDEX tasks_completed_newest_idx ON tasks (completed, created_at DESC, id DESC);
