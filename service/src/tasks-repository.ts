// Every SQL statement on tasks. Rows leave here already in the API's shape.
import type { Deadline, Sql } from "./db.ts";
import type { ListQuery, Stats, Task, TaskCreate, TaskList, TaskPatch } from "./schemas.ts";

interface TaskRow {
  id: number;
  title: string;
  description: string | null;
  completed: boolean;
  priority: Task["priority"];
  created_at: Date;
  updated_at: Date;
}

const toTask = (row: TaskRow): Task => ({
  ...row,
  created_at: row.created_at.toISOString(),
  updated_at: row.updated_at.toISOString(),
});

export type TaskListPage = Omit<TaskList, "from_cache">;

/** Every call runs within `deadline` (db.ts): one slot of the pool, answered in time. */
export function createTasksRepository(sql: Sql, deadline: Deadline) {
  const columns = sql`id, title, description, completed, priority, created_at, updated_at`;

  async function counts(): Promise<{ total: number; completed: number }> {
    // Kept by triggers (migration 002): a sum over 16 rows, whatever the size of the table.
    const [row] = await sql<[{ total: number; completed: number }]>`
      SELECT sum(total)::int AS total, sum(completed)::int AS completed FROM task_counts`;
    return row!;
  }

  return withinDeadline(deadline, {
    counts,

    async list({ priority, completed, limit, offset }: ListQuery): Promise<TaskListPage> {
      const [rows, totals] = await Promise.all([
        sql<TaskRow[]>`
          SELECT ${columns} FROM tasks
          WHERE true
            ${priority === undefined ? sql`` : sql`AND priority = ${priority}`}
            ${completed === undefined ? sql`` : sql`AND completed = ${completed}`}
          ORDER BY created_at DESC, id DESC
          LIMIT ${limit} OFFSET ${offset}`,
        counts(),
      ]);
      const { total, completed: done } = totals;
      return { tasks: rows.map(toTask), stats: { total, completed: done, pending: total - done }, count: rows.length };
    },

    async get(id: number): Promise<Task | undefined> {
      const [row] = await sql<TaskRow[]>`SELECT ${columns} FROM tasks WHERE id = ${id}`;
      return row && toTask(row);
    },

    async create(input: TaskCreate): Promise<Task> {
      const [row] = await sql<TaskRow[]>`
        INSERT INTO tasks (title, description, priority, completed)
        VALUES (${input.title}, ${input.description ?? null}, ${input.priority ?? "medium"}, ${input.completed ?? false})
        RETURNING ${columns}`;
      return toTask(row!);
    },

    async update(id: number, patch: TaskPatch): Promise<Task | undefined> {
      // clock_timestamp(), not now(): updated_at must move even within the creating transaction's instant.
      const [row] = await sql<TaskRow[]>`
        UPDATE tasks SET ${sql(patch)}, updated_at = clock_timestamp()
        WHERE id = ${id}
        RETURNING ${columns}`;
      return row && toTask(row);
    },

    async remove(id: number): Promise<boolean> {
      const result = await sql`DELETE FROM tasks WHERE id = ${id}`;
      return result.count > 0;
    },

    async stats(): Promise<Stats> {
      const [row] = await sql<[{ total: number; completed: number; high: number; medium: number; low: number }]>`
        SELECT sum(total)::int AS total, sum(completed)::int AS completed,
               sum(high)::int AS high, sum(medium)::int AS medium, sum(low)::int AS low
        FROM task_counts`;
      const { total, completed, high, medium, low } = row!;
      return {
        total_tasks: total,
        completed_tasks: completed,
        pending_tasks: total - completed,
        by_priority: { high, medium, low },
      };
    },

    async ping(): Promise<void> {
      await sql`SELECT 1`;
    },
  });
}

// Each method as one piece of work (a list's two statements share its slot and deadline).
function withinDeadline<M extends Record<string, (...args: never[]) => Promise<unknown>>>(deadline: Deadline, methods: M): M {
  return Object.fromEntries(
    Object.entries(methods).map(([name, method]) => [name, (...args: never[]) => deadline(() => method(...args))]),
  ) as M;
}

export type TasksRepository = ReturnType<typeof createTasksRepository>;
