// Pulumi entry point (Pulumi.yaml `main`): read the config, find the cluster, deploy.
import { resolveCluster } from "./cluster.ts";
import { loadSettings } from "./config.ts";
import { deployTaskflow } from "./taskflow.ts";

const settings = loadSettings();
export const { url, namespace, curl, grafanaUrl, prometheusUrl, grafanaAdminPassword } = deployTaskflow(
  settings,
  await resolveCluster(settings),
);
