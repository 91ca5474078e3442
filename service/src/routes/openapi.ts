import type { Hook } from "@hono/zod-openapi";
import type { z } from "@hono/zod-openapi";
import { ErrorBody } from "../schemas.ts";

export const jsonContent = <T extends z.ZodType>(schema: T) => ({ content: { "application/json": { schema } } });

export const errorResponses = {
  400: { description: "Invalid request; details name each bad field", ...jsonContent(ErrorBody) },
  503: { description: "Database unavailable", ...jsonContent(ErrorBody) },
} as const;

// Every validation failure answers the same shape: one entry per bad field.
export const validationHook: Hook<unknown, never, string, unknown> = (result, c) => {
  if (result.success) return;
  const details = result.error.issues.map((issue) => ({
    field: issue.code === "unrecognized_keys" ? issue.keys.join(", ") : issue.path.join(".") || "body",
    message: issue.message,
  }));
  return c.json({ error: "Validation failed", details }, 400);
};
