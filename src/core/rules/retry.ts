// Declarative retry (docs/rules.md, "Retry"): a person raises spec.retry on a Bead or a Convoy (by
// hand, from a GitOps repository, or with `kubectl gt retry`). A Failed or held bead comes back
// Open with every budget reset; what it went through is kept in status.history. The controller
// records the value it acted on in status.retry, so one raise is one retry.
import type { RetryRecord } from "../../api/bead.ts";
import { MAX_RETRY_HISTORY } from "../../api/bead.ts";
import type { Draft } from "../draft.ts";
import type { BeadView } from "../snapshot.ts";
import { formatTime } from "../time.ts";
import { why } from "./work.ts";

/** Resets a Failed or held bead to Open with fresh budgets. */
export function retryBead(d: Draft, bead: BeadView, retry: number, message: string): void {
  const s = bead.state;
  const record: RetryRecord = {
    retry,
    time: formatTime(d.now),
    phase: s.phase,
    ...(s.resolution ? { resolution: s.resolution } : {}),
    ...(s.reason || s.hold ? { reason: (s.hold?.message ?? s.reason ?? "").slice(0, 1024) } : {}),
    dispatchAttempts: s.attempts,
    reviewCycles: s.reviewCycles,
  };
  d.updateBead(
    bead.name,
    {
      phase: "Open",
      phaseSince: d.now,
      assignee: undefined,
      attempts: 0,
      interruptedDispatches: 0,
      priorAttempts: s.priorAttempts + s.attempts,
      reviewCycles: 0,
      handoffs: 0,
      handoffPending: false,
      forceStops: 0,
      forceStoppedAgent: undefined,
      hold: undefined,
      resolution: undefined,
      reason: "Retried",
      retry,
      history: [...s.history, record].slice(-MAX_RETRY_HISTORY),
    },
    why("Retried", message),
  );
  d.resolved.add(bead.name);
}

function retryable(bead: BeadView): string | undefined {
  if (bead.spec.type === "MergeRequest" && bead.spec.source?.kind === "Bead") {
    return `retry the issue ${bead.spec.source.name} instead: a merge request is redone with its issue`;
  }
  if (bead.spec.cancel) return "it is cancelled: set spec.cancel to false first, then raise spec.retry";
  if (bead.state.phase === "Failed" || bead.state.hold) return undefined;
  return `it is ${bead.state.phase}, not Failed or held: nothing to retry`;
}

export function applyRetries(d: Draft): void {
  for (const snapBead of d.snap.retryRequests) {
    const bead = d.current(snapBead);
    const wanted = bead.spec.retry ?? 0;
    if (wanted <= bead.state.retry) continue;
    const refused = retryable(bead);
    if (refused) {
      d.updateBead(bead.name, { retry: wanted }, why("RetryIgnored", `spec.retry=${wanted} ignored: ${refused}`, true));
      continue;
    }
    retryBead(d, bead, wanted, `retry ${wanted} requested (spec.retry): ${bead.name} is Open again with fresh budgets`);
  }
  for (const name of d.snap.convoys.keys()) retryConvoy(d, name);
}

/**
 * A convoy's retry: its Failed tasks (not cancelled by their own spec) are retried, and its
 * landing attempts so far stop counting against the cap.
 */
function retryConvoy(d: Draft, name: string): void {
  const convoy = d.convoy(name);
  if (!convoy || convoy.deleting) return;
  const wanted = convoy.spec.retry ?? 0;
  if (wanted <= convoy.state.retry) return;
  if (convoy.spec.cancel) {
    d.updateConvoy(
      name,
      { retry: wanted },
      why(
        "RetryIgnored",
        `spec.retry=${wanted} ignored: the convoy is cancelled; set spec.cancel to false first`,
        true,
      ),
    );
    return;
  }
  const retried: string[] = [];
  for (const member of d.snap.membersByConvoy.get(name) ?? []) {
    const bead = d.bead(member.name) as BeadView;
    if (bead.spec.type !== "Issue" || bead.spec.reworkOf || bead.spec.cancel) continue;
    if (bead.state.phase !== "Failed" && !bead.state.hold) continue;
    retryBead(d, bead, bead.state.retry, `retried with convoy ${name} (convoy spec.retry=${wanted})`);
    retried.push(bead.name);
  }
  const landing = convoy.state.landing;
  d.updateConvoy(
    name,
    {
      retry: wanted,
      ...(convoy.state.phase === "Failed" ? { phase: "Active" as const } : {}),
      ...(landing ? { landing: { ...landing, attemptsBefore: landing.attempts, bead: undefined } } : {}),
    },
    why(
      "Retried",
      `retry ${wanted} requested (spec.retry)${retried.length > 0 ? `: retried ${retried.join(", ")}` : ""}; landing attempts reset`,
    ),
  );
  d.resolved.add(name);
}
