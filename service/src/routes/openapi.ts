import type { Hook } from "@hono/zod-openapi";
import type { Context, TypedResponse } from "hono";
import type { z } from "@hono/zod-openapi";
import { ErrorBody } from "../schemas.ts";

/**
 * Answers 200 with JSON text already at hand (from the cache) as c.json would answer the value it encodes:
 * same Content-Type, and typed as that value, so the route's response contract is still checked.
 */
export const jsonText = <T>(c: Pick<Context, "body">, json: Uint8Array) =>
  c.body(json as Uint8Array<ArrayBuffer>, 200, { "Content-Type": "application/json" }) as unknown as TypedResponse<T, 200, "json">;

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
