// The auth.conf the stack mounts into Redis, read by a real redis-server: a user-set password must
// come back byte for byte, whatever characters it holds.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { redisAuthConf, redisConfigString } from "../../stack/cache.ts";
import { RedisServer } from "../helpers/redis.ts";

const passwords = {
  alphanumeric: "generated0Qm7xKz2Lp9",
  spaces: "correct horse battery staple",
  "double quotes": 'say "hello"',
  "single quotes": "it's 'quoted'",
  "a trailing backslash": "ends with \\",
  "a literal escape sequence": "\\x41\\n is not A and a newline",
  "a leading hash": "#not a comment",
  "line breaks and a tab": "one\ntwo\r\nthree\tfour",
  "non-ASCII": "pässwörd 🔑",
};

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "taskflow-redis-auth-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A throwaway redis-server that includes `conf`, as the Cache Deployment's args do. */
let confs = 0;
async function redisWith(conf: string): Promise<{ client: Redis; server: RedisServer }> {
  const file = path.join(dir, `auth-${++confs}.conf`);
  await writeFile(file, conf);
  const server = await new RedisServer(["--include", file]).start();
  // Its client sends AUTH itself: HELLO 3 or INFO before it would be refused.
  const client = server.client();
  await client.connect();
  return { client, server };
}

describe("redis.conf quoting", () => {
  it("writes the escapes Redis' config parser reads back", () => {
    expect(redisConfigString("plain")).toBe('"plain"');
    expect(redisConfigString('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    expect(redisConfigString("line\nbreak")).toBe('"line\\x0abreak"');
    expect(redisConfigString("é")).toBe('"\\xc3\\xa9"');
    expect(redisAuthConf("p w")).toBe('requirepass "p w"\n');
  });

  it.each(Object.entries(passwords))("gives redis-server a password with %s, byte for byte", async (_, password) => {
    const { client, server } = await redisWith(redisAuthConf(password));
    try {
      await expect(client.ping()).rejects.toThrow(/NOAUTH/);
      await expect(client.call("AUTH", `${password}x`)).rejects.toThrow(/WRONGPASS/);
      // The client sends the raw value, as the API does with REDIS_PASSWORD.
      expect(await client.call("AUTH", password)).toBe("OK");
      expect(await client.call("CONFIG", "GET", "requirepass")).toEqual(["requirepass", password]);
    } finally {
      client.disconnect();
      await server.stop();
    }
  });
});
