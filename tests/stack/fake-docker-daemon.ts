// A stand-in for a TLS Docker daemon on loopback, as Minikube runs one: it demands a client
// certificate signed by its CA and answers the Engine API's GET /version. Certificates come from
// openssl in a temporary directory laid out as DOCKER_CERT_PATH expects (ca.pem, cert.pem, key.pem).
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export interface FakeDaemon {
  host: string;
  certPath: string;
  /** Paths of the requests it answered. */
  requests: string[];
  close(): Promise<void>;
}

function openssl(dir: string, ...args: string[]) {
  try {
    execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  } catch (error) {
    throw new Error(`openssl ${args[0]} failed (is openssl installed?): ${(error as Error).message}`);
  }
}

/** CA, a server certificate for 127.0.0.1 and a client certificate, all signed by the CA. */
function certificates(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "taskflow-docker-certs-"));
  openssl(
    dir,
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "1",
    "-subj",
    "/CN=fake-docker-ca",
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
  );
  writeFileSync(path.join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
  writeFileSync(path.join(dir, "client.ext"), "extendedKeyUsage=clientAuth\n");
  for (const [name, subject] of [
    ["server", "/CN=127.0.0.1"],
    ["client", "/CN=client"],
  ] as const) {
    openssl(dir, "req", "-newkey", "rsa:2048", "-nodes", "-subj", subject, "-keyout", `${name}-key.pem`, "-out", `${name}.csr`);
    const cert = name === "client" ? "cert.pem" : "server.pem";
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-CAcreateserial",
      "-days",
      "1",
      "-extfile",
      `${name}.ext`,
      "-out",
      cert,
    );
  }
  openssl(dir, "pkey", "-in", "client-key.pem", "-out", "key.pem");
  return dir;
}

export async function startFakeDaemon(version: { Os: string; Arch: string }): Promise<FakeDaemon> {
  const certPath = certificates();
  const read = (file: string) => readFileSync(path.join(certPath, file));
  const requests: string[] = [];
  const server: Server = createServer(
    { ca: read("ca.pem"), cert: read("server.pem"), key: read("server-key.pem"), requestCert: true, rejectUnauthorized: true },
    (request, response) => {
      requests.push(request.url ?? "");
      response.writeHead(request.url === "/version" ? 200 : 404, { "Content-Type": "application/json" });
      response.end(JSON.stringify(request.url === "/version" ? { ...version, ApiVersion: "1.47" } : { message: "page not found" }));
    },
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    host: `tcp://127.0.0.1:${(server.address() as AddressInfo).port}`,
    certPath,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
