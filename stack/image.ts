// The API image, built by the Docker daemon inside the Minikube node so the kubelet finds it
// locally; never pushed anywhere.
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { type BuildInput, hashBuildContext } from "./build-context.ts";
import type { DockerDaemon } from "./docker-daemon.ts";

export interface ApiImageArgs {
  /** Absolute paths of the build context and of the Dockerfile within it. */
  build: BuildInput;
  daemon: DockerDaemon;
  /** `linux/<arch>` of the node that runs the image. */
  platform: string;
  buildArgs: Record<string, string>;
}

export class ApiImage extends pulumi.ComponentResource {
  /** `taskflow-api:<content hash>`: a new tag exactly when the image's inputs change. */
  readonly imageName: pulumi.Output<string>;

  constructor(name: string, args: ApiImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("taskflow:stack:ApiImage", name, {}, opts);
    // Host and certificate directory both set, so the provider takes nothing else from the
    // environment but DOCKER_API_VERSION, refused at preview when the daemon does not serve it
    // (see daemonFrom in cluster.ts and checkApiVersion in docker-daemon.ts for the provider source).
    const daemon = new docker.Provider(`${name}-daemon`, { host: args.daemon.host, certPath: args.daemon.certPath }, { parent: this });
    // Absolute: with `main` set, Pulumi runs the program from main's directory (pulumi/pulumi#10022)
    // and the provider plugin may resolve paths from another, so a relative path could name
    // different folders for the two. Moving the checkout only updates this input; the tag, a
    // content hash, stays the same.
    const { context, dockerfile } = args.build;
    const image = new docker.Image(
      name,
      {
        imageName: `taskflow-api:${hashBuildContext(args.build, args.buildArgs, args.platform)}`,
        build: {
          context,
          dockerfile,
          args: args.buildArgs,
          platform: args.platform,
          // The Dockerfile mounts an optional build secret, which needs BuildKit.
          builderVersion: "BuilderBuildKit",
        },
        skipPush: true,
        // Preview shows the new tag from the hash without spending a build on it.
        buildOnPreview: false,
      },
      { parent: this, provider: daemon },
    );
    this.imageName = image.imageName;
    this.registerOutputs({ imageName: this.imageName });
  }
}
