// Thin wrappers over the docker CLI for the image test. Failures carry docker's own stderr so a
// broken build or run says why in the test output.
import { execFile } from "node:child_process";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

// Debian's client: it has BuildKit built in, where the other docker on this machine lacks buildx.
export const DOCKER = "/usr/bin/docker";

export async function run(command: string, args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  try {
    return await exec(command, args, {
      env: { ...process.env, DOCKER_BUILDKIT: "1", ...env },
      maxBuffer: 256 * 1024 * 1024,
    });
  } catch (error) {
    const { stderr, message } = error as Error & { stderr?: string };
    // A build's stderr is its whole progress log: the end holds the failing step.
    const reason = stderr?.trim() ? stderr.trim().slice(-4000) : message;
    throw new Error(`${path.basename(command)} ${args.slice(0, 2).join(" ")} failed:\n${reason}`);
  }
}

export const docker = async (args: string[], env?: Record<string, string>) => (await run(DOCKER, args, env)).stdout;

export interface ImageInfo {
  Id: string;
  Size: number;
  Config: {
    User: string;
    Env: string[] | null;
    Cmd: string[] | null;
    Entrypoint: string[] | null;
    WorkingDir: string;
    ExposedPorts: Record<string, object> | null;
  };
  RootFS: { Layers: string[] };
}

export async function inspectImage(ref: string): Promise<ImageInfo> {
  const [info] = JSON.parse(await docker(["image", "inspect", ref])) as ImageInfo[];
  if (!info) throw new Error(`docker image inspect ${ref} returned nothing`);
  return info;
}

export interface ContainerState {
  Running: boolean;
  ExitCode: number;
  OOMKilled: boolean;
}

export async function containerState(name: string): Promise<ContainerState> {
  return JSON.parse(await docker(["container", "inspect", "--format", "{{json .State}}", name])) as ContainerState;
}

/**
 * Paths of the regular files in the image's layers past the first `skip` (those of the base),
 * from `docker save`: what the project itself puts in the image, wherever in the tree it lands.
 */
export async function filesInTopLayers(ref: string, skip: number, workDir: string): Promise<string[]> {
  const archive = path.join(workDir, "image.tar");
  await docker(["image", "save", "--output", archive, ref]);
  await run("tar", ["-xf", archive, "-C", workDir, "manifest.json"]);
  const [manifest] = JSON.parse(await readFile(path.join(workDir, "manifest.json"), "utf8")) as { Layers: string[] }[];
  const layers = manifest!.Layers.slice(skip);
  if (layers.length === 0) return [];
  await run("tar", ["-xf", archive, "-C", workDir, ...layers]);
  const files: string[] = [];
  for (const layer of layers) {
    // tar -tv marks each entry's type in the first column; keep regular files ("-") only.
    const { stdout } = await run("tar", ["-tvf", path.join(workDir, layer)]);
    for (const line of stdout.split("\n")) {
      const match = /^-\S+\s+\S+\s+\d+\s+\S+\s+\S+\s+(.+)$/.exec(line);
      if (match) files.push(match[1]!.replace(/^\.?\//, ""));
    }
  }
  return files.sort();
}

/** Regular files under dir, relative to it, with their sizes. */
export async function listTree(dir: string): Promise<{ file: string; bytes: number }[]> {
  await mkdir(dir, { recursive: true });
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  const files = [];
  for (const entry of entries) {
    if (!entry.isFile()) continue;
    const full = path.join(entry.parentPath, entry.name);
    files.push({ file: path.relative(dir, full), bytes: (await stat(full)).size });
  }
  return files.sort((a, b) => a.file.localeCompare(b.file));
}
