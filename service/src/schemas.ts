// Request and response schemas: the same definitions validate requests and generate /openapi.json.
import { z } from "@hono/zod-openapi";

const priorities = ["low", "medium", "high"] as const;
const MAX_LIMIT = 1000;
const MAX_INT4 = 2_147_483_647;

const Priority = z.enum(priorities, "must be one of low, medium, high").openapi({ example: "medium" });

// A body that is not an object, or one with fields the contract does not name, is refused.
const objectErrors = {
  error: (issue: { code: string }) => (issue.code === "unrecognized_keys" ? "unknown field" : "must be a JSON object"),
};

// PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8: both would be
// altered or rejected by the database, so they are refused here instead of stored differently.
const storableText = (s: string) => !s.includes("\u0000") && s.isWellFormed();
const Title = z
  .string("must be a string")
  .refine(storableText, "must not contain NUL or unpaired surrogate characters")
  // varchar(255) counts characters (code points), not UTF-16 units.
  .refine((s) => [...s].length >= 1 && [...s].length <= 255, "must be 1 to 255 characters")
  // Stored as sent, but a title of only white space names nothing.
  .refine((s) => s.trim().length > 0, "must not be blank")
  .openapi({ example: "Write the README" });
const Description = z
  .string("must be a string or null")
  .max(100_000, "must be at most 100000 characters")
  .refine(storableText, "must not contain NUL or unpaired surrogate characters")
  .nullable()
  .openapi({ example: "With curl examples" });
const Completed = z.boolean("must be true or false");

export const Task = z
  .object({
    id: z.number().int().positive(),
    title: z.string(),
    description: z.string().nullable(),
    completed: z.boolean(),
    priority: Priority,
    created_at: z.iso.datetime({ offset: true }),
    updated_at: z.iso.datetime({ offset: true }),
  })
  .openapi("Task");
export type Task = z.infer<typeof Task>;

export const TaskCreate = z
  .strictObject(
    { title: Title, description: Description.optional(), priority: Priority.optional(), completed: Completed.optional() },
    objectErrors,
  )
  .openapi("TaskCreate");
export type TaskCreate = z.infer<typeof TaskCreate>;

export const TaskPatch = z
  .strictObject(
    { title: Title.optional(), description: Description.optional(), priority: Priority.optional(), completed: Completed.optional() },
    objectErrors,
  )
  .refine((patch) => Object.keys(patch).length > 0, "must set at least one field")
  .openapi("TaskPatch");
export type TaskPatch = z.infer<typeof TaskPatch>;

const intParam = (name: string, min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `${name} must be an integer`)
    .transform(Number)
    .pipe(z.number().min(min, `${name} must be at least ${min}`).max(max, `${name} must be at most ${max}`));

export const TaskId = z.strictObject({
  id: intParam("id", 1, MAX_INT4).openapi({ param: { name: "id", in: "path" }, type: "integer", example: 1 }),
});

export const ListQuery = z.strictObject(
  {
    priority: Priority.optional().openapi({ param: { name: "priority", in: "query" } }),
    completed: z
      .enum(["true", "false"], "completed must be true or false")
      .transform((v) => v === "true")
      .optional()
      .openapi({ param: { name: "completed", in: "query" }, type: "boolean" }),
    // Above MAX_LIMIT is capped rather than refused, as the contract says.
    limit: z
      .string()
      .regex(/^\d+$/, "limit must be an integer")
      // Capped before it is a number, so any run of digits (even past Number's range) is capped.
      .transform((digits) => Math.min(Number(digits), MAX_LIMIT))
      .pipe(z.number().min(1, "limit must be at least 1"))
      .default(100)
      .openapi({ param: { name: "limit", in: "query" }, type: "integer", example: 100 }),
    offset: intParam("offset", 0, MAX_INT4)
      .default(0)
      .openapi({ param: { name: "offset", in: "query" }, type: "integer", example: 0 }),
  },
  { error: (issue) => (issue.code === "unrecognized_keys" ? "unknown query parameter" : undefined) },
);
export type ListQuery = z.infer<typeof ListQuery>;

export const TaskCounts = z.object({ total: z.number().int(), completed: z.number().int(), pending: z.number().int() });

export const TaskList = z
  .object({ tasks: z.array(Task), stats: TaskCounts, count: z.number().int(), from_cache: z.boolean() })
  .openapi("TaskList");
export type TaskList = z.infer<typeof TaskList>;

export const Stats = z
  .object({
    total_tasks: z.number().int(),
    completed_tasks: z.number().int(),
    pending_tasks: z.number().int(),
    by_priority: z.object({ high: z.number().int(), medium: z.number().int(), low: z.number().int() }),
  })
  .openapi("Stats");
export type Stats = z.infer<typeof Stats>;

export const ErrorBody = z
  .object({
    error: z.string(),
    details: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  })
  .openapi("Error");
export type ErrorBody = z.infer<typeof ErrorBody>;
