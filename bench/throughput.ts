// Dispatch throughput against the Job controller, on one local control plane, in one run.
//
// Baseline: kube-controller-manager's Job controller (its default client rate) creating the pods of
// a `parallelism: N, completions: N` Job: the time from the Job's create to its N-th pod's ADDED
// event. Measured: the operator, run as deployed (child process), turning N independent unblocked
// beads into N session pods: the beads wait in a suspended town (their first status written), and
// the clock starts at the one write that lets them go (spec.suspend=false), like the Job's create.
// Cold: a new town, so every polecat and its identity (ServiceAccount, Role, RoleBinding, Lease)
// is created. Warm: the same town again after its beads were cancelled, so idle polecats are reused.
// Times are receive times of this process's pod watch; every configuration runs several times
// and the median is reported with the Job's median of the same run.

import { LABELS } from "../src/controller/resources.ts";
import type { KubeHttp } from "../src/kube/http.ts";
import { FAST_TIMEOUTS } from "../test/support/manifests.ts";
import {
  benchCluster,
  createNamespace,
  delay,
  f1,
  f2,
  inParallel,
  median,
  type OperatorChild,
  persist,
  spawnOperator,
  until,
  watch,
} from "./kit.ts";

const NS = "gastown-throughput";
const GT = "/apis/gastown.dev/v1alpha1/namespaces/gastown-throughput";
const PER_RIG = 100;

export interface ThroughputResult {
  n: number;
  job: number[];
  cold: number[];
  warm: number[];
  /** Time to the first pod, for the same runs. */
  firstCold: number[];
  firstWarm: number[];
  command: string;
}

type PodSeen = { at: number; town?: string; job?: string };

async function patch(http: KubeHttp, path: string, body: unknown): Promise<void> {
  await persist(http, { method: "PATCH", path, contentType: "application/merge-patch+json", body });
}

