// The API image, built by the Docker daemon inside the Minikube node so the kubelet finds it
// locally; never pushed anywhere.
import path from "node:path";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { hashBuildContext } from "./build-context.ts";

export interface DockerDaemon {
  host: string;
  /** PEM contents, for a tcp:// daemon that requires client certificates (Minikube's does). */
  tls?: { ca: string; cert: string; key: string };
}

export interface ApiImageArgs {
  /** Absolute path of the build context; its Dockerfile is the one built. */
  context: string;
  daemon: DockerDaemon;
  buildArgs: Record<string, string>;
}

export class ApiImage extends pulumi.ComponentResource {
  /** `taskflow-api:<content hash>`: a new tag exactly when the image's inputs change. */
  readonly imageName: pulumi.Output<string>;

  constructor(name: string, args: ApiImageArgs, opts?: pulumi.ComponentResourceOptions) {
    super("taskflow:stack:ApiImage", name, {}, opts);
    // Host and certificates go to an explicit provider, never via the environment: the native
    // Image resource once ignored provider config (pulumi/pulumi-docker#567, fixed by #574) and
    // still ignores DOCKER_HOST from the environment (#671). The provider builds its client from
    // host + caMaterial/certMaterial/keyMaterial (provider/image.go, configureDockerClientInner).
    const daemon = new docker.Provider(
      `${name}-daemon`,
      {
        host: args.daemon.host,
        caMaterial: args.daemon.tls?.ca,
        certMaterial: args.daemon.tls?.cert,
        keyMaterial: args.daemon.tls && pulumi.secret(args.daemon.tls.key),
      },
      { parent: this },
    );
    // Absolute: with `main` set, Pulumi runs the program from main's directory (pulumi/pulumi#10022)
    // and the provider plugin may resolve paths from another, so a relative path could name
    // different folders for the two. Moving the checkout only updates this input; the tag, a
    // content hash, stays the same.
    const context = args.context;
    const image = new docker.Image(
      name,
      {
        imageName: `taskflow-api:${hashBuildContext(args.context, args.buildArgs)}`,
        build: {
          context,
          dockerfile: path.join(context, "Dockerfile"),
          args: args.buildArgs,
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
