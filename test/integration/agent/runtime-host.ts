// A stand-in operator for the orphan test: it starts one session with the process runtime and then
// idles until it is killed. Usage: node runtime-host.ts <kubeconfig> <dir> <StartRequest as JSON>
import { KubeConfig } from "@kubernetes/client-node";
import { silentLogger } from "../../../src/controller/logger.ts";
import { createKubeHttp } from "../../../src/kube/http.ts";
import { createProcessRuntime } from "../../../src/runtime/process-runtime.ts";
import type { StartRequest } from "../../../src/runtime/session-runtime.ts";

const [kubeconfig, dir, request] = process.argv.slice(2);
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig!);
const runtime = createProcessRuntime({
  http: createKubeHttp(kc),
  kubeConfig: kc,
  dir: dir!,
  logger: silentLogger(),
  stopGraceMs: 1000,
});
await runtime.start(JSON.parse(request!) as StartRequest);
process.stdout.write("started\n");
setInterval(() => {}, 1 << 30);
