// Cost against the number of towns: 1, 10 and 100 towns of one rig, each given a ReviewAndMerge
// convoy of 10 independent tasks, driven to Landed by the operator (as deployed, child process)
// and a simulated crew (the agents' own tokens: Done reports, lease renewals, pod exits). Per row:
// wall time from the convoys' creation to the last Landed, the operator's API writes (attributed
// by resource, see writes.ts) per closed bead, and the operator's RSS at the end. Towns are queue
// keys of their own, so with several workers they reconcile in parallel: the baseline of the same
// run is the one-town row, and a linear cost is a flat writes/bead and a wall time that grows
// slower than the town count.
import { parseDuration } from "../src/api/meta.ts";
import { Crew } from "../test/support/crew.ts";
import { convoyManifest, FAST_TIMEOUTS, townManifest } from "../test/support/manifests.ts";
import {
  benchCluster,
  createNamespace,
  Fatal,
  f1,
  f2,
  inParallel,
  type OperatorChild,
  spawnOperator,
  until,
} from "./kit.ts";
import { diff, inScope, ownerByResource, scrapeApiserverWrites, sum } from "./writes.ts";

const TASKS = 10;

export interface TownsRow {
  towns: number;
  closedBeads: number;
  seconds: number;
  writes: number;
  rssMiB: number;
}

export async function benchTowns(opts: { counts?: number[]; log?: (l: string) => void } = {}): Promise<TownsRow[]> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`bench towns: ${l}\n`));
  const counts = opts.counts ?? [1, 10, 100];
  const cluster = await benchCluster();
  const rows: TownsRow[] = [];
  try {
    const http = cluster.http;
    for (const towns of counts) {
      const ns = `gastown-towns-${towns}`;
      const gt = `/apis/gastown.dev/v1alpha1/namespaces/${ns}`;
      await createNamespace(http, ns);
      const crew = new Crew(cluster.admin, ns, {
        heartbeatMs: parseDuration(FAST_TIMEOUTS.heartbeatPeriod) * 5,
      }).start();
      let op: OperatorChild | undefined;
      try {
        op = await spawnOperator({ kubeconfigPath: cluster.kubeconfigPath, namespace: ns, name: `towns-${towns}` });
        const names = Array.from({ length: towns }, (_, i) => `town${i}`);
        await inParallel(names, 8, (t) =>
          http.json({
            method: "POST",
            path: `${gt}/towns`,
            body: townManifest(t, {
              limits: { maxPolecatsPerRig: TASKS },
              timeouts: { heartbeatTimeout: "1m", startupGrace: "1m" },
            }),
          }),
        );
        await until(
          `${towns} towns Ready`,
          async () => {
            const list = await http.json<{ items: { status?: { conditions?: { type: string; status: string }[] } }[] }>(
              {
                method: "GET",
                path: `${gt}/towns`,
              },
            );
            const ready = list.items.filter((t) =>
              t.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True"),
            );
            return ready.length >= towns ? true : undefined;
          },
          300_000,
          500,
        );
        const before = (await scrapeApiserverWrites(cluster.kubeconfigPath)).counts;
        const t0 = performance.now();
        const tasks = Array.from({ length: TASKS }, (_, i) => ({ name: `t${i}` }));
        await inParallel(names, 8, (t) =>
          http.json({
            method: "POST",
            path: `${gt}/convoys`,
            body: convoyManifest(`${t}-work`, t, tasks, { mergeMode: "ReviewAndMerge" }),
          }),
        );
        await until(
          `${towns} convoys Landed`,
          async () => {
            const list = await http.json<{ items: { status?: { phase?: string } }[] }>({
              method: "GET",
              path: `${gt}/convoys`,
            });
            if (list.items.some((c) => c.status?.phase === "Failed")) throw new Fatal("a convoy Failed");
            return list.items.filter((c) => c.status?.phase === "Landed").length >= towns ? true : undefined;
          },
          3_600_000,
          500,
        );
        const seconds = (performance.now() - t0) / 1000;
        const after = (await scrapeApiserverWrites(cluster.kubeconfigPath)).counts;
        const d = diff(after, before);
        const writes =
          sum(d, (k) => inScope(k) && ownerByResource(k).startsWith("operator")) -
          (d.get("core/pods/binding POST") ?? 0);
        const beads = await http.json<{ items: { status?: { phase?: string } }[] }>({
          method: "GET",
          path: `${gt}/beads`,
        });
        const closedBeads = beads.items.filter((b) => b.status?.phase === "Closed").length;
        rows.push({ towns, closedBeads, seconds, writes, rssMiB: op.rssMiB() });
        log(`${towns} towns: ${f1(seconds)} s, ${writes} writes, ${closedBeads} closed beads, ${f1(op.rssMiB())} MiB`);
        if (crew.errors.length > 0) log(`crew errors: ${crew.errors.slice(0, 3).join("; ")}`);
      } finally {
        await op?.stop();
        await crew.stop();
      }
    }
    return rows;
  } finally {
    await cluster.stop();
  }
}

export function printTowns(rows: TownsRow[]): void {
  console.log(
    `towns: T towns x one ReviewAndMerge convoy of ${TASKS} independent tasks, to Landed; operator as deployed; baseline = the 1-town row`,
  );
  console.log("  towns  closed beads   wall s  x 1 town  s/town   writes  writes/closed bead   RSS MiB");
  const base = rows[0];
  for (const r of rows) {
    console.log(
      `  ${String(r.towns).padStart(5)} ${String(r.closedBeads).padStart(13)} ${f1(r.seconds).padStart(8)} ${f2(r.seconds / (base?.seconds ?? 1)).padStart(9)} ${f2(r.seconds / r.towns).padStart(7)} ${String(r.writes).padStart(8)} ${f2(r.writes / r.closedBeads).padStart(19)} ${f1(r.rssMiB).padStart(9)}`,
    );
  }
}