export async function benchThroughput(
  opts: { sizes?: number[]; runs?: number; log?: (l: string) => void } = {},
): Promise<ThroughputResult[]> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`bench throughput: ${l}\n`));
  const sizes = opts.sizes ?? [100, 500];
  const runs = opts.runs ?? Number(process.env.GASTOWN_BENCH_RUNS ?? 3);
  const cluster = await benchCluster({ jobController: true });
  let operator: OperatorChild | undefined;
  const pods = watch(cluster.http, { group: "", version: "v1", plural: "pods", namespace: NS });
  try {
    const http = cluster.http;
    await createNamespace(http, NS);
    const seen = new Map<string, PodSeen>();
    pods.addHandlers({
      onAdd: (p) => {
        const l = p.metadata.labels ?? {};
        seen.set(p.metadata.name, {
          at: performance.now(),
          town: l[LABELS.town],
          job: l["batch.kubernetes.io/job-name"],
        });
      },
    });
    pods.start();
    await pods.waitForSync();
    operator = await spawnOperator({ kubeconfigPath: cluster.kubeconfigPath, namespace: NS, name: "throughput" });
    log(`operator: ${operator.command}`);
    const count = (pick: (p: PodSeen) => boolean) => [...seen.values()].filter(pick);
    /** Seconds from `t0` to the n-th pod matching, and to the first. */
    const podsAfter = async (what: string, n: number, t0: number, pick: (p: PodSeen) => boolean) => {
      const all = await until(
        `${n} pods of ${what}`,
        () => {
          const got = count((p) => pick(p) && p.at >= t0);
          return got.length >= n ? got : undefined;
        },
        600_000,
      );
      const times = all.map((p) => p.at).sort((a, b) => a - b);
      return { nth: ((times[n - 1] as number) - t0) / 1000, first: ((times[0] as number) - t0) / 1000 };
    };

    const results: ThroughputResult[] = [];
    for (const n of sizes) {
      const r: ThroughputResult = {
        n,
        job: [],
        cold: [],
        warm: [],
        firstCold: [],
        firstWarm: [],
        command: operator.command,
      };
      for (let run = 1; run <= runs; run++) {
        // --- the Job controller -------------------------------------------------------------------
        const job = `job-${n}-${run}`;
        const jobStart = performance.now();
        await http.json({
          method: "POST",
          path: `/apis/batch/v1/namespaces/${NS}/jobs`,
          body: {
            apiVersion: "batch/v1",
            kind: "Job",
            metadata: { name: job },
            spec: {
              parallelism: n,
              completions: n,
              backoffLimit: 0,
              template: {
                spec: {
                  restartPolicy: "Never",
                  containers: [{ name: "work", image: "ghcr.io/gastown-operator/agent:test" }],
                },
              },
            },
          },
        });
        const j = await podsAfter(`job ${job}`, n, jobStart, (p) => p.job === job);
        r.job.push(j.nth);
        await http.json({
          method: "DELETE",
          // A query parameter, not a body: a Job's pods are orphaned by default.
          path: `/apis/batch/v1/namespaces/${NS}/jobs/${job}`,
          query: { propagationPolicy: "Background" },
        });

        // --- the operator, cold ---------------------------------------------------------------------
        const town = `t${n}r${run}`;
        const rigs = Math.ceil(n / PER_RIG);
        await http.json({
          method: "POST",
          path: `${GT}/towns`,
          body: {
            apiVersion: "gastown.dev/v1alpha1",
            kind: "Town",
            metadata: { name: town },
            spec: {
              rigs: Array.from({ length: rigs }, (_, i) => ({
                name: `r${i}`,
                repo: `https://git.example.com/r${i}.git`,
              })),
              agents: { image: "ghcr.io/gastown-operator/agent:test" },
              limits: { maxPolecatsPerRig: PER_RIG },
              // No agent runs in these pods: they must not look lost while the bench measures.
              timeouts: { ...FAST_TIMEOUTS, heartbeatTimeout: "1h", startupGrace: "1h" },
              suspend: true,
            },
          },
        });
        const round = async (label: string, first: number) => {
          const names = Array.from({ length: n }, (_, i) => `${town}-${label}-${i}`);
          await inParallel(names, 8, (name, i) =>
            persist(http, {
              method: "POST",
              path: `${GT}/beads`,
              body: {
                apiVersion: "gastown.dev/v1alpha1",
                kind: "Bead",
                metadata: { name, labels: { "bench.gastown.dev/town": town } },
                spec: { town, rig: `r${(first + i) % rigs}`, title: name },
              },
            }),
          );
          // Every bead has its first status: the operator has seen them all and holds them.
          await until(
            `the first status of ${n} beads of ${town}`,
            async () => {
              const list = await http.json<{ items: { status?: { phase?: string } }[] }>({
                method: "GET",
                path: `${GT}/beads?labelSelector=bench.gastown.dev%2Ftown%3D${town}`,
              });
              return list.items.filter((b) => b.status?.phase === "Open").length >= n ? true : undefined;
            },
            300_000,
            500,
          );
          await delay(1000);
          const t0 = performance.now();
          await patch(http, `${GT}/towns/${town}`, { spec: { suspend: false } });
          return podsAfter(`town ${town} (${label})`, n, t0, (p) => p.town === town);
        };
        const cold = await round("cold", 0);
        r.cold.push(cold.nth);
        r.firstCold.push(cold.first);
        log(`n=${n} run ${run}: job ${f2(j.nth)} s, operator cold ${f2(cold.nth)} s`);

        // --- the operator, warm: cancel, wait for idle polecats, go again ----------------------------
        await patch(http, `${GT}/towns/${town}`, { spec: { suspend: true } });
        const beads = await http.json<{ items: { metadata: { name: string } }[] }>({
          method: "GET",
          path: `${GT}/beads?labelSelector=bench.gastown.dev%2Ftown%3D${town}`,
        });
        await inParallel(beads.items, 8, (b) =>
          patch(http, `${GT}/beads/${b.metadata.name}`, { spec: { cancel: true } }),
        );
        await until(
          `the polecats of ${town} to be idle and unhooked with no pods`,
          async () => {
            const agents = await http.json<{
              items: { spec: { town: string; hook?: string }; status?: { phase?: string } }[];
            }>({
              method: "GET",
              path: `${GT}/agents`,
            });
            const mine = agents.items.filter((a) => a.spec.town === town);
            const busy = mine.filter((a) => a.spec.hook || a.status?.phase !== "Idle");
            const live = await http.json<{ items: unknown[] }>({
              method: "GET",
              path: `/api/v1/namespaces/${NS}/pods?labelSelector=${encodeURIComponent(`${LABELS.town}=${town}`)}`,
            });
            return mine.length >= n && busy.length === 0 && live.items.length === 0 ? true : undefined;
          },
          300_000,
          500,
        );
        const warm = await round("warm", 1);
        r.warm.push(warm.nth);
        r.firstWarm.push(warm.first);
        log(`n=${n} run ${run}: operator warm ${f2(warm.nth)} s`);
        // Deleting the town takes its agents, their pods and identities with it (owner references).
        await http.json({ method: "DELETE", path: `${GT}/towns/${town}`, query: { propagationPolicy: "Background" } });
        await http.json({
          method: "DELETE",
          path: `${GT}/beads?labelSelector=bench.gastown.dev%2Ftown%3D${town}`,
        });
      }
      results.push(r);
    }
    return results;
  } finally {
    pods.stop();
    await operator?.stop();
    await cluster.stop();
  }
}

export function printThroughput(results: ThroughputResult[]): void {
  console.log(
    "throughput: N unblocked beads -> N session pods, vs the Job controller's N pods (parallelism N), same apiserver, same run; median of runs",
  );
  console.log(`  operator as deployed: ${results[0]?.command ?? "?"}`);
  console.log("  N     job s  pods/s   cold s  pods/s  ratio   warm s  pods/s  ratio   first pod cold/warm");
  for (const r of results) {
    const job = median(r.job);
    const cold = median(r.cold);
    const warm = median(r.warm);
    const rate = (s: number) => f1(r.n / s).padStart(6);
    console.log(
      `  ${String(r.n).padEnd(5)} ${f2(job).padStart(6)} ${rate(job)}   ${f2(cold).padStart(6)} ${rate(cold)} ${f2(job / cold).padStart(6)}   ${f2(warm).padStart(6)} ${rate(warm)} ${f2(job / warm).padStart(6)}   ${f2(median(r.firstCold))} / ${f2(median(r.firstWarm))} s   (runs: job ${r.job.map(f2).join(" ")}; cold ${r.cold.map(f2).join(" ")}; warm ${r.warm.map(f2).join(" ")})`,
    );
  }
  console.log("  ratio = operator pods/s / Job controller pods/s (target >= 1.00)");
}
