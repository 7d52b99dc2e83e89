// What the operator benchmark measured, and how it is printed.
import { type Client, type Counts, sum } from "./writes.ts";

export interface Percentiles {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

export function percentiles(samples: number[]): Percentiles {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number) => s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? Number.NaN;
  return { n: s.length, p50: at(0.5), p99: at(0.99), max: s[s.length - 1] ?? Number.NaN };
}

export interface WriteRow {
  key: string;
  apiserver: number;
  owner: string;
  byClient: Record<Client, number>;
  outOfProcess: number;
}

export interface OperatorResult {
  tasks: number;
  maxPolecatsPerRig: number;
  layers: number;
  rigs: number;
  closedBeads: number;
  closedIssues: number;
  closedMergeRequests: number;
  convoySeconds: number;
  clusterSeconds: number;
  apiserverVerbs: string[];
  rows: WriteRow[];
  totals: {
    apiserver: number;
    bench: number;
    operator: number;
    agents: number;
    kubeletSim: number;
    outOfProcess: number;
  };
  operatorByResource: { sure: number; events: number; shared: number };
  outside: [string, number][];
  operatorOutside: number;
  operatorFailures: Counts;
  quiet: {
    ms: number;
    pokes: number;
    reconciles: number;
    actions: number;
    operatorWrites: number;
    operatorKeys: Counts;
    apiserverInScope: Counts;
  };
  latency: { all: Percentiles; roots: Percentiles; dependents: Percentiles; min: number };
  baseline: { idle: Percentiles; load: Percentiles };
  dispatch: {
    issues: number;
    polecatPods: number;
    maxPodsPerIssue: number;
    maxDispatchAttempts: number;
    mergeRequests: number;
    refineryPods: number;
    operatorDispatches: Record<string, number>;
    redispatched: string[];
  };
  eventLoop: { p99: number; max: number };
  /** Where the operator's time went during the convoy. */
  busy: {
    reconcileSeconds: number;
    reconciles: number;
    writeRoundTripMs: number;
    eventsDropped: Record<string, number>;
  };
  crewErrors: string[];
  /** Event objects the operator created (not series updates), by regarding kind and reason. */
  eventsByReason: [string, number][];
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const ms = (n: number) => `${n.toFixed(0)} ms`;

export function printOperator(r: OperatorResult): void {
  const per = (n: number) => `${f2(n / r.closedBeads).padStart(6)} ${f2(n / r.tasks).padStart(7)}`;
  console.log(
    `operator: one convoy of ${r.tasks} tasks (seeded layered DAG, ${r.layers} layers, ${r.rigs} rigs, ReviewAndMerge) on a local control plane; ` +
      `Landed in ${f1(r.convoySeconds)} s with ${r.closedBeads} beads Closed (${r.closedIssues} issues + ${r.closedMergeRequests} merge requests)`,
  );
  console.log(
    `  maxPolecatsPerRig=${r.maxPolecatsPerRig} (each rig has ${Math.ceil(r.tasks / r.rigs)} tasks): dispatch never waits for a polecat slot; one refinery per rig reviews in series`,
  );
  console.log(
    "API writes: apiserver_request_total, verbs POST/PUT/PATCH/DELETE/APPLY (all codes), gastown.dev + pods, serviceaccounts, roles, rolebindings, leases, events; before convoy -> after Landed",
  );
  console.log("                                   requests  /closed bead  /task");
  const line = (label: string, n: number, note = "") =>
    console.log(`  ${label.padEnd(32)} ${String(n).padStart(7)} ${per(n)}${note}`);
  const t = r.totals;
  line("total (apiserver)", t.apiserver - t.bench, `   (excluding the bench's own ${t.bench}: the Convoy)`);
  const failures = sum(r.operatorFailures);
  line(
    "operator",
    t.operator,
    `   (exact, counted in-process; ${failures} answered >=400, e.g. AlreadyExists on idempotent creates)`,
  );
  line("agents (own SA tokens)", t.agents, "   (reports, Lease renewals)");
  line("kubelet stand-in (crew)", t.kubeletSim, "   (pods/status exit, TokenRequest)");
  line("kwok/scheduler/kcm/apiserver", t.outOfProcess, "   (apiserver total minus every in-process client)");
  const o = r.operatorByResource;
  line(
    "operator, by resource rules",
    o.sure + o.events + o.shared,
    `   (${o.sure} in operator-only rows + ${o.events} Events = events POST minus pods/binding${o.shared ? ` + ${o.shared} pods DELETE shared with kwok/GC` : ""})`,
  );
  const failed = [...r.operatorFailures].map(([k, v]) => `${k} ${v}`).join(", ");
  if (failed) console.log(`  operator writes answered >=400: ${failed}`);
  console.log(
    `  outside the resources above: operator ${r.operatorOutside}; all clients ${sum(new Map(r.outside))} (${r.outside
      .slice(0, 4)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")})`,
  );
  console.log(
    "  per key: apiserver = operator + agents + kubelet stand-in + bench + out-of-process; owner = attribution by resource alone",
  );
  for (const row of r.rows) {
    const c = row.byClient;
    console.log(
      `    ${row.key.padEnd(42)} ${String(row.apiserver).padStart(5)} = op ${String(c.operator).padStart(4)} ag ${String(c.agents).padStart(4)} kl ${String(c["kubelet-sim"]).padStart(3)} bench ${String(c.bench).padStart(3)} out ${String(row.outOfProcess).padStart(4)}  ${row.owner}`,
    );
  }
  console.log(`  verbs in apiserver_request_total: ${r.apiserverVerbs.join(" ")}`);
  const q = r.quiet;
  const others = [...q.apiserverInScope].map(([k, v]) => `${k} ${v}`).join(", ") || "none";
  console.log(
    `no-change period: ${q.ms / 1000} s after Landed, ${q.pokes} annotation-only edits -> ${q.reconciles} reconciles, ${q.actions} actions planned; ` +
      `operator writes ${q.operatorWrites}${q.operatorWrites ? ` (${[...q.operatorKeys].map(([k, v]) => `${k} ${v}`).join(", ")})` : ""}; ` +
      `other in-scope apiserver writes: ${others}`,
  );
  const l = r.latency;
  const b = r.baseline;
  console.log(
    `unblocked -> first polecat pod ADDED (receive times of this process's watches; unblocked = last dependency Closed, or bead created if none):`,
  );
  console.log(
    `  ${l.all.n} beads: p50 ${ms(l.all.p50)}  p99 ${ms(l.all.p99)}  max ${ms(l.all.max)}  min ${ms(l.min)}   ` +
      `(no deps ${l.roots.n}: p50 ${ms(l.roots.p50)} p99 ${ms(l.roots.p99)}; with deps ${l.dependents.n}: p50 ${ms(l.dependents.p50)} p99 ${ms(l.dependents.p99)})`,
  );
  console.log(
    `  baseline, ConfigMap create -> its watch event: idle p50 ${ms(b.idle.p50)} p99 ${ms(b.idle.p99)} (n=${b.idle.n}); ` +
      `during the convoy p50 ${ms(b.load.p50)} p99 ${ms(b.load.p99)} (n=${b.load.n})`,
  );
  console.log(
    `  ratio to the during-convoy baseline: p50 ${f1(l.all.p50 / b.load.p50)}x  p99 ${f1(l.all.p99 / b.load.p99)}x; ` +
      `event-loop delay of this process (operator + crew + watches) during the convoy: p99 ${ms(r.eventLoop.p99)}, max ${ms(r.eventLoop.max)}`,
  );
  const u = r.busy;
  console.log(
    `  where the time goes: ${u.reconciles} town reconciles took ${f1(u.reconcileSeconds)} s of the convoy's ${f1(r.convoySeconds)} s ` +
      `(${((100 * u.reconcileSeconds) / r.convoySeconds).toFixed(0)}% busy, one town = one serial queue key); ` +
      `operator write round trip mean ${f1(u.writeRoundTripMs)} ms; Events dropped by the recorder: ${Object.entries(
        u.eventsDropped,
      )
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}`,
  );
  const d = r.dispatch;
  console.log(
    `dispatches: ${d.polecatPods} polecat pods for ${d.issues} issues (${f2(d.polecatPods / d.issues)} per bead, max ${d.maxPodsPerIssue}, max status.dispatchAttempts ${d.maxDispatchAttempts}); ` +
      `${d.refineryPods} refinery pods for ${d.mergeRequests} merge requests; gastown_dispatches_total polecat ${d.operatorDispatches.polecat} refinery ${d.operatorDispatches.refinery}`,
  );
  if (d.redispatched.length > 0) console.log(`  RE-DISPATCHED: ${d.redispatched.join("; ")}`);
  const events = r.eventsByReason.reduce((n, [, v]) => n + v, 0);
  console.log(
    `Events the operator created: ${events} (${f2(events / r.closedBeads)} per closed bead): ${r.eventsByReason
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}`,
  );
  if (r.crewErrors.length > 0)
    console.log(`  crew errors (${r.crewErrors.length}): ${r.crewErrors.slice(0, 5).join("; ")}`);
}
