// `make deploy` / `make undeploy`: manifests/base on the cluster of $KUBECONFIG (or the current
// context), with the operator image replaced.
//
//   node hack/deploy.ts apply [--image IMG] [--timeout 180s] [--no-wait]
//   node hack/deploy.ts render [--image IMG]     print the installation as one YAML stream
//   node hack/deploy.ts delete
//
// The image is set on the rendered objects because kubectl has no `kustomize edit set image`, and
// a throwaway overlay cannot refer to manifests/base by absolute path (kustomize refuses).
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { parseAllDocuments, stringify } from "yaml";

const BASE = join(import.meta.dirname, "..", "manifests", "base");
const DEPLOYMENT = { namespace: "gastown-system", name: "gastown-operator", container: "operator" };

interface Manifest {
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  spec?: { template?: { spec?: { containers?: { name: string; image?: string }[] } } };
}

/** kubectl from PATH (the Makefile puts hack/bin first); exits with kubectl's status on failure. */
function kubectl(args: string[], input?: string): string {
  const r = spawnSync("kubectl", args, {
    input,
    encoding: "utf8",
    stdio: ["pipe", "pipe", "inherit"],
    maxBuffer: 64 << 20,
  });
  if (r.error) {
    process.stderr.write(`deploy: cannot run kubectl: ${r.error.message}\n`);
    process.exit(1);
  }
  if (r.status !== 0) process.exit(r.status ?? 1);
  return r.stdout;
}

function withImage(rendered: string, image: string): Manifest[] {
  const docs = parseAllDocuments(rendered).map((d) => d.toJS() as Manifest | null);
  const deployment = docs.find(
    (d) =>
      d?.kind === "Deployment" &&
      d.metadata?.name === DEPLOYMENT.name &&
      d.metadata?.namespace === DEPLOYMENT.namespace,
  );
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === DEPLOYMENT.container);
  if (!container) throw new Error(`manifests/base has no Deployment ${DEPLOYMENT.name} with a container "operator"`);
  container.image = image;
  return docs.filter((d): d is Manifest => d !== null);
}

function main(): void {
  const { positionals, values } = parseArgs({
    allowPositionals: true,
    options: {
      image: { type: "string", default: process.env.IMG || "gastown-operator:dev" },
      timeout: { type: "string", default: "180s" },
      "no-wait": { type: "boolean", default: false },
    },
  });
  const [command] = positionals;
  if (command === "render") {
    const docs = withImage(kubectl(["kustomize", BASE]), values.image);
    process.stdout.write(
      `# gastown-operator: \`kubectl apply --server-side -f install.yaml\` (made by \`make install-yaml\`)\n` +
        docs.map((d) => stringify(d, { lineWidth: 0 })).join("---\n"),
    );
  } else if (command === "apply") {
    // A List keeps kustomize's order (Namespace and CRDs first), which kubectl applies in.
    const manifests = JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: withImage(kubectl(["kustomize", BASE]), values.image),
    });
    // Server-side apply: no last-applied annotation (CRDs outgrow its size limit), and the
    // installation owns these objects, so it takes fields over from earlier hand edits.
    process.stdout.write(
      kubectl(["apply", "--server-side", "--force-conflicts", "--field-manager=gastown-deploy", "-f", "-"], manifests),
    );
    if (values["no-wait"]) return;
    process.stdout.write(
      kubectl([
        "rollout",
        "status",
        `deployment/${DEPLOYMENT.name}`,
        `--namespace=${DEPLOYMENT.namespace}`,
        `--timeout=${values.timeout}`,
      ]),
    );
  } else if (command === "delete") {
    // Deleting the CRDs deletes every Town, Convoy, Bead, Agent and AgentReport with them.
    process.stdout.write(kubectl(["delete", "-k", BASE, "--ignore-not-found"]));
  } else {
    process.stderr.write(
      "usage: node hack/deploy.ts apply [--image IMG] [--timeout 180s] [--no-wait] | render [--image IMG] | delete\n",
    );
    process.exit(2);
  }
}

main();
