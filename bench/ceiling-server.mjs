// The ceiling for this machine: a bare node:http server doing the least a Node server can do per
// request, answering fixed bytes (the service's cached GET /tasks body, read from stdin).
// Plain JavaScript so it runs on the same Node with no loader in front of it.
import { createServer } from "node:http";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const body = Buffer.concat(chunks);
const headers = { "content-type": process.env.CONTENT_TYPE, "content-length": body.length };

createServer((_req, res) => {
  res.writeHead(200, headers);
  res.end(body);
}).listen(Number(process.env.PORT));
