// The operator of `make run`, as a child process: the process runtime (sessions are local
// processes running the demo agent), text logs with one line per transition. It runs under the
// launcher's lifeline, so it dies with `make run` however that ends, and its sessions with it.
import { closeSync, openSync, readSync, statSync } from "node:fs";
import { join } from "node:path";
import { freePort, type ManagedProcess, startProcess } from "../local-cluster/processes.ts";

const MAIN = join(import.meta.dirname, "..", "..", "src", "main.ts");

export interface DemoOperator {
  process: ManagedProcess;
  metricsPort: number;
  stop(): Promise<void>;
}

export async function startDemoOperator(o: {
  kubeconfigPath: string | undefined;
  namespace: string;
  sessionsDir: string;
  logPath: string;
  /** Each new line of the operator's log (the terminal, in `make run`). */
  onLine: (line: string) => void;
}): Promise<DemoOperator> {
  const metricsPort = await freePort();
  const proc = startProcess({
    name: "operator",
    command: process.execPath,
    args: [
      MAIN,
      "--runtime=process",
      `--process-dir=${o.sessionsDir}`,
      `--namespace=${o.namespace}`,
      `--metrics-port=${metricsPort}`,
      "--log-format=text",
      "--identity=make-run",
      ...(o.kubeconfigPath ? [`--kubeconfig=${o.kubeconfigPath}`] : []),
    ],
    logPath: o.logPath,
    // The operator stops its sessions on SIGTERM, each with its own grace; give it time to.
    graceMs: 15_000,
  });
  const tail = followFile(o.logPath, o.onLine);
  return {
    process: proc,
    metricsPort,
    async stop() {
      await proc.stop(20_000);
      tail.stop();
    },
  };
}

/** Calls onLine for each line appended to the file, polling (fs.watch misses appends on some filesystems). */
function followFile(path: string, onLine: (line: string) => void): { stop(): void } {
  let offset = 0;
  let partial = "";
  const read = () => {
    let size: number;
    try {
      size = statSync(path).size;
    } catch {
      return;
    }
    if (size <= offset) return;
    const fd = openSync(path, "r");
    try {
      const buf = Buffer.alloc(size - offset);
      offset += readSync(fd, buf, 0, buf.length, offset);
      const lines = (partial + buf.toString("utf8")).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) onLine(line);
    } finally {
      closeSync(fd);
    }
  };
  const timer = setInterval(read, 200);
  return {
    stop() {
      clearInterval(timer);
      read();
      if (partial) onLine(partial);
    },
  };
}
