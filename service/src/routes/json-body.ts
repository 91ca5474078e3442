// The gate in front of a JSON body's schema: what the validators cannot see in the bytes.
import type { MiddlewareHandler } from "hono";

// RFC 9110 §8.3.1 and §5.6: media-type = type "/" subtype *( OWS ";" OWS [ parameter ] ), where a
// parameter is token "=" ( token / quoted-string ). @hono/zod-openapi's own check allows no white
// space before ";" (jsonRequestRegex in @hono/zod-openapi/dist/index.mjs:279), which the RFC does.
// Hand-written rather than the content-type package: its 1.x follows RFC 7231 (no tab as OWS,
// no empty parameter), and 2.x (checked: 2.1.0) parses leniently, with no grammar check and the
// first of two charset parameters kept, so "charset=utf-8; charset=latin1" would pass as UTF-8.
// A gate must refuse what it cannot read one way only.
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+";
const QUOTED = '"(?:[\\t !#-\\[\\]-~\\x80-\\xff]|\\\\[\\t -~\\x80-\\xff])*"';
const PARAMETER = `(${TOKEN})=(${TOKEN}|${QUOTED})`;
const MEDIA_TYPE = new RegExp(`^(${TOKEN}/${TOKEN})((?:[ \\t]*;[ \\t]*(?:${TOKEN}=(?:${TOKEN}|${QUOTED}))?)*)$`);
const JSON_MEDIA_TYPE = /^application\/(?:[\w.-]+\+)?json$/i;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A JSON body as the routes store it, byte for byte: a JSON media type whose charset, if named, is
 * UTF-8 (RFC 8259 §8.1: JSON exchanged between systems is UTF-8), and bytes that are valid UTF-8.
 * Request.json() would decode any other bytes as U+FFFD and another charset as if it were UTF-8,
 * altering what is stored instead of refusing it. The validators then see the canonical type.
 */
export const jsonBody: MiddlewareHandler = async (c, next) => {
  const match = MEDIA_TYPE.exec(c.req.header("Content-Type")?.trim() ?? "");
  if (!match || !JSON_MEDIA_TYPE.test(match[1]!)) return c.json({ error: "Content-Type must be application/json" }, 415);
  for (const [, name, value] of match[2]!.matchAll(new RegExp(PARAMETER, "g"))) {
    const unquoted = value!.startsWith('"') ? value!.slice(1, -1).replace(/\\(.)/g, "$1") : value!;
    if (name!.toLowerCase() === "charset" && unquoted.toLowerCase() !== "utf-8") {
      return c.json({ error: "Content-Type charset must be utf-8" }, 415);
    }
  }
  // Read here, past bodyLimit's counting stream: a body over the limit fails this read and is
  // answered 413 by bodyLimit. The validator reads the same bytes again from Hono's body cache.
  const bytes = await c.req.arrayBuffer();
  try {
    utf8.decode(bytes);
  } catch {
    return c.json({ error: "Request body is not valid UTF-8" }, 400);
  }
  c.req.raw.headers.set("Content-Type", "application/json");
  await next();
};
